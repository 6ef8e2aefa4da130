"""dprobe's custom ops: loader of the C++ op library, Python references, fake kernels, export.

The C++ library ``lib_C.so`` (built by CMake from ``csrc/``, installed into the ``dprobe`` package
directory) registers the ops under the ``torch.ops.dprobe`` namespace:

``composite_crop(fg, mask, background, src_theta, dst_theta, out_size) -> crop``
    Paste a decoded crop ``fg (B,C,h,w)`` with its ``mask (B,1,h,w)`` into the frame over
    ``background (B|1,C,H,W)`` where ``src_theta (B,2,3)`` puts it, and crop ``dst_theta (B,2,3)``
    out of the composite at ``out_size``. Thetas follow ``F.affine_grid`` (crop-normalised ->
    frame-normalised, align_corners=False); sampling is bilinear with zeros outside. The C++ kernel
    is ``csrc/cpu/composite_crop_kernel.cpp``.

This module

* loads the library at import (``ImportError`` with the reason if it is missing, or was built
  against another torch; set ``DPROBE_NO_OPS_LIBRARY=1`` to import without it and use the Python
  references instead, or ``DPROBE_OPS_LIBRARY=/path/lib_C.so`` to load a specific build),
* holds the pure-PyTorch reference of every op (the specification, and the path used on devices
  the C++ library does not cover),
* registers the fake (meta) kernels so ``torch.compile`` / ``torch.export`` trace the ops,
* holds an export-friendly decomposition of every op into standard ops (hand-built sampling grids
  + ``grid_sample``, no ``affine_grid``) that the ONNX exporters use: see
  :func:`composite_crop_decomposed`, :func:`decomposition_table`, :func:`export_onnx`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch._prims_common import suggest_memory_format  # Tensor.suggest_memory_format() in Python

from dprobe.geometry import affine_inverse, singular_thetas

__all__ = [
    "OpsLibraryError",
    "composite_crop",
    "composite_crop_decomposed",
    "composite_crop_reference",
    "decomposition_table",
    "export_composite_crop_onnx",
    "export_onnx",
    "library_loaded",
    "library_path",
    "use_decompositions",
]

_LIB_NAMES = ("lib_C.so", "lib_C.dylib", "_C.dll")
_VERSION_FILE = "_C.torch_version"


class OpsLibraryError(ImportError):
    """The C++ op library is missing, unloadable or built against another torch."""


# ---------------------------------------------------------------------------------------------
# Loading the C++ library
# ---------------------------------------------------------------------------------------------
def _candidate_dirs() -> list[str]:
    import dprobe

    dirs = [os.path.abspath(p) for p in getattr(dprobe, "__path__", [])]
    # scikit-build-core editable installs put compiled files in site-packages/dprobe while
    # dprobe.__path__ may list only the source tree; ask the import system for the package too.
    try:
        import importlib.util

        spec = importlib.util.find_spec("dprobe")
        for p in (spec.submodule_search_locations or []) if spec else []:
            ap = os.path.abspath(p)
            if ap not in dirs:
                dirs.append(ap)
    except (ImportError, ValueError):
        pass
    return dirs


def _find_library() -> str | None:
    override = os.environ.get("DPROBE_OPS_LIBRARY")
    if override:
        return override
    for d in _candidate_dirs():
        for name in _LIB_NAMES:
            path = os.path.join(d, name)
            if os.path.isfile(path):
                return path
    return None


def _rebuild_hint() -> str:
    return (
        "rebuild and reinstall dprobe against the installed torch: "
        "`pip install --no-build-isolation -e '.[dev]'` (or `make install`)"
    )


_library_path: str | None = None


def _load_library() -> str:
    path = _find_library()
    if path is None:
        raise OpsLibraryError(
            "dprobe: the C++ op library (lib_C.so) was not found in any directory of the dprobe "
            f"package ({', '.join(_candidate_dirs())}); {_rebuild_hint()}. "
            "Set DPROBE_NO_OPS_LIBRARY=1 to run with the Python references only."
        )
    vfile = os.path.join(os.path.dirname(path), _VERSION_FILE)
    if os.path.isfile(vfile):
        with open(vfile, encoding="utf-8") as fh:
            built = fh.read().strip()
        if built != torch.__version__:
            raise OpsLibraryError(
                f"dprobe: the C++ op library {path} was built against torch {built}, but torch "
                f"{torch.__version__} is installed; {_rebuild_hint()}"
            )
    try:
        torch.ops.load_library(path)
    except OSError as exc:
        raise OpsLibraryError(
            f"dprobe: the C++ op library {path} could not be loaded ({exc}); it was probably "
            f"built against another torch than {torch.__version__}; {_rebuild_hint()}"
        ) from exc
    built = torch.ops.dprobe._torch_version()
    if built != torch.__version__:
        raise OpsLibraryError(
            f"dprobe: the C++ op library {path} was built against torch {built}, but torch "
            f"{torch.__version__} is installed; {_rebuild_hint()}"
        )
    return path


if os.environ.get("DPROBE_NO_OPS_LIBRARY", "") not in ("", "0"):
    _library_path = None
else:
    _library_path = _load_library()


def library_path() -> str | None:
    """Path of the loaded C++ op library (None when running on the Python references only)."""
    return _library_path


def library_loaded() -> bool:
    return _library_path is not None


# ---------------------------------------------------------------------------------------------
# Argument checks (the C++ kernels check again, with the same messages)
# ---------------------------------------------------------------------------------------------
def _out_hw(out_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(out_size, bool):
        raise TypeError("composite_crop: out_size must be an int or (h, w), got a bool")
    if isinstance(out_size, int):
        hw = (out_size, out_size)
    elif isinstance(out_size, torch.Size | tuple | list) and len(out_size) == 2:
        hw = (out_size[0], out_size[1])
    else:
        raise ValueError(f"composite_crop: out_size must be an int or (h, w), got {out_size!r}")
    for v in hw:
        if isinstance(v, bool) or not isinstance(v, int | torch.SymInt):
            raise TypeError(f"composite_crop: out_size must hold ints, got {out_size!r}")
    if not (hw[0] > 0 and hw[1] > 0):
        raise ValueError(f"composite_crop: out_size must be positive, got {out_size!r}")
    return hw


def _check_composite_crop(fg, mask, background, src_theta, dst_theta, check_values=True) -> None:
    tensors = {
        "fg": fg,
        "mask": mask,
        "background": background,
        "src_theta": src_theta,
        "dst_theta": dst_theta,
    }
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"composite_crop: {name} must be a tensor, got {type(t).__name__}")
    if fg.dim() != 4:
        raise ValueError(f"composite_crop: fg must have shape (B, C, h, w), got {tuple(fg.shape)}")
    if mask.dim() != 4:
        raise ValueError(
            f"composite_crop: mask must have shape (B, 1, h, w), got {tuple(mask.shape)}"
        )
    if background.dim() != 4:
        raise ValueError(
            "composite_crop: background must have shape (B or 1, C, H, W), got "
            f"{tuple(background.shape)}"
        )
    _check_channels_first(fg, mask, background)
    B = fg.shape[0]
    if mask.shape[0] != B:
        raise ValueError(f"composite_crop: mask has batch {mask.shape[0]} but fg has batch {B}")
    if mask.shape[1] != 1:
        raise ValueError(f"composite_crop: mask must have 1 channel, got {mask.shape[1]}")
    if mask.shape[2:] != fg.shape[2:]:
        raise ValueError(
            f"composite_crop: mask spatial size {tuple(mask.shape[2:])} differs from fg spatial "
            f"size {tuple(fg.shape[2:])}"
        )
    if background.shape[0] != B and background.shape[0] != 1:
        raise ValueError(
            f"composite_crop: background batch must be 1 or the fg batch {B}, got "
            f"{background.shape[0]}"
        )
    if background.shape[1] != fg.shape[1]:
        raise ValueError(
            f"composite_crop: background has {background.shape[1]} channels but fg has "
            f"{fg.shape[1]}"
        )
    if fg.shape[2] == 0 or fg.shape[3] == 0:
        raise ValueError(f"composite_crop: fg must not be empty in space, got {tuple(fg.shape)}")
    if background.shape[2] == 0 or background.shape[3] == 0:
        raise ValueError(
            f"composite_crop: background must not be empty in space, got {tuple(background.shape)}"
        )
    for name in ("src_theta", "dst_theta"):
        t = tensors[name]
        if t.dim() != 3 or t.shape[1] != 2 or t.shape[2] != 3:
            raise ValueError(
                f"composite_crop: {name} must have shape (B, 2, 3), got {tuple(t.shape)}"
            )
        if t.shape[0] != B:
            raise ValueError(f"composite_crop: {name} has batch {t.shape[0]} but fg has batch {B}")
    if fg.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"composite_crop: fg must be float32 or float64, got {fg.dtype}")
    for name, t in tensors.items():
        if t.dtype != fg.dtype:
            raise TypeError(
                f"composite_crop: {name} has dtype {t.dtype} but fg has dtype {fg.dtype} "
                "(all inputs must share one floating dtype)"
            )
        if t.device != fg.device:
            raise ValueError(f"composite_crop: {name} is on {t.device} but fg is on {fg.device}")
    if check_values and B > 0 and fg.device.type != "meta":
        _check_theta_values(src_theta, dst_theta)


def _check_channels_first(fg: torch.Tensor, mask: torch.Tensor, background: torch.Tensor) -> None:
    """Name a channels-last image as the likely cause before the sizes are compared."""
    if fg.shape[1:3] == mask.shape[2:] and fg.shape[2:] != mask.shape[2:]:
        raise ValueError(f"composite_crop: fg has shape {tuple(fg.shape)}, which looks "
                         f"channels-last (mask is {tuple(mask.shape)}); expected (B, C, h, w): "
                         "use fg.permute(0, 3, 1, 2)")
    if mask.shape[-1] == 1 and mask.shape[1:3] == fg.shape[2:] and mask.shape[1] != 1:
        raise ValueError(f"composite_crop: mask has shape {tuple(mask.shape)}, which looks "
                         "channels-last; expected (B, 1, h, w): use mask.permute(0, 3, 1, 2)")
    if background.shape[-1] == fg.shape[1] and background.shape[1] != fg.shape[1]:
        raise ValueError(f"composite_crop: background has shape {tuple(background.shape)}, which "
                         f"looks channels-last (fg has {fg.shape[1]} channels); expected "
                         "(B or 1, C, H, W): use background.permute(0, 3, 1, 2)")


def _check_theta_values(src_theta: torch.Tensor, dst_theta: torch.Tensor) -> None:
    with torch.no_grad():
        if not bool(torch.isfinite(src_theta).all()):
            raise ValueError("composite_crop: src_theta contains NaN or Inf")
        if not bool(torch.isfinite(dst_theta).all()):
            raise ValueError("composite_crop: dst_theta contains NaN or Inf")
        bad = singular_thetas(src_theta)
        if bool(bad.any()):
            b = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"composite_crop: src_theta[{b}] is not invertible (its 2x2 linear part has "
                f"determinant {float(_det(src_theta[b])):g})"
            )


def _det(theta: torch.Tensor) -> torch.Tensor:
    """Determinant of the 2x2 linear part of one ``theta (2, 3)``."""
    return theta[0, 0] * theta[1, 1] - theta[0, 1] * theta[1, 0]


def _tracing() -> bool:
    return torch.compiler.is_compiling() or torch.jit.is_tracing()


# ---------------------------------------------------------------------------------------------
# composite_crop: the op, its reference and its decomposition
# ---------------------------------------------------------------------------------------------
_force_decomposition = False


def composite_crop(
    fg: torch.Tensor,
    mask: torch.Tensor,
    background: torch.Tensor,
    src_theta: torch.Tensor,
    dst_theta: torch.Tensor,
    out_size: int | Sequence[int],
) -> torch.Tensor:
    """Fused paste-composite-crop (C++); equals :func:`composite_crop_reference`.

    Runs the C++ op ``torch.ops.dprobe.composite_crop`` on CPU (and under fake/meta tensors for
    tracing). While exporting to ONNX (or inside :func:`use_decompositions`) it runs the
    export-friendly decomposition, and on devices the C++ library does not cover, the reference.
    TorchScript code should call ``torch.ops.dprobe.composite_crop(..., [oh, ow])`` directly.
    The C++ op returns the crop (and, backward, the fg and mask gradients) in the memory format
    ``fg`` (``mask``) suggests: channels-last for a channels-last decoder output or a channel
    slice of one, read without copies where no theta rotates or shears.
    """
    oh, ow = _out_hw(out_size)
    _check_composite_crop(fg, mask, background, src_theta, dst_theta, check_values=not _tracing())
    if _force_decomposition or torch.onnx.is_in_onnx_export():
        return composite_crop_decomposed(fg, mask, background, src_theta, dst_theta, (oh, ow))
    if _library_path is None or fg.device.type not in ("cpu", "meta"):
        return composite_crop_reference(fg, mask, background, src_theta, dst_theta, (oh, ow))
    return torch.ops.dprobe.composite_crop(fg, mask, background, src_theta, dst_theta, [oh, ow])


def composite_crop_reference(
    fg: torch.Tensor,
    mask: torch.Tensor,
    background: torch.Tensor,
    src_theta: torch.Tensor,
    dst_theta: torch.Tensor,
    out_size: int | Sequence[int],
) -> torch.Tensor:
    """The specification of composite_crop in plain PyTorch (affine_grid + grid_sample).

    Paste fg and mask into the frame with the inverse of src_theta (bilinear, zeros outside the
    crop), composite ``M*F + (1-M)*background``, then sample the crop dst_theta at out_size
    (bilinear, zeros outside the frame); align_corners=False throughout.
    """
    oh, ow = _out_hw(out_size)
    _check_composite_crop(fg, mask, background, src_theta, dst_theta, check_values=not _tracing())
    B, C = fg.shape[0], fg.shape[1]
    H, W = background.shape[2], background.shape[3]
    if B == 0:  # affine_grid rejects an empty batch
        return fg.new_zeros((0, C, oh, ow))
    kw = {"mode": "bilinear", "padding_mode": "zeros", "align_corners": False}
    paste = F.affine_grid(affine_inverse(src_theta), [B, C, H, W], align_corners=False)
    pasted_fg = F.grid_sample(fg, paste, **kw)
    pasted_mask = F.grid_sample(mask, paste, **kw)
    frame = pasted_mask * pasted_fg + (1 - pasted_mask) * background
    crop = F.affine_grid(dst_theta, [B, C, oh, ow], align_corners=False)
    return F.grid_sample(frame, crop, **kw)


def _sampling_grid(theta: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Sampling grid (B, h, w, 2) of theta built by hand: base grid (h*w, 3) @ theta^T.

    Equivalent to ``F.affine_grid(theta, [B, *, h, w], align_corners=False)`` but lowers to
    Range/MatMul in ONNX (opset 17) instead of the exporters' affine_grid lowering.
    """
    xs = (torch.arange(w, dtype=theta.dtype, device=theta.device) * 2 + 1) / w - 1
    ys = (torch.arange(h, dtype=theta.dtype, device=theta.device) * 2 + 1) / h - 1
    gx = xs.reshape(1, w).expand(h, w)
    gy = ys.reshape(h, 1).expand(h, w)
    base = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).reshape(h * w, 3)
    grid = torch.matmul(base, theta.transpose(1, 2))  # (B, h*w, 2)
    return grid.reshape(-1, h, w, 2)


