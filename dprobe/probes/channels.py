"""Appearance channels inside the pose code (paper Fig. 5-6).

Appearance probability: the same pose (a studio row) is rendered wearing each subject's
appearance; the probability of pose-code channel c encoding appearance is proportional to the
mean ``|h_p(s)_c - h_p(t)_c|`` over poses and pairs of subjects s != t (exact on the studio: the
poses are identical, only the clothes differ). Where the same pose cannot be rendered in other
clothes (a real capture), ``nearest_pose_probability`` pairs each frame with the other subject's
frame of nearest pose (MPJPE, same camera) instead, and reports how far apart those poses are.

K-sweep: images A (subject ``a``) and B (subject ``b``, same camera, another action) differ in
pose and appearance. The K channels of lowest (or highest) probability in A's pose code are
replaced by B's, and the result is decoded with A's appearance code over A's background, for
K = 0, step, 2 step, ..., all. Whose pose and whose appearance the image shows is scored

- by the regressor: ``pose_b = d_A / (d_A + d_B)`` with ``d_X`` the MPJPE (mm) of
  ``phi(h_mix)`` to pose X (0: A's pose, 1: B's);
- by projection: the image is fitted (least squares over the union of both person masks) as a
  combination of the model's reconstructions ``D(E(.))`` of the four studio renders pose{A,B} x
  appearance{A,B} (and, as ``*_raw``, of the renders themselves), weights clipped at 0 and
  normalised; ``pose_b`` = weight on pose-B images, ``appearance_b`` = weight on appearance-B
  images.

The flip K: the smallest K at which the score passes 0.5 (None if it never does).

On a real capture (no renderer) the probabilities come from nearest-pose pairs
(``nearest_pose_probability``; ``pair_distance_mm`` says how far apart the paired poses are)
and the K-sweep is scored by the regressor alone: the projection scores need the four
counterfactual renders, so they and the appearance flips are undefined, with the reason.

Intervals (``intervals``): every point of the curves (``curves.<name>.<index of K>``) by a
cluster bootstrap over A's poses (a pose with all its camera views is one unit), and each flip
K by recomputing the curve's first passage on 1000 such resamples (resamples in which it never
passes are left out of the percentiles).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from dprobe.data.subjects import NAMED_SUBJECTS
from dprobe.metrics.intervals import Interval, bootstrap_mean, bootstrap_statistic
from dprobe.metrics.pose import mpjpe
from dprobe.models.protocol import PoseAppearanceModel, composite
from dprobe.probes.base import INTERVALS, UNDEFINED, Probe, ProbeResult, ProbeSettings
from dprobe.probes.counterfactual import Scene, batches, reconstruct

__all__ = ["PROBE", "ChannelResult", "appearance_probability", "channel_probe", "mix_channels",
           "nearest_pose_probability", "projection_weights"]


@torch.no_grad()
def appearance_probability(model: PoseAppearanceModel, scene: Scene, rows: Tensor,
                           subjects: tuple[str, ...], batch_size: int = 64) -> Tensor:
    """Per-channel appearance probability ``(Dp,)`` (sums to 1) from renders of ``rows``."""
    codes = []
    for s in subjects:
        renders = scene.render(rows, scene.appearance_of(s))
        codes.append(torch.cat([model.encode(renders[sl])[1]
                                for sl in batches(len(rows), batch_size)]))
    h = torch.stack(codes)                                   # (S, P, Dp)
    diff = (h[:, None] - h[None]).abs().mean(dim=2)          # (S, S, Dp)
    n = len(subjects)
    score = diff.sum(dim=(0, 1)) / max(1, n * (n - 1))
    return score / score.sum().clamp_min(1e-12)


@torch.no_grad()
def nearest_pose_probability(model: PoseAppearanceModel, scene: Scene,
                             subjects: tuple[str, ...], per_camera: int = 4,
                             pool_per_camera: int = 64,
                             batch_size: int = 64) -> tuple[Tensor, float]:
    """Per-channel appearance probability ``(Dp,)`` (sums to 1) where the same pose cannot be
    rendered in another appearance (real captures): each of ``per_camera`` rows per camera of
    subject ``s`` is paired with the row of subject ``t != s`` from the same camera, among
    ``pool_per_camera`` of ``t``'s rows per camera, whose root-relative camera-frame pose is
    nearest by MPJPE; the score of channel c is the mean ``|h_p(s)_c - h_p(t)_c|`` over pairs.

    Also returns the mean MPJPE (mm) of the pairs: how far "the same pose" is from being the
    same (on the studio, ``appearance_probability`` is the exact version, 0 mm).
    """
    studio = scene.studio

    def codes(rows: Tensor) -> Tensor:
        x = scene.frames(rows)
        return torch.cat([model.encode(x[sl])[1] for sl in batches(len(rows), batch_size)])

    queries = {s: scene.rows(s, per_camera) for s in subjects}
    pools = {s: scene.rows(s, pool_per_camera) for s in subjects}
    query_codes = {s: codes(r) for s, r in queries.items()}
    pool_codes = {s: codes(r) for s, r in pools.items()}
    total, pairs, distance = 0.0, 0, 0.0
    for s in subjects:
        pose_s, cam_s = scene.pose(queries[s]), studio.camera[queries[s]]
        for t in subjects:
            if t == s:
                continue
            pose_t, cam_t = scene.pose(pools[t]), studio.camera[pools[t]]
            d = (pose_s[:, None] - pose_t[None]).norm(dim=-1).mean(-1)      # (Ns, Nt) mm
            d = d.masked_fill(cam_s[:, None] != cam_t[None], float("inf"))
            best, nearest = d.min(1)
            found = best.isfinite()
            diff = query_codes[s][found] - pool_codes[t][nearest[found]]
            total = total + diff.abs().sum(0)
            pairs += int(found.sum())
            distance += float(best[found].sum())
    if pairs == 0:
        raise ValueError("no pairs of frames from the same camera among the subjects "
                         f"{', '.join(subjects)}")
    score = total / pairs
    return score / score.sum().clamp_min(1e-12), distance / pairs


def mix_channels(h_a_pose: Tensor, h_b_pose: Tensor, channels: Tensor) -> Tensor:
    """A's pose codes ``(B, Dp)`` with ``channels`` (indices) taken from B's."""
    out = h_a_pose.clone()
    out[:, channels] = h_b_pose[:, channels]
    return out


def projection_weights(image: Tensor, references: Tensor, mask: Tensor) -> Tensor:
    """Non-negative normalised weights ``(B, R)`` fitting ``image (B, 3, H, W)`` by
    ``references (B, R, 3, H, W)`` in the least-squares sense over ``mask (B, 1, H, W)``."""
    w = mask.sqrt().unsqueeze(1)
    A = (references * w).flatten(2).transpose(1, 2).double()       # (B, P, R)
    y = (image.unsqueeze(1) * w).flatten(2).transpose(1, 2).double()  # (B, P, 1)
    coef = torch.linalg.lstsq(A, y).solution[..., 0].clamp_min(0)
    return (coef / coef.sum(1, keepdim=True).clamp_min(1e-12)).float()


#: Why the projection scores are undefined on a real capture.
NO_RENDERS = ("a real capture has no renderer: the projection onto the four counterfactual "
              "renders (pose A / B x appearance A / B) cannot be made; the regressor's score is "
              "the pose flip")

#: The flip K figures: (name, order, score).
FLIPS = (("lowest_first_pose_flip_k_regressor", "lowest", "pose_b_regressor"),
         ("lowest_first_pose_flip_k", "lowest", "pose_b"),
         ("lowest_first_appearance_flip_k", "lowest", "appearance_b"),
         ("highest_first_appearance_flip_k", "highest", "appearance_b"),
         ("highest_first_pose_flip_k", "highest", "pose_b"),
         ("highest_first_pose_flip_k_regressor", "highest", "pose_b_regressor"))
FLIP_KEYS = tuple(name for name, _, _ in FLIPS)


def _first_above(ks: list[int], values, level: float = 0.5) -> int | None:
    return next((k for k, v in zip(ks, values) if v > level), None)


def _flip_interval(ks: list[int], scores: np.ndarray, units: list, seed: int) -> Interval:
    """The flip K of per-sample ``scores (K, N)`` with a bootstrap over ``units`` (module doc)."""
    def statistic(rows: np.ndarray) -> float:
        k = _first_above(ks, scores[:, rows].mean(1))
        return float("nan") if k is None else float(k)

    found = bootstrap_statistic(statistic, units, seed, resamples=1000)
    value = _first_above(ks, scores.mean(1))
    return Interval(None if value is None else float(value), found.low, found.high, found.n,
                    found.unit, found.method, seed)


@dataclass
class ChannelResult(ProbeResult):
    """Appearance probabilities, K-sweep curves and the strip of decoded images."""

    probability: Tensor
    curves: dict
    flips: dict
    settings: dict
    strip: dict[str, Tensor] = field(default_factory=dict)
    intervals: dict[str, Interval] = field(default_factory=dict)
    undefined: dict[str, str] = field(default_factory=dict)

    def numbers(self) -> dict:
        """The JSON-able figures (probabilities sorted descending, curves, flip K, intervals)."""
        p = self.probability
        top = p.sort(descending=True).values
        return {"settings": self.settings, "flips": self.flips, "curves": self.curves,
                INTERVALS: {k: i.to_dict() for k, i in self.intervals.items()},
                UNDEFINED: dict(self.undefined),
                "probability_sorted": [round(float(v), 6) for v in top],
                "share_of_top_10_percent_channels": float(top[: max(1, len(p) // 10)].sum())}


@torch.no_grad()
def channel_probe(model: PoseAppearanceModel, scene: Scene, a: str = "S7", b: str = "S8",
                  subjects: tuple[str, ...] = NAMED_SUBJECTS,
                  probability_subjects: tuple[str, ...] = ("S9", "S11"), per_camera: int = 4,
                  k_step: int = 50, batch_size: int = 64, progress: bool = False,
                  seed: int = 0) -> ChannelResult:
    """Appearance probabilities and the K-sweep of ``a``'s pose code towards ``b``'s (module
    doc; on a real capture: nearest-pose probabilities and the regressor's scores only)."""
    real = not scene.can_render
    prob_rows = torch.cat([scene.rows(s, per_camera) for s in probability_subjects])
    if real:
        probability, pair_distance = nearest_pose_probability(
            model, scene, tuple(s for s in subjects if s in scene.studio.subject_names),
            per_camera, batch_size=batch_size)
    else:
        probability, pair_distance = appearance_probability(model, scene, prob_rows, subjects,
                                                            batch_size), 0.0
    order = probability.sort(stable=True).indices           # lowest first, ties by index
    dim = len(order)
    ks = sorted(set(list(range(0, dim, k_step)) + [dim]))

    rows_a, rows_b = scene.rows(a, per_camera), scene.rows(b, per_camera, offset=0.5)
    rows_b = rows_b[: len(rows_a)]
    x_a, x_b = scene.frames(rows_a), scene.frames(rows_b)
    bg = scene.background(rows_a)
    mask = torch.maximum(scene.mask(rows_a), scene.mask(rows_b))
    # The four counterfactuals: pose A / B (rows), appearance A / B (none on a real capture).
    raw = None if real else torch.stack(
        [x_a, scene.render(rows_a, scene.appearance_of(b)),
         scene.render(rows_b, scene.appearance_of(a)), x_b], 1)
    pose_b_of_ref = torch.tensor([0.0, 0.0, 1.0, 1.0])
    app_b_of_ref = torch.tensor([0.0, 1.0, 0.0, 1.0])
    pose_a, pose_b = scene.pose(rows_a), scene.pose(rows_b)
    per_sample: dict[str, list[Tensor]] = {
        f"{order_name}_{key}": [] for order_name in ("lowest", "highest")
        for key in ("pose_b_regressor", "pose_b", "appearance_b", "pose_b_raw",
                    "appearance_b_raw")}
    strip: dict[str, Tensor] = {}
    for sl in tqdm(list(batches(len(rows_a), batch_size)), desc="channels: K-sweep",
                   disable=not progress):
        h_a_a, h_p_a = model.encode(x_a[sl])
        h_p_b = model.encode(x_b[sl])[1]
        refs = None if real else torch.stack(
            [reconstruct(model, raw[sl, r], bg[sl]) for r in range(4)], 1)
        for order_name, channels_of in (("lowest", lambda k: order[:k]),
                                        ("highest", lambda k: order[dim - k:])):
            batch_scores: dict[str, list[Tensor]] = {}
            for k in ks:
                h_mix = mix_channels(h_p_a, h_p_b, channels_of(k))
                image = composite(*model.decode(h_a_a, h_mix), bg[sl])
                pred = model.regress(h_mix)
                d_a, d_b = mpjpe(pred, pose_a[sl]), mpjpe(pred, pose_b[sl])
                scores = {"pose_b_regressor": d_a / (d_a + d_b).clamp_min(1e-9)}
                for suffix, references in () if real else (("", refs), ("_raw", raw[sl])):
                    w = projection_weights(image, references, mask[sl])
                    scores["pose_b" + suffix] = w @ pose_b_of_ref
                    scores["appearance_b" + suffix] = w @ app_b_of_ref
                for key, v in scores.items():
                    batch_scores.setdefault(key, []).append(v.float())
                if sl.start == 0:
                    strip[f"{order_name} K={k}"] = image[0]
            for key, values in batch_scores.items():
                per_sample[f"{order_name}_{key}"].append(torch.stack(values))  # (K, B)
        if sl.start == 0:
            strip.update({"A": x_a[0], "B": x_b[0]})
    samples = {key: torch.cat(v, 1).double().numpy() for key, v in per_sample.items() if v}
    units = scene.pose_units(rows_a)
    curves = {"k": ks, **{key: samples[key].mean(1).tolist() if key in samples else None
                          for key in per_sample}}
    intervals = {f"curves.{key}.{ki}": bootstrap_mean(v[ki], units, seed)
                 for key, v in samples.items() for ki in range(len(ks))}
    flips, undefined = {}, {}
    for name, order_name, score in FLIPS:
        if f"{order_name}_{score}" not in samples:
            flips[name] = None
            undefined[f"flips.{name}"] = NO_RENDERS
            continue
        intervals[f"flips.{name}"] = _flip_interval(ks, samples[f"{order_name}_{score}"], units,
                                                    seed)
        flips[name] = _first_above(ks, curves[f"{order_name}_{score}"])
    for key in per_sample:
        if key not in samples:
            undefined[f"curves.{key}"] = NO_RENDERS
    settings = {"a": a, "b": b, "pairs": len(rows_a), "k_step": k_step, "pose_dim": dim,
                "probability_subjects": list(probability_subjects), "subjects": list(subjects),
                "probability_poses": len(prob_rows),
                "pairing": "nearest pose" if real else "the same pose rendered",
                "pair_distance_mm": pair_distance}
    return ChannelResult(probability, curves, flips, settings, strip,
                         {k: i for k, i in intervals.items() if i.value is not None}, undefined)


def _run(model: PoseAppearanceModel, scene: Scene, settings: ProbeSettings,
         progress: bool) -> ChannelResult:
    a, b = settings.pair
    return channel_probe(model, scene, a=a, b=b, per_camera=settings.per_camera,
                         k_step=settings.k_step, progress=progress, seed=settings.seed)


#: 2.7 CPU seconds per frame per camera (one thread, the reference machine).
PROBE = Probe(name="channels", title="the appearance channels of the pose code and the K-sweep "
                                     "(paper Fig. 5-6)",
              run=_run, result_type=ChannelResult,
              headline=tuple(f"flips.{k}" for k in FLIP_KEYS),
              estimate_seconds=lambda s: 2.7 * s.per_camera)
