"""Contact sheet of a capture: subjects (rows) x actions (columns) x cameras, as a PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dprobe.data.studio import Studio
from dprobe.joints import PARENTS


def pick_frames(studio: Studio, subjects: list[str], cameras: list[int]) -> np.ndarray:
    """Crop index ``(S, A, C)`` of the middle frame of each subject's first sequence of each
    action, per camera; -1 where the capture has none."""
    out = np.full((len(subjects), len(studio.action_names), len(cameras)), -1, dtype=np.int64)
    for si, name in enumerate(subjects):
        sid = studio.subject_id(name)
        for a in range(len(studio.action_names)):
            rows = ((studio.subject == sid) & (studio.action == a)).nonzero().flatten()
            if rows.numel() == 0:
                continue
            seq = int(studio.sequence[rows].min())
            for ci, cam in enumerate(cameras):
                sel = rows[(studio.sequence[rows] == seq) & (studio.camera[rows] == cam)]
                if sel.numel():
                    out[si, a, ci] = int(sel[sel.numel() // 2])
    return out


def write_contact_sheet(studio: Studio, out: str | Path, subjects: list[str] | None = None,
                        cameras: list[int] | None = None, joints: bool = False,
                        scale: int = 2) -> Path:
    """Write the sheet to ``out`` (PNG); with ``joints`` the 2D skeleton is drawn on each crop."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subjects = subjects or [n for n in studio.subject_names if not n.startswith("C")] or \
        studio.subject_names[:8]
    cameras = cameras if cameras is not None else [0]
    idx = pick_frames(studio, subjects, cameras)
    S, A, C = idx.shape
    c = studio.crop_size
    cell = c * scale
    fig_w, fig_h = (A * C * cell + 120) / 100, (S * cell + 60) / 100
    fig, axes = plt.subplots(S, A * C, figsize=(fig_w, fig_h), dpi=100, squeeze=False)
    for si in range(S):
        for a in range(A):
            for ci in range(C):
                ax = axes[si, a * C + ci]
                ax.set_xticks([]), ax.set_yticks([])
                i = int(idx[si, a, ci])
                if i >= 0:
                    ax.imshow(studio.crops[i].numpy(), extent=(0, c, c, 0), interpolation="nearest")
                    if joints:
                        _draw_joints(ax, studio, i)
                if si == 0:
                    ax.set_title(f"{studio.action_names[a]}\ncam {cameras[ci]}", fontsize=6)
                if a == 0 and ci == 0:
                    ax.set_ylabel(subjects[si], fontsize=8)
    fig.subplots_adjust(left=0.03, right=0.995, top=0.93, bottom=0.005, wspace=0.03, hspace=0.03)
    out = Path(out)
    fig.savefig(out)
    plt.close(fig)
    return out


def _draw_joints(ax, studio: Studio, i: int) -> None:
    cx, cy, size = studio.boxes[i].tolist()
    c = studio.crop_size
    uv = (studio.joints2d[i] - torch.tensor([cx - size / 2, cy - size / 2])) * (c / size)
    for j, p in enumerate(PARENTS):
        if p >= 0:
            colour = "tab:orange" if j in (1, 2, 3, 14, 15, 16) else "tab:cyan"
            ax.plot(uv[[p, j], 0], uv[[p, j], 1], color=colour, linewidth=0.8)
    ax.scatter(uv[:, 0], uv[:, 1], s=2, color="white", zorder=3)
    ax.set_xlim(0, c), ax.set_ylim(c, 0)