def composite_crop_decomposed(
    fg: torch.Tensor,
    mask: torch.Tensor,
    background: torch.Tensor,
    src_theta: torch.Tensor,
    dst_theta: torch.Tensor,
    out_size: int | Sequence[int],
) -> torch.Tensor:
    """composite_crop in standard ops for export: hand-built grids (base @ theta^T) + grid_sample.

    Frame-sized like the reference (that is what an exported graph can express); used by the ONNX
    export path. Equals the reference to float rounding.
    """
    oh, ow = _out_hw(out_size)
    H, W = int(background.shape[2]), int(background.shape[3])
    kw = {"mode": "bilinear", "padding_mode": "zeros", "align_corners": False}
    paste = _sampling_grid(affine_inverse(src_theta), H, W)
    pasted_fg = F.grid_sample(fg, paste, **kw)
    pasted_mask = F.grid_sample(mask, paste, **kw)
    frame = pasted_mask * pasted_fg + (1 - pasted_mask) * background
    return F.grid_sample(frame, _sampling_grid(dst_theta, oh, ow), **kw)


def _composite_crop_decomposition(fg, mask, background, src_theta, dst_theta, out_size):
    return composite_crop_decomposed(fg, mask, background, src_theta, dst_theta, tuple(out_size))


def decomposition_table() -> dict:
    """{op overload: decomposition} for ``ExportedProgram.run_decompositions`` (the torch.export /
    dynamo ONNX path): replaces every dprobe op by standard aten ops."""
    if _library_path is None:
        return {}
    return {torch.ops.dprobe.composite_crop.default: _composite_crop_decomposition}


