#!/usr/bin/env bash
# Every GPU path of issue 11 in one command, on a machine with an NVIDIA GPU:
#
#   pip install --no-build-isolation -e '.[gpu]'     # tensorrt>=10, onnxruntime-gpu
#   bash benchmarks/gpu_check.sh [MODEL] [OUT_DIR]   # default: nsd, a temporary folder
#
# 1. what is there: torch CUDA device, TensorRT version, onnxruntime providers;
# 2. `dprobe export --formats torchscript,onnx,tensorrt` (TensorRT fp32 and fp16 plans built from
#    the opset-17 ONNX);
# 3. agreement with eager on studio frames (max joint difference, mm): onnxruntime on
#    CUDAExecutionProvider (and that provider really in use), TensorRT fp32 and fp16;
# 4. `python -m dprobe.bench --engine trt` (fp32 and fp16) and eager vs onnxruntime on CUDA,
#    tables on the terminal and JSON in OUT_DIR.
# Exits non-zero at the first failure.
set -euo pipefail
MODEL="${1:-nsd}"
OUT="${2:-$(mktemp -d)}"
mkdir -p "$OUT"
echo "== dprobe GPU check: model $MODEL, outputs in $OUT"

python - <<'PY'
import torch, onnxruntime as ort
assert torch.cuda.is_available(), "torch sees no CUDA GPU"
print("torch", torch.__version__, "CUDA", torch.version.cuda, "device", torch.cuda.get_device_name())
import tensorrt
print("TensorRT", tensorrt.__version__)
print("onnxruntime", ort.__version__, ort.get_available_providers())
assert "CUDAExecutionProvider" in ort.get_available_providers(), "onnxruntime-gpu is not installed"
PY

echo "== export (TorchScript, ONNX opset 17, TensorRT fp32 + fp16)"
dprobe export --model "$MODEL" --formats torchscript,onnx,tensorrt --out "$OUT/export" --force

echo "== agreement with eager"
python - "$OUT" <<'PY'
import sys
from pathlib import Path

import torch

from dprobe.bench import studio_frames
from dprobe.data.build import build_studio
from dprobe.engines import load

out = Path(sys.argv[1])
studio = out / "tiny.h5"
if not studio.exists():
    build_studio("tiny", studio, seed=0, progress=False)
frames = studio_frames(studio, 32)
export = out / "export"
ref = load(export, "eager").predict(frames)
limits = {("onnxruntime", "fp32"): 1.0, ("tensorrt", "fp32"): 0.1,
          ("tensorrt", "fp16"): 20.0}  # mm
failed = False
for (name, precision), limit in limits.items():
    kw = {"precision": precision} if name == "tensorrt" else {"device": "cuda"}
    engine = load(export, name, **kw)
    if name == "onnxruntime":
        assert engine.provider == "CUDAExecutionProvider"
        assert all(s.get_providers()[0] == "CUDAExecutionProvider" for s in engine.sessions.values())
    for batch in (1, 7, 32):
        diff = float((engine.predict(frames[:batch].cuda()).cpu() - ref[:batch]).abs().max())
        ok = diff <= limit
        failed |= not ok
        print(f"{name:12s} {precision} batch {batch:2d}: max joint difference {diff:.3e} mm "
              f"(limit {limit}) {'ok' if ok else 'FAILED'}")
sys.exit(1 if failed else 0)
PY

echo "== bench --engine trt (fp32, fp16)"
python -m dprobe.bench --engine trt --model "$MODEL" --export "$OUT/export" --batch 1,8,32 \
  --json "$OUT/bench_trt_fp32.json" --force
python -m dprobe.bench --engine trt --precision fp16 --model "$MODEL" --export "$OUT/export" \
  --batch 1,8,32 --json "$OUT/bench_trt_fp16.json" --force
echo "== bench eager (CPU) vs onnxruntime on CUDA"
python -m dprobe.bench --engine eager,onnxruntime --device cuda --model "$MODEL" \
  --export "$OUT/export" --batch 1,8,32 --json "$OUT/bench_cuda.json" --force
echo "== GPU check passed; JSON in $OUT"
