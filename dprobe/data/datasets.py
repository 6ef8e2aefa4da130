"""torch Datasets over a ``Studio`` (synthetic or Human3.6M), one per training signal.

Items are dicts of tensors. Images are float32 ``(3, c, c)`` in [0, 1]; every image comes with
its background crop (``bg*``: the camera background under the same box) so that a decoded
person can be composited ``m * rgb + (1 - m) * bg``. Random choices inside an item (a time gap,
another frame of the subject) are drawn from ``seed``, the item index and the dataset's epoch
(``set_epoch``), so a dataset is deterministic and a trainer that advances the epoch sees fresh
partners for the same rows; shuffle with the DataLoader.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from dprobe.data.studio import Studio
from dprobe.errors import DprobeError


class _Index:
    """Look-ups of crop indices by (sequence, camera, frame)."""

    def __init__(self, studio: Studio, rows: Tensor):
        self.rows = rows
        n_seq = int(studio.sequence.max()) + 1 if studio.n else 0
        n_cam = int(studio.camera.max()) + 1 if studio.n else 0
        n_frame = int(studio.frame.max()) + 1 if studio.n else 0
        self.table = torch.full((n_seq, n_cam, n_frame), -1, dtype=torch.long)
        self.table[studio.sequence[rows], studio.camera[rows], studio.frame[rows]] = rows

    def at(self, sequence: int, camera: int, frame: int) -> int:
        return int(self.table[sequence, camera, frame])


def _rows(studio: Studio, subjects: Sequence[str] | None) -> Tensor:
    rows = studio.select(subjects=subjects) if subjects is not None else torch.arange(studio.n)
    if rows.numel() == 0:
        raise DprobeError(f"no crops for subjects {list(subjects or [])}")
    return rows


class _Epoched(Dataset):
    """A dataset whose random partners change with ``set_epoch``."""

    seed: int = 0
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the items' random partners afresh for ``epoch`` (deterministically)."""
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, index, self.epoch])


def _pair(studio: Studio, i: int, suffix: str) -> dict[str, Tensor]:
    return {f"crop{suffix}": studio.image(i), f"bg{suffix}": studio.background(i)}


class MultiViewPairs(_Epoched):
    """One instant seen by two cameras ``i != j`` (NSD), plus another frame of the subject.

    Items: ``crop_i, bg_i, crop_j, bg_j``; ``R_i, R_j`` (3, 3) world->camera; ``app_j, bg_app_j``
    (the same subject at another instant of the same sequence, camera j); ``subject``. The
    dataset enumerates every instant with every ordered camera pair.
    """

    def __init__(self, studio: Studio, subjects: Sequence[str] | None = None, seed: int = 0):
        self.studio, self.seed = studio, seed
        self.index = _Index(studio, _rows(studio, subjects))
        seen = (self.index.table >= 0)                              # (seq, cam, frame)
        pairs = []
        n_cam = seen.shape[1]
        for ci in range(n_cam):
            for cj in range(n_cam):
                if ci != cj:
                    both = (seen[:, ci] & seen[:, cj]).nonzero()
                    cams = torch.tensor([ci, cj]).expand(both.shape[0], 2)
                    pairs.append(torch.cat((both, cams), dim=1))
        if not pairs or sum(p.shape[0] for p in pairs) == 0:
            raise DprobeError("multi-view pairs need instants seen by at least two cameras")
        self.pairs = torch.cat(pairs)                               # (seq, frame, ci, cj)
        self.frames = seen.any(dim=1).sum(dim=1)                    # frames per sequence

    def __len__(self) -> int:
        return self.pairs.shape[0]

    def __getitem__(self, k: int) -> dict[str, Tensor]:
        seq, frame, ci, cj = (int(v) for v in self.pairs[k])
        i, j = self.index.at(seq, ci, frame), self.index.at(seq, cj, frame)
        rng = self.rng(k)
        others = (self.index.table[seq, cj] >= 0).nonzero().flatten()
        other = others[others != frame]
        app_frame = int(other[rng.integers(len(other))]) if len(other) else frame
        a = self.index.at(seq, cj, app_frame)
        s = self.studio
        return {**_pair(s, i, "_i"), **_pair(s, j, "_j"),
                "R_i": s.rotation(i), "R_j": s.rotation(j),
                "app_j": s.image(a), "bg_app_j": s.background(a), "subject": s.subject[i]}


