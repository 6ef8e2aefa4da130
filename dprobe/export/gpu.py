"""What the GPU paths need, checked up front with one line naming what is missing.

TensorRT plans and the CUDA onnxruntime provider need an NVIDIA GPU that torch can see and the
packages of the ``gpu`` extra (``pip install dprobe[gpu]``: ``tensorrt>=10``,
``onnxruntime-gpu``). Without them every GPU path raises ``DprobeError`` (the CLI: exit 2).
"""
from __future__ import annotations

from types import ModuleType

import torch

from dprobe.errors import DprobeError

__all__ = ["GPU_HINT", "require_cuda", "require_tensorrt"]

GPU_HINT = "pip install dprobe[gpu]"
MIN_TENSORRT = 10


def require_cuda(purpose: str) -> torch.device:
    """The CUDA device for ``purpose``, or ``DprobeError`` saying none is visible."""
    if not torch.cuda.is_available():
        raise DprobeError(f"{purpose} needs a CUDA GPU, and torch sees none "
                          f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
                          "run it on a machine with an NVIDIA GPU and a CUDA build of torch")
    return torch.device("cuda", torch.cuda.current_device())


def require_tensorrt(purpose: str) -> ModuleType:
    """The ``tensorrt`` module (10 or later) for ``purpose``, checked before any CUDA device."""
    try:
        import tensorrt
    except ImportError:
        raise DprobeError(f"{purpose} needs TensorRT {MIN_TENSORRT}+, which is not installed "
                          f"({GPU_HINT})") from None
    major = int(str(tensorrt.__version__).split(".")[0])
    if major < MIN_TENSORRT:
        raise DprobeError(f"{purpose} needs TensorRT {MIN_TENSORRT}+, found "
                          f"{tensorrt.__version__} ({GPU_HINT})")
    require_cuda(purpose)
    return tensorrt
