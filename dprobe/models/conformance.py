"""Does a model keep the model protocol? Its four methods run on a few studio frames and crops.

``check_model(model, studio)`` calls ``locate`` on full frames, ``encode`` on crops at the
model's own ``crop_size``, ``decode`` and ``regress`` on the codes it returned, and reports in
plain words, as ``Finding``s:

- errors (the probes cannot run): a member missing, a crop size dprobe cannot render, an output
  that is not a tensor, of the wrong shape (theta ``(B, 2, 3)``, codes ``(B, D)``, images
  ``(B, 3, c, c)`` and masks ``(B, 1, c, c)``, joints ``(B, 17, 3)``), NaN or infinite values,
  images or masks outside [0, 1];
- warnings (some figures will be undefined, or the units look wrong): codes of zero variance
  over different people and poses, a decoder whose output does not change with either code, a
  regressor whose output does not change with the pose code, a decoder that draws (almost) only
  the background (its mask far smaller than the person's), joints that are not root-relative
  or look like metres rather than mm, outputs that depend on the other samples of the batch
  (batch norm left in training mode), boxes far from the studio's.

``require_conforming`` raises the first error as a ``DprobeError`` (one line): the command line
runs it before any probe, so a model that breaks the protocol is named in one line, not a
traceback from inside a probe.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dprobe.data.studio import CROP_SIZES, Studio
from dprobe.errors import DprobeError
from dprobe.joints import N_JOINTS
from dprobe.models.inputs import PIXEL_TOLERANCE

__all__ = ["Finding", "check_model", "describe", "require_conforming"]

#: Joints whose mean distance from the root is below this (mm) look like metres, not mm.
METRES_SUSPECT_MM = 5.0
#: A root joint further than this from the origin (mm) is not root-relative.
ROOT_TOLERANCE_MM = 1.0
#: Outputs that move less than this between different inputs count as unchanged.
UNCHANGED = 1e-6
#: Relative difference above which a sample's output depends on the rest of its batch.
BATCH_TOLERANCE = 1e-3
#: A decoded mask covering less than this share of the studio's person draws no person.
MIN_DRAWN_SHARE = 0.25
#: The part of a dprobe checkpoint behind each method (a checkpoint may lack one: None).
PARTS = {"locate": "detector", "decode": "decoder", "regress": "regressor"}


@dataclass(frozen=True)
class Finding:
    """One result of the check: ``level`` "ok", "warning" or "error", the ``method`` it is
    about and a plain-words ``message``."""

    level: str
    method: str
    message: str

    def line(self) -> str:
        mark = {"ok": "ok     ", "warning": "warning", "error": "ERROR  "}[self.level]
        return f"{mark} {self.method:<9} {self.message}"


def _rows(studio: Studio, n: int) -> Tensor:
    """``n`` studio rows of different subjects, cameras and poses (evenly spaced)."""
    return torch.linspace(0, studio.n - 1, n).round().long().unique()


def _shape_error(out: object, what: str, expected: tuple) -> str | None:
    """Why ``out`` is not a finite float tensor of shape ``expected`` (None = it is); ``None``
    entries of ``expected`` match any size."""
    if not isinstance(out, Tensor):
        return f"{what} must be a tensor, got {type(out).__name__}"
    if not out.is_floating_point():
        return f"{what} must be floating point, got {out.dtype}"
    shape = tuple(out.shape)
    if len(shape) != len(expected) or any(e is not None and s != e
                                          for s, e in zip(shape, expected)):
        want = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        return f"{what} has shape {shape}, expected {want}"
    if not bool(torch.isfinite(out).all()):
        return f"{what} holds NaN or infinite values"
    return None


def _range_error(x: Tensor, what: str) -> str | None:
    lo, hi = float(x.min()), float(x.max())
    if lo < -PIXEL_TOLERANCE or hi > 1 + PIXEL_TOLERANCE:
        return f"{what} must be in [0, 1], got values from {lo:.3g} to {hi:.3g}"
    return None


def _spread(x: Tensor) -> float:
    """The largest difference between samples of ``x`` (0 = every sample the same)."""
    return float((x - x[:1]).abs().amax()) if len(x) > 1 else 0.0


def _decoded_error(decoded: object, B: int, size: int) -> str | None:
    """Why ``decode``'s output is not ``(rgb (B, 3, c, c), mask (B, 1, c, c))`` in [0, 1]."""
    if not isinstance(decoded, tuple) or len(decoded) != 2:
        return f"must return a tuple (rgb, mask), got {type(decoded).__name__}"
    for what, x, channels in (("rgb", decoded[0], 3), ("mask", decoded[1], 1)):
        problem = _shape_error(x, what, (B, channels, size, size)) or _range_error(x, what)
        if problem:
            return problem
    return None