class _Temporal(_Epoched):
    """Frames of one sequence and camera, within ``max_gap`` frames of a start frame."""

    def __init__(self, studio: Studio, max_gap: int, subjects: Sequence[str] | None, seed: int):
        if max_gap < 0:
            raise DprobeError(f"max_gap must be >= 0, got {max_gap}")
        self.studio, self.max_gap, self.seed = studio, max_gap, seed
        self.rows = _rows(studio, subjects)
        self.index = _Index(studio, self.rows)

    def __len__(self) -> int:
        return self.rows.numel()

    def _frames_near(self, k: int, count: int) -> tuple[list[int], int]:
        """Crop indices of ``count`` frames: the k-th row's frame, then others within the gap."""
        s = self.studio
        i = int(self.rows[k])
        seq, cam, frame = int(s.sequence[i]), int(s.camera[i]), int(s.frame[i])
        valid = (self.index.table[seq, cam] >= 0).nonzero().flatten()
        near = valid[(valid - frame).abs() <= self.max_gap]
        rng = self.rng(k)
        picks = [frame] + [int(near[rng.integers(len(near))]) for _ in range(count - 1)]
        return [self.index.at(seq, cam, f) for f in picks], seq


class TemporalPairs(_Temporal):
    """Two frames of one sequence and camera, at most ``max_gap`` frames apart (CSSL).

    Items: ``crop_1, bg_1, crop_2, bg_2``, ``gap`` (float, frames, >= 0), ``subject``,
    ``sequence``.
    """

    def __init__(self, studio: Studio, max_gap: int = 12, subjects: Sequence[str] | None = None,
                 seed: int = 0):
        super().__init__(studio, max_gap, subjects, seed)

    def __getitem__(self, k: int) -> dict[str, Tensor]:
        (i, j), seq = self._frames_near(k, 2)
        s = self.studio
        gap = (s.frame[i] - s.frame[j]).abs().float()
        return {**_pair(s, i, "_1"), **_pair(s, j, "_2"), "gap": gap,
                "subject": s.subject[i], "sequence": torch.tensor(seq)}


class TemporalQuads(_Temporal):
    """Four frames of one sequence and camera within ``max_gap`` frames (DRNet).

    Items: ``crops (4, 3, c, c)``, ``bgs (4, 3, c, c)``, ``subject``, ``sequence``.
    """

    def __init__(self, studio: Studio, max_gap: int = 24, subjects: Sequence[str] | None = None,
                 seed: int = 0):
        super().__init__(studio, max_gap, subjects, seed)

    def __getitem__(self, k: int) -> dict[str, Tensor]:
        idx, seq = self._frames_near(k, 4)
        s = self.studio
        return {"crops": s.image(idx), "bgs": s.background(idx), "subject": s.subject[idx[0]],
                "sequence": torch.tensor(seq)}


class LabelledFrames(Dataset):
    """Frames with 3D pose labels (the regressor's data, and evaluation).

    Items: ``crop, bg``; ``pose (17, 3)`` root-relative camera-frame joints in mm; ``box (3,)``
    px; ``theta (2, 3)``; ``subject``; ``camera``; with ``with_frame`` also ``frame (3, H, W)``,
    the composited full frame (for the detector). ``fraction`` keeps a seeded random subset.
    """

    def __init__(self, studio: Studio, subjects: Sequence[str] = ("S1",), fraction: float = 1.0,
                 with_frame: bool = False, seed: int = 0):
        if not 0 < fraction <= 1:
            raise DprobeError(f"fraction must be in (0, 1], got {fraction}")
        self.studio, self.with_frame = studio, with_frame
        rows = _rows(studio, subjects)
        if fraction < 1:
            g = torch.Generator().manual_seed(seed)
            keep = max(1, round(fraction * rows.numel()))
            rows = rows[torch.randperm(rows.numel(), generator=g)[:keep]].sort().values
        self.rows = rows

    def __len__(self) -> int:
        return self.rows.numel()

    def __getitem__(self, k: int) -> dict[str, Tensor]:
        s, i = self.studio, int(self.rows[k])
        item = {"crop": s.image(i), "bg": s.background(i), "pose": s.pose(i),
                "box": s.boxes[i], "theta": s.theta(i)[0], "subject": s.subject[i],
                "camera": s.camera[i]}
        if self.with_frame:
            item["frame"] = s.full_frame(i)[0]
        return item


class EvalFrames(LabelledFrames):
    """All labelled frames of one subject, for evaluation (items as ``LabelledFrames``)."""

    def __init__(self, studio: Studio, subject: str, with_frame: bool = False):
        super().__init__(studio, subjects=(subject,), with_frame=with_frame)
