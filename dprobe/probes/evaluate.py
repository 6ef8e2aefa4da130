"""Evaluation of a model on the held-out subjects (issue 4, item 5).

Per subject and over all of them (frames pooled):
- reconstruction of each crop from its own codes, composited over its background: PSNR (dB) and
  SSIM of the whole crop and inside the person's mask;
- NSD novel view: view j decoded from view i's pose code rotated by ``R_j R_i^T`` and the
  appearance code of another frame of camera j (PSNR of the whole crop);
- pose: MPJPE, N-MPJPE, P-MPJPE (mm) of the regressor on ground-truth crops, the MPJPE of the
  mean-pose baseline (the regressor's training mean), and with a detector the MPJPE on crops the
  detector found plus its box IoU.
"Inside the mask" weights pixels by the studio's soft silhouette of the person.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from torch import Tensor

from dprobe.data.batches import collate_indices, evenly_spaced
from dprobe.data.subjects import TEST_SUBJECTS
from dprobe.geometry import crop_at, theta_to_box
from dprobe.metrics.boxes import box_iou
from dprobe.metrics.image import psnr, ssim
from dprobe.metrics.pose import mpjpe, n_mpjpe, p_mpjpe
from dprobe.models.pose_code import relative_rotation, rotate_pose_code
from dprobe.models.protocol import composite
from dprobe.models.reference import ReferenceModel
from dprobe.seeding import seed_everything

__all__ = ["evaluate_model"]


def _frame_metrics(model: ReferenceModel, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """Per-frame figures ``(B,)`` of one batch of evaluation frames."""
    crop, out = batch["crop"], {}
    h_a, h_p = model.encode(crop)
    if model.decoder is not None:
        x = composite(*model.decode(h_a, h_p), batch["bg"])
        mask = batch["mask"]
        out.update(psnr=psnr(x, crop), ssim=ssim(x, crop),
                   psnr_mask=psnr(x, crop, mask), ssim_mask=ssim(x, crop, mask))
    if model.regressor is not None:
        pose, pred = batch["pose"], model.regress(h_p)
        out.update(mpjpe=mpjpe(pred, pose), n_mpjpe=n_mpjpe(pred, pose), p_mpjpe=p_mpjpe(pred, pose),
                   mean_pose_mpjpe=mpjpe(model.regressor.pose_mean.expand_as(pose), pose))
    if model.detector is not None and "frame" in batch:
        theta = model.locate(batch["frame"])
        hw = tuple(batch["frame"].shape[-2:])
        out["detector_iou"] = box_iou(theta_to_box(theta, hw), theta_to_box(batch["theta"], hw))
        if model.regressor is not None:
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
    """Batches of evaluation frames with the studio's silhouettes ``mask (B, 1, c, c)``."""
    for lo in range(0, len(indices), batch_size):
        chunk = indices[lo: lo + batch_size]
        yield {**collate_indices(frames, chunk), "mask": studio.mask(frames.rows[chunk])}


@torch.no_grad()
def evaluate_model(model: ReferenceModel, studio: Any, *, subjects: tuple[str, ...] = TEST_SUBJECTS,
                   max_frames: int | None = 1000, batch_size: int = 128, seed: int = 0) -> dict:
    """Figures of ``model`` per held-out subject and pooled (``"all"``); see the module doc."""
    from dprobe.data.datasets import EvalFrames, MultiViewPairs

    model.eval()
    seed_everything(seed)
    pooled: dict[str, list[Tensor]] = defaultdict(list)
    per_subject = {}
    for subject in subjects:
        values: dict[str, list[Tensor]] = defaultdict(list)
        frames = EvalFrames(studio, subject, with_frame=model.detector is not None)
        for batch in _eval_batches(studio, frames, evenly_spaced(len(frames), max_frames),
                                   batch_size):
            for k, v in _frame_metrics(model, batch).items():
                values[k].append(v)
        if model.decoder is not None:
            pairs = MultiViewPairs(studio, subjects=[subject])
            for batch in _batches(pairs, evenly_spaced(len(pairs), max_frames), batch_size):
                values["novel_view_psnr"].append(_novel_view_psnr(model, batch))
        per_subject[subject] = {k: float(torch.cat(v).mean()) for k, v in values.items()}
        per_subject[subject]["frames"] = len(evenly_spaced(len(frames), max_frames))
        for k, v in values.items():
            pooled[k] += v
    return {"subjects": per_subject, "all": {k: float(torch.cat(v).mean()) for k, v in pooled.items()}}