def check_model(model: object, studio: Studio, n: int = 8) -> list[Finding]:
    """Run the protocol's methods on ``n`` studio frames and crops (module doc); errors stop
    the check at the first method that fails, since the next ones need its output."""
    found: list[Finding] = []

    def error(method: str, message: str) -> list[Finding]:
        found.append(Finding("error", method, message))
        return found

    def warn(method: str, message: str) -> None:
        found.append(Finding("warning", method, message))

    def ok(method: str, message: str) -> None:
        found.append(Finding("ok", method, message))

    def lacks(method: str) -> bool:
        """Whether a dprobe checkpoint lacks the part behind ``method`` (said, then skipped)."""
        part = PARTS.get(method)
        if part is None or getattr(model, part, True) is not None:
            return False
        warn(method, f"this checkpoint has no {part}: {method} is not checked, and what needs "
                     "it is skipped or refused")
        return True

    missing = [m for m in ("locate", "encode", "decode", "regress")
               if not callable(getattr(model, m, None))]
    if missing:
        return error("protocol", f"no method {', '.join(missing)}")
    size = getattr(model, "crop_size", None)
    if isinstance(size, bool) or not isinstance(size, int):
        return error("protocol", f"crop_size must be an int (px), got {size!r}")
    if size not in CROP_SIZES:
        return error("protocol", f"crop_size {size} px is outside what dprobe renders "
                                 f"({CROP_SIZES.start}-{CROP_SIZES.stop - 1})")
    rows = _rows(studio, n)
    B = len(rows)
    ok("protocol", f"crop_size {size} px; checked on {B} studio rows")

    def call(method: str, *args):
        try:
            with torch.no_grad():
                return getattr(model, method)(*args), None
        except Exception as e:  # the user's code: reported in one line
            return None, f"raised {type(e).__name__}: {e}"

    frames = studio.full_frame(rows) if studio.backgrounds is not None else None
    if frames is not None and not lacks("locate"):
        theta, failed = call("locate", frames)
        problem = failed or _shape_error(theta, "theta", (B, 2, 3))
        if problem:
            return error("locate", problem)
        truth = studio.theta(rows)
        scale_error = float(((theta[:, 0, 0] - truth[:, 0, 0]) / truth[:, 0, 0]).abs().median())
        if scale_error > 0.5:
            warn("locate", f"boxes differ from the studio's by {100 * scale_error:.0f}% in size "
                           "(median): is theta in dprobe's convention (docs/conventions.md)?")
        else:
            ok("locate", f"theta (B, 2, 3), box size within {100 * scale_error:.0f}% of the "
                         "studio's (median)")

    crops = studio.image(rows, size)
    codes, failed = call("encode", crops)
    if failed:
        return error("encode", failed)
    if not isinstance(codes, tuple) or len(codes) != 2:
        return error("encode", f"must return a tuple (h_a, h_p), got {type(codes).__name__}")
    for name, code in zip(("h_a", "h_p"), codes):
        problem = _shape_error(code, name, (B, None))
        if problem:
            return error("encode", problem + " (codes are flat: (B, D))")
    h_a, h_p = codes
    ok("encode", f"h_a ({B}, {h_a.shape[1]}), h_p ({B}, {h_p.shape[1]})")
    for name, code in zip(("h_a", "h_p"), codes):
        if _spread(code) < UNCHANGED:
            warn("encode", f"{name} is the same for every input (zero variance): figures "
                           "that compare codes are undefined")
    single, failed = call("encode", crops[:1])
    if not failed and isinstance(single, tuple) and len(single) == 2:
        drift = max(float((s[0] - c[0]).abs().max() / (c[0].abs().max() + 1e-12))
                    for s, c in zip(single, codes))
        if drift > BATCH_TOLERANCE:
            warn("encode", f"a sample's codes change by {100 * drift:.2g}% with the rest of its "
                           "batch: is the model in eval mode (batch norm)?")

    if not lacks("decode"):
        decoded, failed = call("decode", h_a, h_p)
        if failed:
            return error("decode", failed)
        problem = _decoded_error(decoded, B, size)
        if problem:
            return error("decode", problem)
        ok("decode", f"rgb ({B}, 3, {size}, {size}) and mask ({B}, 1, {size}, {size}) in [0, 1]")
        drawn, person = float(decoded[1].mean()), float(studio.mask(rows, size).mean())
        if drawn < MIN_DRAWN_SHARE * person:
            warn("decode", f"the decoded mask covers {100 * drawn:.1f}% of the crop where the "
                           f"person covers {100 * person:.1f}%: the decoder draws (almost) only "
                           "the background, so the attack through it has nothing to change")
        swapped_a, _ = call("decode", h_a.roll(1, 0), h_p)
        swapped_p, _ = call("decode", h_a, h_p.roll(1, 0))
        if swapped_a is not None and swapped_p is not None:
            moved_a = float((swapped_a[0] - decoded[0]).abs().max())
            moved_p = float((swapped_p[0] - decoded[0]).abs().max())
            if max(moved_a, moved_p) < UNCHANGED:
                warn("decode", "the reconstruction does not change with either code: the swap, "
                               "zero-appearance and channel figures are undefined")
    if lacks("regress"):
        return found
    joints, failed = call("regress", h_p)
    problem = failed or _shape_error(joints, "joints", (B, N_JOINTS, 3))
    if problem:
        return error("regress", problem + (f" ({N_JOINTS} joints in the order of "
                                           "docs/conventions.md, mm)" if not failed else ""))
    ok("regress", f"joints ({B}, {N_JOINTS}, 3)")
    root = float(joints[:, 0].abs().max())
    if root > ROOT_TOLERANCE_MM:
        warn("regress", f"the root joint (pelvis) is {root:.3g} mm from the origin: joints must "
                        "be root-relative")
    reach = float((joints - joints[:, :1]).norm(dim=-1).mean())
    if reach < METRES_SUSPECT_MM:
        warn("regress", f"joints are {reach:.3g} from the root on average: metres? dprobe "
                        "expects mm")
    if _spread(joints) < UNCHANGED:
        warn("regress", "the joints are the same for every pose code (a constant regressor): "
                        "pose errors and the attack are meaningless")
    else:
        truth = studio.pose(rows)
        error_mm = float((joints - joints[:, :1] - truth).norm(dim=-1).mean())
        ok("regress", f"MPJPE {error_mm:.0f} mm on these {B} crops")
    return found


def describe(findings: list[Finding]) -> str:
    """The findings as lines, one per finding."""
    return "\n".join(f.line() for f in findings)


def require_conforming(model: object, studio: Studio, name: str) -> None:
    """Raise the first error of ``check_model`` as a one-line ``DprobeError`` naming ``name``."""
    for finding in check_model(model, studio, n=4):
        if finding.level == "error":
            raise DprobeError(f"model {name}: {finding.method}: {finding.message} (run `dprobe "
                              f"check-model --model {name}` for the full check)")

