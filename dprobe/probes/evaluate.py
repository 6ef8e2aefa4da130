"""Evaluation of a model on the held-out subjects.

Per subject and over all of them (frames pooled):
- reconstruction of each crop from its own codes, composited over its background: PSNR (dB) and
  SSIM of the whole crop and inside the person's mask, and PSNR inside the mask's arms, legs and
  rest (``psnr_arms``, ``psnr_legs``, ``psnr_rest``: ``dprobe.metrics.body_regions``, from the
  crop's 2D joints; left out where the joints are unknown);
- NSD novel view: view j decoded from view i's pose code rotated by ``R_j R_i^T`` and the
  appearance code of another frame of camera j (PSNR of the whole crop);
- pose: MPJPE, N-MPJPE, P-MPJPE (mm) of the regressor on ground-truth crops, the MPJPE of the
  mean-pose baseline (the regressor's training mean), and with a detector the MPJPE on crops the
  detector found plus its box IoU; the MPJPE per joint (``per_joint_mpjpe``, by joint name) and
  per action (``per_action_mpjpe``, by action name);
- ``mpjpe_over_mean_pose``: the MPJPE as a fraction of the mean-pose baseline's;
- ``reconstruction_shift`` (mm): the MPJPE between the regressor's output on the crop and on the
  model's own reconstruction of it composited over the crop's background — the attack's initial
  error when the model is its own generator (the paper's generators: about 20 mm);
- ``code_variance_a`` / ``code_variance_p``: the variance over frames of each channel of ``h_a`` /
  ``h_p``, averaged over channels (a code that collapses in scale shows here).
"Inside the mask" weights pixels by the studio's soft silhouette of the person.

Every figure has its 95 % interval under ``intervals`` (figure name -> ``Interval.to_dict()``,
``per_joint_mpjpe.Hip``-style names for the breakdowns): a cluster bootstrap over poses (a
pose with all its camera views is one unit; ``dprobe.metrics.intervals``), seeded with
``seed``; the novel-view PSNR's unit is a view pair; the code variances are recomputed on each
resample (200).

Any model of the protocol is evaluated at its own crop size (the studio seen through
``at_crop_size``). A model that is not dprobe's reference network has all four parts; the
mean-pose baseline is then the mean pose of the studio's training subjects, and the novel view,
which reads the pose code as NSD's 3D points, is left out.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from torch import Tensor

from dprobe.data.batches import collate_indices, evenly_spaced
from dprobe.data.subjects import TEST_SUBJECTS, training_subjects
from dprobe.geometry import crop_at, theta_to_box
from dprobe.joints import JOINT_NAMES
from dprobe.metrics.body_regions import REGIONS, body_regions, region_psnr
from dprobe.metrics.boxes import box_iou
from dprobe.metrics.image import psnr, ssim
from dprobe.metrics.intervals import bootstrap_mean, bootstrap_ratio, bootstrap_statistic
from dprobe.metrics.pose import mpjpe, n_mpjpe, p_mpjpe
from dprobe.models.pose_code import relative_rotation, rotate_pose_code
from dprobe.models.protocol import PoseAppearanceModel, composite
from dprobe.models.reference import ReferenceModel
from dprobe.seeding import seed_everything

__all__ = ["evaluate_model", "reconstruction_examples"]

_REGION_KEYS = tuple(f"psnr_{name}" for name in REGIONS)


def _has(model: PoseAppearanceModel, part: str) -> bool:
    """Whether ``model`` has ``part`` (decoder, regressor, detector): a reference network may
    lack one; any other model of the protocol has all of them."""
    return getattr(model, part, True) is not None


def _mean_pose(model: PoseAppearanceModel, studio: Any) -> Tensor:
    """The mean-pose baseline ``(17, 3)`` mm: the regressor's training mean, or the mean pose of
    the studio's training subjects for a model that does not record one."""
    recorded = getattr(getattr(model, "regressor", None), "pose_mean", None)
    if recorded is not None:
        return recorded
    rows = studio.select(subjects=training_subjects(studio.subject_names))
    return studio.pose(rows).mean(0)


