#!/usr/bin/env bash
# The GPU check in one command, on a machine with an NVIDIA GPU, from the repository root:
#
#   bash benchmarks/gpu_check.sh [MODEL] [OUT_DIR]      # default: nsd, a new temporary folder
#
# 1. the environment: .venv (`make install` if it is missing); a CUDA build of torch at the
#    version the project pins (pip, from the configured index); the gpu extra in place of the cpu
#    one (onnxruntime-gpu and TensorRT 10 or 11: the two onnxruntime distributions install the
#    same module, so `onnxruntime` is uninstalled first), dprobe rebuilt against that torch;
# 2. `python -m benchmarks.gpu_check --device cuda` (benchmarks/gpu_check.py): the export with
#    TensorRT fp32 and fp16 plans; every exported graph (predict, locate, encode, decode,
#    regress) on onnxruntime CUDA fp32 and TensorRT fp32 / fp16 against eager at the stated
#    tolerances; the engine benchmark on CUDA; the attack on CUDA beside the CPU's; the fused op
#    on CUDA (its grid_sample reference path) timed beside the C++ CPU kernel.
# Prints a one-screen verdict, writes OUT_DIR/gpu_check.json and exits non-zero on any mismatch
# (or a failed step). Budget: 8 minutes on one GPU with the packages downloaded once; the
# TensorRT builds (5 graphs x 2 precisions) take most of it.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-nsd}"
OUT="${2:-$(mktemp -d)}"
BIN=.venv/bin
SECONDS=0

echo "== environment"
test -x "$BIN/python" || make install
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
TORCH=$("$BIN/python" -c 'import torch; print(torch.__version__.split("+")[0])')
if ! "$BIN/python" -c 'import torch, sys; sys.exit(torch.version.cuda is None)'; then
  "$BIN/pip" uninstall --quiet --yes torch  # the CPU build; its CUDA libraries come as dependencies
  "$BIN/pip" install --quiet "torch==$TORCH"
fi
"$BIN/python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else
  f"torch {torch.__version__} sees no CUDA GPU (CUDA build: {torch.version.cuda or \"no\"}); "
  "install a CUDA build of torch at this version and run again")'
"$BIN/pip" uninstall --quiet --yes onnxruntime onnxruntime-gpu
"$BIN/pip" install --quiet --no-build-isolation -e '.[dev,gpu]'
echo "   installed in ${SECONDS} s"

echo "== checks"
"$BIN/python" -m benchmarks.gpu_check --model "$MODEL" --out "$OUT" --device cuda
echo "== done in ${SECONDS} s"
