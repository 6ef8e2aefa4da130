"""TensorRT plans built from the opset-17 ONNX graphs (TensorRT 10 and 11 Python API).

Explicit batch (the only mode since TensorRT 10), one optimisation profile over the dynamic batch
axis (``min 1, opt min(OPT_BATCH, max_batch), max max_batch``), inputs and outputs float32.
fp32 plans compute in float32 (TF32 off). fp16 plans compute in float16 through what each
TensorRT provides: on TensorRT 10 the float32 graph with ``BuilderFlag.FP16`` (TensorRT picks
float16 kernels where they are faster); TensorRT 11 has no such flag and builds strongly typed
networks only, so it gets the graph rewritten in float16 (``dprobe.export.fp16``) in a network
created ``STRONGLY_TYPED``. Needs TensorRT and a CUDA GPU (``dprobe.export.gpu``).
"""
from __future__ import annotations

from pathlib import Path

from dprobe.errors import DprobeError
from dprobe.export.gpu import require_tensorrt

__all__ = ["OPT_BATCH", "PRECISIONS", "build_plan", "check_batches", "profile_shapes"]

PRECISIONS = ("fp32", "fp16")
#: the batch TensorRT tunes its kernels for, or the largest batch when that is smaller
OPT_BATCH = 32


def profile_shapes(shape: tuple, opt_batch: int, max_batch: int) -> tuple[tuple, tuple, tuple]:
    """(min, opt, max) shapes of one input ``shape`` whose ``"batch"`` entries are dynamic."""
    if not 1 <= opt_batch <= max_batch:
        raise ValueError(f"need 1 <= opt_batch <= max_batch, got {opt_batch}, {max_batch}")

    def at(b: int) -> tuple:
        return tuple(b if d == "batch" else int(d) for d in shape)

    return at(1), at(opt_batch), at(max_batch)


def check_batches(max_batch: int, opt_batch: int | None = None) -> tuple[int, int]:
    """``(opt_batch, max_batch)`` of a plan: ``opt_batch`` defaults to ``min(OPT_BATCH,
    max_batch)``; DprobeError unless ``1 <= opt_batch <= max_batch``."""
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise DprobeError(f"the largest batch of a TensorRT plan must be a positive integer, "
                          f"got {max_batch!r}")
    opt = min(OPT_BATCH, max_batch) if opt_batch is None else opt_batch
    if not 1 <= opt <= max_batch:
        raise DprobeError(f"the TensorRT plan's tuned batch {opt} must be within 1..{max_batch}")
    return opt, max_batch


def _network_source(trt, onnx_path: Path, precision: str) -> tuple[int, bytes]:
    """The network creation flags and the ONNX bytes to parse for ``precision``."""
    if precision == "fp16" and not hasattr(trt.BuilderFlag, "FP16"):  # TensorRT 11
        import onnx

        from dprobe.export.fp16 import to_float16

        graph = to_float16(onnx.load(str(onnx_path))).SerializeToString()
        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED), graph
    return 0, onnx_path.read_bytes()


def build_plan(onnx_path: str | Path, plan_path: str | Path, inputs: dict[str, tuple], *,
               precision: str = "fp32", opt_batch: int | None = None, max_batch: int = 64,
               workspace_mib: int = 1024) -> Path:
    """Build and serialise the plan of one ONNX graph; ``inputs`` maps names to manifest shapes.

    The batch profile is ``1..max_batch``, tuned for ``opt_batch`` (default
    ``min(OPT_BATCH, max_batch)``).
    """
    if precision not in PRECISIONS:
        raise DprobeError(f"unknown TensorRT precision {precision!r}; use {', '.join(PRECISIONS)}")
    opt_batch, max_batch = check_batches(max_batch, opt_batch)
    trt = require_tensorrt("building TensorRT plans")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags, graph = _network_source(trt, Path(onnx_path), precision)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(graph):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise DprobeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    config.clear_flag(trt.BuilderFlag.TF32)  # on by default; float32 layers stay float32
    if precision == "fp16" and not flags:  # TensorRT 10: float16 kernels in a float32 graph
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for name, shape in inputs.items():
        profile.set_shape(name, *profile_shapes(shape, opt_batch, max_batch))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise DprobeError(f"TensorRT {trt.__version__} failed to build a {precision} plan from "
                          f"{onnx_path}")
    Path(plan_path).write_bytes(bytes(plan))
    return Path(plan_path)