def _frame_metrics(model: PoseAppearanceModel, batch: dict[str, Tensor],
                   mean_pose: Tensor) -> dict[str, Tensor]:
    """Per-frame figures ``(B,)`` of one batch of evaluation frames."""
    crop, out = batch["crop"], {}
    h_a, h_p = model.encode(crop)
    out.update(h_a=h_a.float(), h_p=h_p.float())
    if _has(model, "decoder"):
        x = composite(*model.decode(h_a, h_p), batch["bg"])
        mask = batch["mask"]
        out.update(psnr=psnr(x, crop), ssim=ssim(x, crop),
                   psnr_mask=psnr(x, crop, mask), ssim_mask=ssim(x, crop, mask))
        regions = body_regions(batch["joints2d"], batch["pose"], batch["boxes"], crop.shape[-1])
        out.update({f"psnr_{name}": region_psnr(x, crop, mask * region)
                    for name, region in regions.items()})
    if _has(model, "regressor"):
        pose, pred = batch["pose"], model.regress(h_p)
        out.update(mpjpe=mpjpe(pred, pose), n_mpjpe=n_mpjpe(pred, pose), p_mpjpe=p_mpjpe(pred, pose),
                   mean_pose_mpjpe=mpjpe(mean_pose.expand_as(pose), pose),
                   joint_errors=(pred - pose).norm(dim=-1))
        if _has(model, "decoder"):
            out["reconstruction_shift"] = mpjpe(model.regress(model.encode(x)[1]), pred)
    if _has(model, "detector") and "frame" in batch:
        theta = model.locate(batch["frame"])
        hw = tuple(batch["frame"].shape[-2:])
        out["detector_iou"] = box_iou(theta_to_box(theta, hw), theta_to_box(batch["theta"], hw))
        if _has(model, "regressor"):
            found = crop_at(batch["frame"], theta, model.crop_size)
            out["detected_mpjpe"] = mpjpe(model.regress(model.encode(found)[1]), batch["pose"])
    return out


def _novel_view_psnr(model: ReferenceModel, batch: dict[str, Tensor]) -> Tensor:
    h_p_i = model.encode(batch["crop_i"])[1]
    h_a_j = model.encode(batch["app_j"])[0]
    h_p_j = rotate_pose_code(h_p_i, relative_rotation(batch["R_i"], batch["R_j"]))
    return psnr(composite(*model.decode(h_a_j, h_p_j), batch["bg_j"]), batch["crop_j"])


def _batches(dataset, indices: list[int], batch_size: int):
    for lo in range(0, len(indices), batch_size):
        yield collate_indices(dataset, indices[lo: lo + batch_size])


def _eval_batches(studio: Any, frames, indices: list[int], batch_size: int):
    """Batches of evaluation frames with the studio's silhouettes ``mask (B, 1, c, c)``, 2D
    joints ``joints2d (B, 17, 2)`` (full-frame px) and crop boxes ``boxes (B, 3)`` (px)."""
    for lo in range(0, len(indices), batch_size):
        chunk = indices[lo: lo + batch_size]
        rows = frames.rows[chunk]
        yield {**collate_indices(frames, chunk), "mask": studio.mask(rows),
               "action": studio.action[rows], "unit": torch.tensor(studio.pose_units(rows)),
               "joints2d": studio.joints2d[rows],
               "boxes": studio.boxes[rows]}


@torch.no_grad()
def evaluate_model(model: PoseAppearanceModel, studio: Any, *,
                   subjects: tuple[str, ...] = TEST_SUBJECTS, max_frames: int | None = 1000,
                   batch_size: int = 128, seed: int = 0) -> dict:
    """Figures of ``model`` per held-out subject and pooled (``"all"``), at the model's crop
    size; see the module doc."""
    from dprobe.data.datasets import EvalFrames, MultiViewPairs

    if isinstance(model, torch.nn.Module):
        model.eval()
    seed_everything(seed)
    studio = studio.at_crop_size(model.crop_size)
    mean_pose = _mean_pose(model, studio)
    pooled: dict[str, list[Tensor]] = defaultdict(list)
    per_subject = {}
    for subject in subjects:
        values: dict[str, list[Tensor]] = defaultdict(list)
        frames = EvalFrames(studio, subject, with_frame=_has(model, "detector"))
        for batch in _eval_batches(studio, frames, evenly_spaced(len(frames), max_frames),
                                   batch_size):
            for k, v in _frame_metrics(model, batch, mean_pose).items():
                values[k].append(v)
            values["action"].append(batch["action"])
            values["unit"].append(batch["unit"])
        if isinstance(model, ReferenceModel) and model.decoder is not None:
            pairs = MultiViewPairs(studio, subjects=[subject])
            for batch in _batches(pairs, evenly_spaced(len(pairs), max_frames), batch_size):
                values["novel_view_psnr"].append(_novel_view_psnr(model, batch))
        per_subject[subject] = _summary(values, studio.action_names, seed)
        per_subject[subject]["frames"] = len(evenly_spaced(len(frames), max_frames))
        for k, v in values.items():
            pooled[k] += v
    return {"subjects": per_subject, "all": _summary(pooled, studio.action_names, seed)}


