"""What the runtimes need, checked up front with one line naming what is missing.

onnxruntime comes in two distributions that install the same ``onnxruntime`` module, so dprobe
asks for exactly one through its extras: ``pip install dprobe[cpu]`` (``onnxruntime``) or
``pip install dprobe[gpu]`` (``onnxruntime-gpu``, with ``tensorrt`` 10 or 11 and the CUDA
provider). TensorRT plans and the CUDA provider also need an NVIDIA GPU that torch can see.
Without them every such path raises ``DprobeError`` (the CLI: exit 2); both onnxruntime
distributions installed together draw a warning (``check_onnxruntime_install``).
"""
from __future__ import annotations

import functools
import importlib.metadata
import warnings
from types import ModuleType

import torch

from dprobe.errors import DprobeError

__all__ = ["CPU_HINT", "GPU_HINT", "ONNXRUNTIME_DISTRIBUTIONS", "check_onnxruntime_install",
           "require_cuda", "require_onnxruntime", "require_tensorrt"]

GPU_HINT = "pip install dprobe[gpu]"
CPU_HINT = "pip install dprobe[cpu]"
#: the TensorRT major versions whose Python API dprobe uses (10: weakly typed fp16 through
#: ``BuilderFlag.FP16``; 11: strongly typed networks only, ``dprobe.export.fp16``)
TENSORRT_MAJORS = (10, 11)
#: the distributions that install the ``onnxruntime`` module (CPU only; CPU and CUDA)
ONNXRUNTIME_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu")


def require_cuda(purpose: str) -> torch.device:
    """The CUDA device for ``purpose``, or ``DprobeError`` saying none is visible."""
    if not torch.cuda.is_available():
        raise DprobeError(f"{purpose} needs a CUDA GPU, and torch sees none "
                          f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
                          "run it on a machine with an NVIDIA GPU and a CUDA build of torch")
    return torch.device("cuda", torch.cuda.current_device())


def require_tensorrt(purpose: str) -> ModuleType:
    """The ``tensorrt`` module (10 or 11) for ``purpose``, checked before any CUDA device."""
    try:
        import tensorrt
    except ImportError:
        raise DprobeError(f"{purpose} needs TensorRT {TENSORRT_MAJORS[0]}+, which is not "
                          f"installed ({GPU_HINT})") from None
    major = int(str(tensorrt.__version__).split(".")[0])
    if major not in TENSORRT_MAJORS:
        raise DprobeError(f"{purpose} needs TensorRT {' or '.join(map(str, TENSORRT_MAJORS))}, "
                          f"found {tensorrt.__version__} ({GPU_HINT})")
    require_cuda(purpose)
    return tensorrt


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.cache
def check_onnxruntime_install() -> None:
    """Warn (once a process) when both onnxruntime distributions are installed: the one
    installed last owns the shared module files, whatever the other's metadata says."""
    found = {d: v for d in ONNXRUNTIME_DISTRIBUTIONS if (v := _installed(d)) is not None}
    if len(found) > 1:
        listed = " and ".join(f"{d} {v}" for d, v in found.items())
        warnings.warn(f"{listed} are both installed and overwrite each other's onnxruntime "
                      "module; keep one: pip uninstall -y onnxruntime onnxruntime-gpu, then "
                      f"{CPU_HINT} or {GPU_HINT}", RuntimeWarning, stacklevel=2)


def require_onnxruntime(purpose: str) -> ModuleType:
    """The ``onnxruntime`` module for ``purpose`` (after ``check_onnxruntime_install``)."""
    check_onnxruntime_install()
    try:
        import onnxruntime
    except ImportError:
        raise DprobeError(f"{purpose} needs onnxruntime, which is not installed ({CPU_HINT}, "
                          f"or {GPU_HINT} on an NVIDIA GPU)") from None
    return onnxruntime