@contextlib.contextmanager
def use_decompositions() -> Iterator[None]:
    """Within this block dprobe.ops functions run their export-friendly decompositions."""
    global _force_decomposition
    previous, _force_decomposition = _force_decomposition, True
    try:
        yield
    finally:
        _force_decomposition = previous


def export_onnx(
    module: torch.nn.Module,
    args: tuple,
    path: str | os.PathLike,
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: dict | None = None,
    opset_version: int = 17,
) -> str:
    """Export a module that calls dprobe ops to one self-contained ONNX file (opset 17).

    Approach: the module is traced by torch's TorchScript-based ONNX exporter; while it runs,
    :func:`composite_crop` (and every other dprobe op wrapper) switches to its decomposition into
    standard ops (hand-built grids as base grid @ theta^T, MatMul, GridSample), so the graph holds
    no custom op and needs no custom-op library at run time. Opset 17 is the default on purpose:
    from opset 20 some runtimes change GridSample's interpolation (see examples/embedding/README.md).
    """
    import warnings

    path = os.fspath(path)
    with use_decompositions(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript-based exporter
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks under tracing
        torch.onnx.export(
            module,
            args,
            path,
            dynamo=False,
            external_data=False,
            opset_version=opset_version,
            input_names=list(input_names) if input_names else None,
            output_names=list(output_names) if output_names else None,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
    return path


class _CompositeCropModule(torch.nn.Module):
    def __init__(self, out_size):
        super().__init__()
        self.out_size = _out_hw(out_size)

    def forward(self, fg, mask, background, src_theta, dst_theta):
        return composite_crop(fg, mask, background, src_theta, dst_theta, self.out_size)


def export_composite_crop_onnx(
    path: str | os.PathLike,
    example_inputs: tuple,
    out_size: int | Sequence[int],
    dynamic_batch: bool = True,
) -> str:
    """Export composite_crop alone, inputs ``fg, mask, background, src_theta, dst_theta``."""
    names = ["fg", "mask", "background", "src_theta", "dst_theta"]
    axes = None
    if dynamic_batch:
        axes = {n: {0: "batch"} for n in ("fg", "mask", "src_theta", "dst_theta", "crop")}
    return export_onnx(
        _CompositeCropModule(out_size),
        tuple(example_inputs),
        path,
        input_names=names,
        output_names=["crop"],
        dynamic_axes=axes,
    )


# ---------------------------------------------------------------------------------------------
# Fake (meta) kernels, so torch.compile / torch.export trace the C++ ops
# ---------------------------------------------------------------------------------------------
if _library_path is not None:

    @torch.library.register_fake("dprobe::composite_crop")
    def _composite_crop_fake(fg, mask, background, src_theta, dst_theta, out_size):
        _check_composite_crop(fg, mask, background, src_theta, dst_theta, check_values=False)
        torch._check(len(out_size) == 2, lambda: "composite_crop: out_size must be (h, w)")
        torch._check(
            out_size[0] > 0 and out_size[1] > 0,
            lambda: f"composite_crop: out_size must be positive, got {out_size}",
        )
        return torch.empty((fg.shape[0], fg.shape[1], out_size[0], out_size[1]), dtype=fg.dtype,
                           device=fg.device, memory_format=suggest_memory_format(fg))

    @torch.library.register_fake("dprobe::composite_crop_backward")
    def _composite_crop_backward_fake(
        grad_out, fg, mask, background, src_theta, dst_theta, output_mask
    ):
        _check_composite_crop(fg, mask, background, src_theta, dst_theta, check_values=False)
        inputs = (fg, mask, background, src_theta, dst_theta)
        laid_out_like_input = (True, True, False, False, False)  # the crop gradients
        return tuple(
            (torch.empty(t.shape, dtype=t.dtype, device=t.device,
                         memory_format=suggest_memory_format(t) if like else
                         torch.contiguous_format) if need else t.new_empty((0,)))
            for t, need, like in zip(inputs, output_mask, laid_out_like_input)
        )
