"""Training the detector S with box supervision (docs/conventions.md, boxes and crops).

The detector predicts ``(s, tx, ty)`` (box side / frame width, normalised centre); the loss is
the L1 distance to the ground-truth crop's parameters. Validation reports the mean box-centre
error (px) and the mean IoU of predicted and true boxes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset
from tqdm import tqdm

from dprobe.data.batches import sample_batch
from dprobe.frameworks.schedule import set_scheduled_lr
from dprobe.geometry import theta_to_box
from dprobe.metrics.boxes import box_iou
from dprobe.models.detector import Detector, DetectorConfig, theta_to_params

__all__ = ["DetectorSettings", "detection_errors", "train_detector"]


@dataclass(frozen=True)
class DetectorSettings:
    steps: int = 1500
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 50
    seed: int = 0
    input_size: int = 64
    width: int = 16


@torch.no_grad()
def detection_errors(detector: Detector, frames: Tensor, theta: Tensor) -> dict[str, float]:
    """Mean centre error (px) and mean IoU of the detector's boxes against ``theta``'s."""
    detector.eval()
    hw = tuple(frames.shape[-2:])
    pred, true = theta_to_box(detector(frames), hw), theta_to_box(theta, hw)
    return {"val_centre_px": float((pred[:, :2] - true[:, :2]).norm(dim=1).mean()),
            "val_iou": float(box_iou(pred, true).mean())}


def train_detector(dataset: Dataset, frame_hw: tuple[int, int], settings: DetectorSettings, *,
                   val_batch: dict[str, Any] | None = None, progress: bool = True
                   ) -> tuple[Detector, dict[str, float]]:
    """A detector trained on ``dataset`` items with ``frame`` and ``theta``; and its figures."""
    detector = Detector(DetectorConfig(tuple(frame_hw), settings.input_size, settings.width))
    optimizer = torch.optim.Adam(detector.parameters(), lr=settings.lr)
    loss = torch.zeros(())
    for step in tqdm(range(settings.steps), disable=not progress, desc="detector", unit="step"):
        set_scheduled_lr(optimizer, settings.lr, step, settings.steps, settings.warmup)
        batch = sample_batch(dataset, settings.batch_size, settings.seed, step)
        detector.train()
        pred = theta_to_params(detector(batch["frame"]))
        loss = F.l1_loss(pred, theta_to_params(batch["theta"]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    result = {"train_loss": float(loss.detach()), **asdict(settings)}
    if val_batch is not None:
        result.update(detection_errors(detector, val_batch["frame"], val_batch["theta"]))
    return detector.eval(), result
