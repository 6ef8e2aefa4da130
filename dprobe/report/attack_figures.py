"""Pictures of the appearance-only attack: the paper's Figure 7, a 3D pose panel and a
robustness curve (PNG).

Figure 7 analogue, one row per example: (a) the target's crop of the input frame, (b) the
generator's reconstruction (the unattacked synthesised crop), (c) the attacked crop, and as 3D
skeletons (root-relative, camera frame, mm; drawn with y and z flipped so up is up): (d) the
ground truth, (e) the prediction on the input, (f) the prediction on the attacked image, each
titled with its MPJPE.

The pose panel (``pose_figure``, ``plot_poses``: the report's attack examples) overlays several
poses of one example on one 3D axes, each in its colour and named in a legend: by default the
ground truth, the prediction on the initial synthesis and the prediction on the attacked image
(``EXAMPLE_PANEL``), with axes in mm. Bones follow ``dprobe.data.skeleton.PARENTS`` (the
Human3.6M joint order); the person's left limbs are drawn lighter.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from dprobe.joints import PARENTS

__all__ = ["EXAMPLE_PANEL", "AttackExample", "plot_attack_examples", "plot_poses",
           "plot_robustness", "pose_figure"]

AttackExample = Mapping[str, object]
"""One example: ``x_input``, ``x_initial``, ``x_final`` crops ``(3, c, c)`` in [0, 1];
``truth``, ``q``, ``pred_final`` poses ``(17, 3)`` mm; ``initial_mpjpe_mm``,
``final_mpjpe_mm``, ``q_vs_truth_mpjpe_mm`` (mm); ``label`` (text)."""

#: The poses of a sweep's attack example (``dprobe.sweep.items.EXAMPLE_POSE_KEYS``) the report's
#: pose panel draws: stored name -> (legend label, colour).
EXAMPLE_PANEL = {"truth_mm": ("ground truth", "tab:green"),
                 "initial_pred_mm": ("prediction on the initial synthesis", "tab:blue"),
                 "final_pred_mm": ("prediction on the attacked image", "tab:red")}
#: Half the side of the cube the poses are drawn in (mm), at least.
REACH_MM = 1000.0

_LEFT = {4, 5, 6, 11, 12, 13}


def _image(ax, crop: Tensor, title: str) -> None:
    ax.imshow(crop.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy())
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def _upright(pose: Tensor | Sequence) -> np.ndarray:
    """``pose (17, 3)`` (camera frame, mm) as plot coordinates ``(17, 3)``: camera x right,
    depth z, up (-y), mm."""
    p = pose.detach().cpu().numpy() if isinstance(pose, Tensor) else np.asarray(pose, float)
    return np.stack((p[:, 0], p[:, 2], -p[:, 1]), axis=1)


def _draw_pose(ax, pose: Tensor | Sequence, colour: str, label: str | None = None) -> None:
    """The bones and joints of ``pose (17, 3)`` (camera frame, mm) on 3D axes; ``label`` names
    it in the legend."""
    x, y, z = _upright(pose).T
    for j, parent in enumerate(PARENTS):
        if parent >= 0:
            ax.plot([x[j], x[parent]], [y[j], y[parent]], [z[j], z[parent]],
                    color=colour, alpha=0.55 if j in _LEFT else 1.0, linewidth=2,
                    label=label if j == 1 else None)
    ax.scatter(x, y, z, s=4, color="k")


def _cube(ax, reach: float, azim: float = -80) -> None:
    """Equal limits ``[-reach, reach]`` (mm) on every axis, seen from slightly above and
    ``azim`` degrees around (-90: from the camera)."""
    ax.set_xlim(-reach, reach), ax.set_ylim(-reach, reach), ax.set_zlim(-reach, reach)
    ax.view_init(elev=10, azim=azim)


def _skeleton(ax, pose: Tensor, title: str, colour: str) -> None:
    """A 3D skeleton of ``pose (17, 3)`` (camera frame, mm) seen from slightly above."""
    _draw_pose(ax, pose, colour)
    _cube(ax, REACH_MM)
    ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
    ax.set_title(title, fontsize=8)


def pose_figure(poses: Mapping[str, tuple[Tensor | Sequence, str]], title: str = "") -> Figure:
    """One 3D axes with every pose of ``poses`` (legend label -> (pose ``(17, 3)`` mm,
    root-relative, camera frame; colour)) overlaid, in a cube of at least ``REACH_MM`` seen
    obliquely (depth shows); axes labelled in mm, the legend under the axes."""
    fig = Figure(figsize=(4.0, 4.4))
    ax = fig.add_axes((0.0, 0.17, 0.86, 0.76), projection="3d")
    for label, (pose, colour) in poses.items():
        _draw_pose(ax, pose, colour, label)
    reach = max([REACH_MM, *(float(np.abs(_upright(p)).max()) for p, _ in poses.values())])
    _cube(ax, reach, azim=-55)
    ax.set_xlabel("x (mm)", fontsize=7), ax.set_ylabel("depth z (mm)", fontsize=7)
    ax.set_zlabel("up, -y (mm)", fontsize=7)
    ax.locator_params(nbins=5)
    ax.tick_params(labelsize=6)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


def plot_poses(poses: Mapping[str, Sequence], path: str | Path, title: str = "",
               panel: Mapping[str, tuple[str, str]] = EXAMPLE_PANEL) -> None:
    """The pose panel of an attack example (``poses``: stored name -> ``(17, 3)`` mm, as
    ``dprobe.sweep.items`` stores them) written to ``path`` (PNG): the poses ``panel`` names
    (name -> (legend label, colour)), see ``pose_figure``."""
    drawn = {label: (poses[name], colour) for name, (label, colour) in panel.items()}
    pose_figure(drawn, title).savefig(path, dpi=90)


def plot_attack_examples(examples: Sequence[AttackExample], path: str | Path) -> None:
    """The Figure 7 analogue (see the module doc) for ``examples``, written to ``path`` (PNG)."""
    fig = Figure(figsize=(12, 2.3 * max(len(examples), 1)))
    for r, ex in enumerate(examples):
        cells = [fig.add_subplot(len(examples), 6, 6 * r + c + 1,
                                 projection="3d" if c >= 3 else None) for c in range(6)]
        _image(cells[0], ex["x_input"], f"(a) input\n{ex['label']}")
        _image(cells[1], ex["x_initial"],
               f"(b) reconstruction\n{ex['initial_mpjpe_mm']:.0f} mm from (e)")
        _image(cells[2], ex["x_final"], f"(c) attacked\n{ex['final_mpjpe_mm']:.0f} mm from (e)")
        _skeleton(cells[3], ex["truth"], "(d) ground truth", "tab:green")
        _skeleton(cells[4], ex["q"], f"(e) on input\nMPJPE {ex['q_vs_truth_mpjpe_mm']:.0f} mm",
                  "tab:blue")
        _skeleton(cells[5], ex["pred_final"],
                  f"(f) on attacked\n{ex['final_mpjpe_mm']:.0f} mm from (e)", "tab:red")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_robustness(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                    path: str | Path, threshold_mm: float | None = None) -> None:
    """Success rate against the threshold: one line per ``label -> (thresholds mm, rates)``;
    ``threshold_mm`` (the threshold the attack ran with) is marked."""
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    for label, (thresholds, rates) in curves.items():
        ax.plot(np.asarray(thresholds), 100 * np.asarray(rates), label=label)
    if threshold_mm is not None:
        ax.axvline(threshold_mm, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("threshold (MPJPE to the prediction on the input, mm)")
    ax.set_ylabel("attacks past the threshold (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
