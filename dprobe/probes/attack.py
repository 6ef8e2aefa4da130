"""The appearance-only attack (the paper's Algorithm 1), batched, with per-sample stopping.

Change only a person's appearance and see how far a target's pose prediction moves. A target
``T = (S, E, phi)`` is any ``PoseAppearanceModel``; a generator ``G``
(``dprobe.probes.attack_generators``) turns an appearance variable ``h`` into the person's
colours over a fixed silhouette ``M^0``. The algorithm, exactly (a port must follow it step by
step):

Setup, without gradients, for a batch of B full frames ``I (B, 3, H, W)`` with their camera
backgrounds ``Bg (B, 3, H, W)``:

1. ``theta_T`` = the target's crop of ``I``: ``S(I)`` (``boxes="detector"``) or the
   ground-truth box (``boxes="truth"``); ``q = phi(E(crop(I, theta_T, c_T)))`` (mm): the
   prediction on the original frame. ``theta_T`` is the target's crop throughout: the
   silhouette never changes, so the box is not searched again.
2. ``G.prepare``: the start ``h^0 (B, D)``, the mask ``M^0``, the generator's crop ``theta_G``
   (where its crop sits in the frame), its other fixed inputs and each sample's step scale
   ``s``. Adam moments ``m = v = 0``; every sample is active; ``k = 0``.

Then, for ``k = 0, 1, ..., K`` (``K = iterations``), on the active samples only:

3. ``rgb = G.render(h)``; ``x_k = composite_crop(rgb, M^0, Bg, theta_G, theta_T, c_T)`` (the
   decoded crop pasted with ``M^0`` over the background in the frame and the target's crop
   taken, one fused call); ``p_k = phi(E(x_k))``; ``e_k = MPJPE(p_k, q)`` (mm, per sample).
4. ``k = 0``: ``e_0`` is the initial error, ``x_0`` the initial synthesised crop.
5. A sample is done when ``e_k > threshold`` (success) or ``k = K``. Its results are ``h``,
   ``x_k``, ``p_k``, ``e_k`` and ``iterations = k``; it leaves the active batch (its state is
   no longer computed).
6. For the others, ``g = d(sum_b e_k[b]) / dh`` (rows are independent: the models run in eval
   mode) and, with ``t = k + 1``, Adam ascends (torch.optim.Adam's arithmetic, maximize=True)::

       m = beta1 m + (1 - beta1) g
       v = beta2 v + (1 - beta2) g^2
       h = h + lr s (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + adam_eps)

   A sample whose synthesis reproduces the frame exactly (``e_0 = 0``) has ``g = 0`` (MPJPE is
   a norm) and cannot move; no real generator starts there (decoders 40-90 mm, the renderer's
   resampling ~16 mm), but a toy generator that copies its input does.

7. With a budget ``eps > 0``: ``d = h - h^0``; if ``|d| > eps |h^0|`` (Euclidean, per sample)
   then ``h = h^0 + d eps |h^0| / |d|``.
8. ``h = G.project(h, h^0)`` (the renderer keeps colours in [0, 1], and ``renderer:DE`` each
   colour within CIE76 Delta E DE of its start); ``k = k + 1``.

An iteration is one update (steps 6-8): a sample that succeeds at evaluation ``k`` used ``k``
iterations, and ``K`` iterations evaluate ``K + 1`` times. Images are compared on the target's
crop: SSIM, PSNR and MSE of the final ``x`` against ``x_0``; and on the full frame, as the
paper's images are (``*_frame``: the generator's final and initial crops pasted with ``M^0``
over the background, the whole frame compared). ``change`` is the size of the change of ``h``,
``|h - h_ref| / |h_ref|`` (the budget's unit; ``h_ref`` = ``h^0``, or for a null generator the
sample's own colours); ``change_path`` the largest that change was at any evaluation (the
budget the sample's path needed), and for a generator of colours (the renderer) ``delta_e`` /
``delta_e_path`` the same in CIE76 Delta E of the most changed colour. A null generator
(``generator.null``, e.g. random colours) gets no update: ``K = 0``, its one evaluation is the
whole result.

Defaults and why:

- ``threshold_mm = 150``: a prediction 150 mm (mean per joint) away from ``q`` is a different
  pose: it is about three quarters of the distance between the shipped regressors' training
  mean pose and a typical studio pose (207 mm), and 7-10x the error of a faithful resynthesis
  (the paper's 20 mm); the paper's successful attacks end at 170-200 mm.
- ``iterations = 50``: 50 updates at the default ``lr`` can move every entry of ``h`` by up to 5
  code RMS (or 5 colour units: any colour), far more than a successful attack needs (most
  succeed within 20: benchmarks/attack_tables.py, figures in benchmarks/RESULTS.md), while a
  table of 13 runs stays within minutes on 2 CPU threads.
- ``lr = 0.1``: each update moves every entry of ``h`` by at most about 0.1 of the code's RMS
  (decoders) or 0.1 colour units (renderer; Adam's steps are about ``lr`` per entry whatever
  the gradient's scale), a small change of the image per step. In trials on the tiny studio,
  0.05 left most NSD samples short of the threshold after 20 updates; 0.1 and 0.2 broke most
  within 15, and 0.1 is the smaller.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from dprobe.data.batches import evenly_spaced
from dprobe.data.studio import Studio
from dprobe.geometry import crop_at, paste_at
from dprobe.metrics.image import mse, psnr, ssim
from dprobe.metrics.intervals import Interval, bootstrap_mean, wilson
from dprobe.metrics.pose import mpjpe
from dprobe.models.inference import inference_copy
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.ops import composite_crop, composite_crop_reference
from dprobe.probes.attack_generators import AttackGenerator, Synthesis, frame_theta

__all__ = [
    "AttackResult",
    "AttackSettings",
    "attack",
    "attack_rows",
    "attack_summary",
    "change_figures",
    "pose_unit",
    "relative_change",
    "result_rows",
    "select_rows",
    "studio_batch",
    "success_curve",
    "success_within",
    "summarise",
]

DEFAULT_THRESHOLD_MM = 150.0
DEFAULT_ITERATIONS = 50
DEFAULT_LR = 0.1


@dataclass(frozen=True)
class AttackSettings:
    """Settings of the attack (see the module doc for what each does and the defaults' reasons).

    ``eps`` the relative budget on ``h`` (None: unbounded); ``boxes`` "detector" (each model's
    S) or "truth"; ``precision`` "fp32" or "bf16" (CPU autocast of the models; the composite
    and the error stay float32); ``fused`` False swaps the fused op for its plain-PyTorch
    reference (same results; for benchmarks); ``inference_copies`` runs frozen copies of the
    networks (``dprobe.models.inference.inference_copy``: batch norm folded into the
    convolutions, in float32 a nearest upsampling into a narrow convolution computed as one
    convolution, channels-last memory; the same functions to float rounding, about 1.5-1.8x
    faster per iteration on 2 CPU threads, benchmarks/RESULTS.md), False the models as given.
    """

    threshold_mm: float = DEFAULT_THRESHOLD_MM
    iterations: int = DEFAULT_ITERATIONS
    lr: float = DEFAULT_LR
    eps: float | None = None
    boxes: str = "detector"
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    precision: str = "fp32"
    fused: bool = True
    inference_copies: bool = True

    def __post_init__(self) -> None:
        if not self.threshold_mm >= 0:
            raise ValueError(f"threshold_mm must be >= 0, got {self.threshold_mm}")
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")
        if not self.lr >= 0:
            raise ValueError(f"lr must be >= 0, got {self.lr}")
        if self.eps is not None and not self.eps > 0:
            raise ValueError(f"eps must be positive (or None for no budget), got {self.eps}")
        if self.boxes not in ("detector", "truth"):
            raise ValueError(f"boxes must be 'detector' or 'truth', got {self.boxes!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")


@dataclass
class AttackResult:
    """Per-sample outcome of one batch (first dimension B everywhere).

    Errors in mm: ``initial`` (``e_0``), ``final``; ``iterations`` (long) and ``success``
    (bool); image similarity of the final vs the initial synthesised target crop: ``ssim``,
    ``psnr`` (dB), ``mse`` (for a null generator ``x_initial`` is already the changed image, so
    these compare it with itself); on the full frame, against the reference (``change_figures``):
    ``ssim_frame``, ``psnr_frame`` (dB), ``mse_frame``; ``change`` the relative size of the
    change of ``h`` (module doc) and ``change_path`` the largest it was at any evaluation up to
    the last (the budget the path needed); ``delta_e`` and ``delta_e_path`` the same in CIE76
    Delta E for a generator of colours (``AttackGenerator.delta_e``; NaN for a latent code).
    Poses
    ``(B, 17, 3)`` mm: ``q`` (prediction on the original frame),
    ``pred_initial``, ``pred_final``. Crops ``(B, 3, c, c)``: ``x_input`` (the target's crop of
    the original frame), ``x_initial``, ``x_final``. Codes: ``h_initial``, ``h_final``.
    """

    initial: Tensor
    final: Tensor
    iterations: Tensor
    success: Tensor
    ssim: Tensor
    psnr: Tensor
    mse: Tensor
    q: Tensor
    pred_initial: Tensor
    pred_final: Tensor
    x_input: Tensor
    x_initial: Tensor
    x_final: Tensor
    h_initial: Tensor
    h_final: Tensor
    change: Tensor
    ssim_frame: Tensor
    psnr_frame: Tensor
    mse_frame: Tensor
    change_path: Tensor
    delta_e: Tensor
    delta_e_path: Tensor


@dataclass
class _Active:
    """The state of the samples still being attacked (rows in the order of ``index``)."""

    index: Tensor
    h: Tensor
    m: Tensor
    v: Tensor
    tensors: dict[str, Tensor] = field(default_factory=dict)

    def keep(self, rows: Tensor) -> None:
        self.index, self.h, self.m, self.v = (t[rows] for t in (self.index, self.h, self.m,
                                                                  self.v))
        self.tensors = {k: v[rows] for k, v in self.tensors.items()}


def _autocast(precision: str):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def attack(target: PoseAppearanceModel, generator: AttackGenerator, batch: dict[str, Tensor],
           config: AttackSettings = AttackSettings()) -> AttackResult:
    """Attack the target on the frames of ``batch`` (``studio_batch``); see the module doc."""
    if config.inference_copies:
        target, generator = _inference_copies(target, generator,
                                              subpixel=config.precision == "fp32")
    with torch.no_grad():
        theta_t = frame_theta(target, batch, config.boxes)
        c_t = target.crop_size
        x_input = crop_at(batch["frame"], theta_t, c_t)
        q = target.regress(target.encode(x_input)[1]).float()
        syn = generator.prepare(batch, config.boxes)
    B = q.shape[0]
    composite = composite_crop if config.fused else composite_crop_reference
    device = q.device  # every result lives where the models compute (CPU or CUDA)
    state = _Active(torch.arange(B, device=device), syn.h_a0.clone(), torch.zeros_like(syn.h_a0),
                    torch.zeros_like(syn.h_a0),
                    {"q": q, "mask": syn.mask, "src": syn.src_theta, "dst": theta_t,
                     "bg": batch["background"], "scale": syn.step_scale, "h0": syn.h_a0,
                     "reference": syn.reference,
                     **{f"fixed.{k}": v for k, v in syn.fixed.items()}})
    initial, final = torch.zeros(B, device=device), torch.zeros(B, device=device)
    iterations = torch.zeros(B, dtype=torch.long, device=device)
    pred_initial, pred_final = torch.zeros_like(q), torch.zeros_like(q)
    x_initial, x_final = torch.zeros_like(x_input), torch.zeros_like(x_input)
    h_final = torch.zeros_like(syn.h_a0)
    change_path, delta_e_path = torch.zeros(B, device=device), torch.zeros(B, device=device)
    iterations_max = 0 if getattr(generator, "null", False) else config.iterations
    for k in range(iterations_max + 1):
        s = state.tensors
        fixed = {key[6:]: v for key, v in s.items() if key.startswith("fixed.")}
        h = state.h.detach().requires_grad_(k < iterations_max)
        with torch.set_grad_enabled(k < iterations_max):
            with _autocast(config.precision):
                rgb = generator.render(h, fixed).float()
            x = composite(rgb, s["mask"], s["bg"], s["src"], s["dst"], c_t)
            with _autocast(config.precision):
                pred = target.regress(target.encode(x)[1]).float()
            error = mpjpe(pred, s["q"])
        if k == 0:
            initial[state.index], pred_initial[state.index] = error.detach(), pred.detach()
            x_initial[state.index] = x.detach()
        _track_path(change_path, delta_e_path, state, generator)
        done = (error.detach() > config.threshold_mm) | (k == iterations_max)
        if bool(done.any()):
            rows = state.index[done]
            final[rows], pred_final[rows] = error.detach()[done], pred.detach()[done]
            x_final[rows], h_final[rows], iterations[rows] = x.detach()[done], h.detach()[done], k
        if k == iterations_max or bool(done.all()):
            break
        (grad,) = torch.autograd.grad(error.sum(), h)
        if bool(done.any()):
            state.keep(~done)
            grad = grad[~done]
        _adam_ascent(state, grad, k + 1, config)
        state.h = generator.project(_budget(state.h, state.tensors["h0"], config.eps),
                                    state.tensors["h0"])
    with torch.no_grad():
        return AttackResult(
            initial=initial, final=final, iterations=iterations,
            success=final > config.threshold_mm, ssim=ssim(x_final, x_initial),
            psnr=psnr(x_final, x_initial), mse=mse(x_final, x_initial), q=q,
            pred_initial=pred_initial, pred_final=pred_final, x_input=x_input,
            x_initial=x_initial, x_final=x_final, h_initial=syn.h_a0, h_final=h_final,
            change_path=change_path, delta_e_path=delta_e_path,
            **change_figures(generator, syn, h_final, batch["background"]))


def relative_change(h: Tensor, reference: Tensor) -> Tensor:
    """``|h - reference| / |reference|`` per row ``(B,)``: the budget's unit (module doc)."""
    return (h - reference).norm(dim=1) / reference.norm(dim=1).clamp_min(1e-12)


@torch.no_grad()
def _track_path(change_path: Tensor, delta_e_path: Tensor, state: _Active,
                generator: AttackGenerator) -> None:
    """Raise each active sample's ``change_path`` and ``delta_e_path`` (in place) to the change
    of its current ``h`` from its reference if that is larger (NaN Delta E for latent codes)."""
    h, reference = state.h.detach(), state.tensors["reference"]
    index = state.index
    change_path[index] = torch.maximum(change_path[index], relative_change(h, reference))
    delta_e = generator.delta_e(h, reference)
    delta_e_path[index] = (torch.full_like(index, float("nan"), dtype=h.dtype) if delta_e is None
                           else torch.maximum(delta_e_path[index], delta_e.to(h.dtype)))


@torch.no_grad()
def change_figures(generator: AttackGenerator, syn: Synthesis, h_final: Tensor,
                   background: Tensor) -> dict[str, Tensor]:
    """``change``, ``delta_e``, ``ssim_frame``, ``psnr_frame`` and ``mse_frame`` ``(B,)`` of an
    attack's final ``h`` (module doc): the relative size of its change from ``syn.reference``,
    the same in CIE76 Delta E (NaN for a latent code), and the full frames of the generator's
    crops of the final ``h`` and of the reference compared (for an attack the reference is its
    start; for a null, whose start is already the changed clothes, the sample's own
    colours)."""
    reference = syn.reference
    frames = [_full_frame(generator, h, syn, background) for h in (h_final, reference)]
    delta_e = generator.delta_e(h_final, reference)
    return {"change": relative_change(h_final, reference),
            "delta_e": torch.full_like(h_final[:, 0], float("nan")) if delta_e is None else delta_e,
            "ssim_frame": ssim(*frames), "psnr_frame": psnr(*frames), "mse_frame": mse(*frames)}


def _full_frame(generator: AttackGenerator, h: Tensor, syn: Synthesis, background: Tensor
                ) -> Tensor:
    """The full frame ``(B, 3, H, W)`` with the generator's crop of ``h`` pasted by ``M^0``
    over the camera background (what the attack's composite crops from)."""
    rgb = generator.render(h, syn.fixed).float()
    pasted = paste_at(torch.cat((rgb, syn.mask), dim=1), syn.src_theta,
                      tuple(background.shape[-2:]))
    m = pasted[:, 3:4]
    return pasted[:, :3] * m + (1 - m) * background


def _inference_copies(target: PoseAppearanceModel, generator: AttackGenerator, subpixel: bool
                      ) -> tuple[PoseAppearanceModel, AttackGenerator]:
    """The target and the generator running frozen inference copies of their networks
    (``inference_copy(model, subpixel)``); a network they share (the "self" generator) is copied
    once and stays shared."""
    copies: dict[int, PoseAppearanceModel] = {}

    def convert(model: PoseAppearanceModel) -> PoseAppearanceModel:
        if id(model) not in copies:
            copies[id(model)] = inference_copy(model, subpixel)
        return copies[id(model)]

    return convert(target), generator.with_models(convert)


def _adam_ascent(state: _Active, grad: Tensor, t: int, config: AttackSettings) -> None:
    """One Adam step up the gradient (module doc, step 6), in place on ``state``."""
    beta1, beta2 = config.betas
    state.m = beta1 * state.m + (1 - beta1) * grad
    state.v = beta2 * state.v + (1 - beta2) * grad * grad
    m_hat = state.m / (1 - beta1**t)
    v_hat = state.v / (1 - beta2**t)
    step = config.lr * state.tensors["scale"][:, None]
    state.h = state.h + step * m_hat / (v_hat.sqrt() + config.adam_eps)


def _budget(h: Tensor, h0: Tensor, eps: float | None) -> Tensor:
    """``h`` pulled back onto ``|h - h0| <= eps |h0|`` per sample (module doc, step 7)."""
    if eps is None:
        return h
    d = h - h0
    limit = eps * h0.norm(dim=1, keepdim=True)
    factor = (limit / d.norm(dim=1, keepdim=True).clamp_min(1e-30)).clamp(max=1.0)
    return h0 + d * factor


# ---- studio plumbing ---------------------------------------------------------------------
def select_rows(studio: Studio, subjects: Sequence[str], frames: int) -> Tensor:
    """Studio rows to attack: ``frames`` evenly spaced crops of each subject, subject by subject."""
    parts = []
    for subject in subjects:
        rows = studio.select(subjects=[subject])
        parts.append(rows[evenly_spaced(rows.numel(), frames)])
    return torch.cat(parts)


def studio_batch(studio: Studio, rows: Tensor) -> dict[str, Tensor]:
    """What the attack and its generators read of studio rows (first dimension B).

    ``frame``, ``background`` ``(B, 3, H, W)`` in [0, 1] (the full frame and its camera's
    background); ``theta (B, 2, 3)`` and ``box (B, 3)`` px, the ground-truth crop;
    ``pose (B, 17, 3)`` the ground truth (mm, root-relative, camera frame); for the renderer
    ``joints_world (B, 17, 3)`` mm, ``R``, ``t``, ``K`` and ``appearance (B, 25)``.
    """
    if studio.backgrounds is None:
        raise ValueError("the attack needs full-frame backgrounds; this capture has none")
    cams = studio.camera[rows]
    return {
        "frame": studio.full_frame(rows),
        "background": studio.backgrounds[cams].permute(0, 3, 1, 2).float() / 255,
        "theta": studio.theta(rows), "box": studio.boxes[rows], "pose": studio.pose(rows),
        "joints_world": studio.joints3d_world[rows], "R": studio.cameras["R"][cams],
        "t": studio.cameras["t"][cams], "K": studio.cameras["K"][cams],
        "appearance": studio.appearance[rows],
    }


def attack_rows(target: PoseAppearanceModel, generator: AttackGenerator, studio: Studio,
                rows: Tensor, config: AttackSettings = AttackSettings(), batch_size: int = 32,
                progress: Callable[[int], None] | None = None
                ) -> Iterator[tuple[Tensor, dict[str, Tensor], AttackResult]]:
    """Attack studio ``rows`` in batches: yields ``(rows, batch, result)`` per batch;
    ``progress(n)`` is called with the number of samples finished by each batch."""
    for lo in range(0, rows.numel(), batch_size):
        chunk = rows[lo: lo + batch_size]
        batch = studio_batch(studio, chunk)
        yield chunk, batch, attack(target, generator, batch, config)
        if progress is not None:
            progress(chunk.numel())


def result_rows(studio: Studio, rows: Tensor, batch: dict[str, Tensor], result: AttackResult,
                poses: bool = False) -> list[dict]:
    """One JSON-ready dict per sample: identity, errors (mm), iterations, success, image figures;
    with ``poses`` also the ground truth, ``q`` and both predictions (mm, lists)."""
    out = []
    for b, row in enumerate(rows.tolist()):
        item = {
            "row": row, "subject": studio.subject_names[int(studio.subject[row])],
            "action": studio.action_names[int(studio.action[row])],
            "camera": int(studio.camera[row]), "frame": int(studio.frame[row]),
            "initial_mpjpe_mm": float(result.initial[b]), "final_mpjpe_mm": float(result.final[b]),
            "iterations": int(result.iterations[b]), "success": bool(result.success[b]),
            "ssim": float(result.ssim[b]), "psnr_db": float(result.psnr[b]),
            "mse": float(result.mse[b]), "ssim_frame": float(result.ssim_frame[b]),
            "psnr_frame_db": float(result.psnr_frame[b]), "mse_frame": float(result.mse_frame[b]),
            "change": float(result.change[b]), "change_path": _finite_or_none(result.change_path[b]),
            "delta_e": _finite_or_none(result.delta_e[b]),
            "delta_e_path": _finite_or_none(result.delta_e_path[b]),
            "q_vs_truth_mpjpe_mm": float(mpjpe(result.q[b:b + 1], batch["pose"][b:b + 1])),
        }
        if poses:
            item.update(truth_mm=batch["pose"][b].tolist(), q_mm=result.q[b].tolist(),
                        initial_pred_mm=result.pred_initial[b].tolist(),
                        final_pred_mm=result.pred_final[b].tolist())
        out.append(item)
    return out


def _finite_or_none(x: Tensor) -> float | None:
    """A JSON-ready float, None where there is no number (NaN)."""
    value = float(x)
    return value if value == value else None


def success_curve(final_mm: Tensor, thresholds_mm: Tensor) -> Tensor:
    """The robustness curve ``(T,)``: the fraction of samples whose returned attacked image moves
    the prediction by more than each threshold (mm) of ``thresholds_mm (T,)``."""
    return (final_mm[None, :] > thresholds_mm[:, None]).float().mean(dim=1)


def success_within(rows: Sequence[dict], key: str, budgets: Sequence[float]
                   ) -> list[Interval]:
    """Success within each budget of an unbounded attack's rows: the share of samples that
    passed the threshold on a path whose ``key`` (``change_path``, the relative change, or
    ``delta_e_path``, CIE76 Delta E) never exceeded the budget, with its Wilson 95 % interval.
    A bounded attack whose path stayed inside its budget is the same computation, so this is
    what a bounded run would at least reach (it can reach more: its projection may find
    another way). Rows without ``key`` (a latent code's Delta E, the C++ engine's path) are
    left out; no such row: an empty list."""
    known = [r for r in rows if r.get(key) is not None]
    if not known:
        return []
    return [wilson(sum(bool(r["success"]) and r[key] <= b for r in known), len(known))
            for b in budgets]


def pose_unit(row: dict) -> tuple:
    """The independent unit of an attack sample row (``result_rows`` or a sweep's stored row):
    its pose, (subject, action, frame), shared by the views of that moment from every camera.
    The rows do not hold the sequence, so the two takes of an action at the same frame number
    count as one unit: intervals are, if anything, a little wide."""
    return (row["subject"], row["action"], row["frame"])


def attack_summary(rows: Sequence[dict], seed: int = 0) -> dict:
    """The figures of a group of result rows (``result_rows``, or the sweep's stored rows).

    ``samples`` and ``poses`` (independent units, ``pose_unit``); means of
    ``initial_mpjpe_mm``, ``final_mpjpe_mm`` (mm) and ``iterations``; ``success`` (fraction);
    ``ssim``, ``psnr_db``, ``mse`` (the target's crop), ``ssim_frame``, ``psnr_frame_db``,
    ``mse_frame`` (the full frame), ``change`` (relative size of the change of ``h``) and
    ``delta_e`` (the same in CIE76 Delta E, generators of colours only): means
    over the samples the attack changed (``attacked``: iterations > 0, or every sample of a null
    generator, which changes the clothes without updates; a sample that starts past the
    threshold is not attacked and its images are identical). A mean leaves out values that are None or not finite (the PSNR of identical
    images is infinite) and is None where none is left. ``intervals``: each figure's 95 %
    interval (``dprobe.metrics.intervals``): Wilson for the success rate (n samples), a cluster
    bootstrap over poses (seeded with ``seed``, recorded) for the means.
    """
    attacked = [r for r in rows if r["iterations"] > 0 or (r.get("change") or 0) > 0]
    units = [pose_unit(r) for r in rows]
    attacked_units = [pose_unit(r) for r in attacked]
    intervals = {"success": wilson(sum(bool(r["success"]) for r in rows), len(rows))}
    for key in ("initial_mpjpe_mm", "final_mpjpe_mm", "iterations"):
        intervals[key] = bootstrap_mean([r[key] for r in rows], units, seed)
    for key in ("ssim", "psnr_db", "mse", "ssim_frame", "psnr_frame_db", "mse_frame", "change",
                "delta_e"):
        values = [r.get(key) for r in attacked]
        if any(v is not None for v in values):  # rows of an older dprobe lack the last four
            intervals[key] = bootstrap_mean(values, attacked_units, seed)
    return {
        "samples": len(rows), "poses": len(set(units)),
        **{k: i.value for k, i in intervals.items()},
        "attacked": len(attacked),
        "intervals": {k: i.to_dict() for k, i in intervals.items()},
    }


def summarise(rows: Sequence[dict], key: str = "subject") -> dict[str, dict]:
    """``attack_summary`` per ``key`` value (e.g. subject) and over all rows (``"all"``)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(str(row[key]), []).append(row)
    groups["all"] = list(rows)
    return {name: attack_summary(group) for name, group in groups.items()}