#: Per-frame values that are not figures of their own.
_NOT_FIGURES = ("joint_errors", "action", "unit", "h_a", "h_p", "novel_view_psnr")


def _summary(values: dict[str, list[Tensor]], action_names: list[str], seed: int) -> dict:
    """Means of the per-frame figures (the body regions' PSNR over the frames whose joints are
    known, left out when none are); per-joint and per-action MPJPE (mm) as named dicts; the
    codes' variances over frames; ``intervals`` of each (module doc)."""
    units = torch.cat(values["unit"]).tolist()
    intervals = {}
    for k, v in values.items():
        if k not in _NOT_FIGURES:
            intervals[k] = bootstrap_mean(torch.cat(v).double().tolist(), units, seed)
    if values.get("novel_view_psnr"):
        views = torch.cat(values["novel_view_psnr"]).double().tolist()
        intervals["novel_view_psnr"] = bootstrap_mean(views, range(len(views)), seed,
                                                      unit="view pair")
    for code in ("a", "p"):
        if values.get(f"h_{code}"):
            h = torch.cat(values[f"h_{code}"]).double()
            intervals[f"code_variance_{code}"] = bootstrap_statistic(
                lambda rows, h=h: float(h[torch.as_tensor(rows)].var(0).mean()), units, seed)
    if values.get("mpjpe"):
        intervals["mpjpe_over_mean_pose"] = bootstrap_ratio(
            torch.cat(values["mpjpe"]).double().tolist(),
            torch.cat(values["mean_pose_mpjpe"]).double().tolist(), units, seed)
    figures: dict = {k: i.value for k, i in intervals.items()
                     if i.value is not None or k not in _REGION_KEYS}
    if values.get("joint_errors"):
        errors = torch.cat(values["joint_errors"]).double()          # (N, 17) mm
        actions = torch.cat(values["action"])
        for j, name in enumerate(JOINT_NAMES):
            intervals[f"per_joint_mpjpe.{name}"] = bootstrap_mean(errors[:, j].tolist(), units,
                                                                  seed)
        for a in actions.unique():
            mine = (actions == a).tolist()
            intervals[f"per_action_mpjpe.{action_names[int(a)]}"] = bootstrap_mean(
                errors[actions == a].mean(1).tolist(), [u for u, m in zip(units, mine) if m],
                seed)
        for group in ("per_joint_mpjpe", "per_action_mpjpe"):
            figures[group] = {k.split(".", 1)[1]: i.value for k, i in intervals.items()
                              if k.startswith(group + ".")}
    figures["intervals"] = {k: i.to_dict() for k, i in intervals.items() if i.value is not None}
    return figures


@torch.no_grad()
def reconstruction_examples(model: PoseAppearanceModel, studio: Any,
                            subjects: tuple[str, ...] = TEST_SUBJECTS,
                            per_subject: int = 4) -> dict[str, Tensor]:
    """Images for a picture of what the model reconstructs: ``per_subject`` evenly spaced frames
    of each subject, all ``(N, 3, c, c)`` in [0, 1]:

    ``input`` the crops; ``reconstruction`` ``D(E(x))`` over the crop's background; ``swap``
    ``D(h_a(x'), h_p(x))`` over the background, ``x'`` the frame at the same position in the next
    subject's list (its appearance with this frame's pose); plus ``subject`` names as a list.
    """
    from dprobe.data.datasets import EvalFrames

    if isinstance(model, torch.nn.Module):
        model.eval()
    studio = studio.at_crop_size(model.crop_size)
    crops, bgs, names = [], [], []
    for subject in subjects:
        frames = EvalFrames(studio, subject)
        rows = frames.rows[evenly_spaced(len(frames), per_subject)]
        crops.append(studio.image(rows))
        bgs.append(studio.background(rows))
        names += [subject] * len(rows)
    crop, bg = torch.cat(crops), torch.cat(bgs)
    h_a, h_p = model.encode(crop)
    other = torch.roll(torch.arange(len(crop)), -per_subject)
    return {"input": crop, "reconstruction": composite(*model.decode(h_a, h_p), bg),
            "swap": composite(*model.decode(h_a[other], h_p), bg), "subject": names}
