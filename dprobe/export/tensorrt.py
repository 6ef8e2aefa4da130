"""TensorRT plans built from the opset-17 ONNX graphs (TensorRT 10+ Python API).

Explicit batch (the only mode of TensorRT 10), one optimisation profile over the dynamic batch
axis (``min 1, opt opt_batch, max max_batch``), fp32 (TF32 off) or fp16 (``BuilderFlag.FP16``;
inputs and outputs stay float32). Needs TensorRT and a CUDA GPU (``dprobe.export.gpu``).
"""
from __future__ import annotations

from pathlib import Path

from dprobe.errors import DprobeError
from dprobe.export.gpu import require_tensorrt

__all__ = ["PRECISIONS", "build_plan", "profile_shapes"]

PRECISIONS = ("fp32", "fp16")


def profile_shapes(shape: tuple, opt_batch: int, max_batch: int) -> tuple[tuple, tuple, tuple]:
    """(min, opt, max) shapes of one input ``shape`` whose ``"batch"`` entries are dynamic."""
    if not 1 <= opt_batch <= max_batch:
        raise ValueError(f"need 1 <= opt_batch <= max_batch, got {opt_batch}, {max_batch}")

    def at(b: int) -> tuple:
        return tuple(b if d == "batch" else int(d) for d in shape)

    return at(1), at(opt_batch), at(max_batch)


def build_plan(onnx_path: str | Path, plan_path: str | Path, inputs: dict[str, tuple], *,
               precision: str = "fp32", opt_batch: int = 32, max_batch: int = 64,
               workspace_mib: int = 1024) -> Path:
    """Build and serialise the plan of one ONNX graph; ``inputs`` maps names to manifest shapes."""
    if precision not in PRECISIONS:
        raise DprobeError(f"unknown TensorRT precision {precision!r}; use {', '.join(PRECISIONS)}")
    trt = require_tensorrt("building TensorRT plans")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise DprobeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    else:  # TensorRT allows TF32 in fp32 plans by default; fp32 means fp32 here
        config.clear_flag(trt.BuilderFlag.TF32)
    profile = builder.create_optimization_profile()
    for name, shape in inputs.items():
        profile.set_shape(name, *profile_shapes(shape, opt_batch, max_batch))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise DprobeError(f"TensorRT failed to build a {precision} plan from {onnx_path}")
    Path(plan_path).write_bytes(bytes(plan))
    return Path(plan_path)
