"""PNG figures of the probes, each titled with the paper figure it mirrors.

Every figure function takes a probe's result object (``dprobe.probes.*``) and a path, and
writes one PNG readable without the code: titles, axis labels with units, colour bars, a
caption. A probe's figures are drawn by the writer registered for its name
(``@figure_writer("swap")``: ``(result, folder, model) -> file names``; figures are the report's
part of a probe, see ``dprobe.probes.registry``); ``write_probe_figures`` calls it.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from torch import Tensor

from dprobe.probes.base import ProbeResult
from dprobe.probes.registry import probe_names
from dprobe.report.sweep_tables import fmt

__all__ = ["FIGURE_WRITERS", "channel_curves", "channel_strip", "figure_writer", "image_grid",
           "swap_matrix", "tsne_plot", "write_probe_figures"]

DPI = 90

#: ``(result, folder, model) -> file names``: draws one probe's figures into a folder.
ProbeFigures = Callable[[ProbeResult, Path, str], list[str]]
#: The figure writer of each probe that has figures, by probe name.
FIGURE_WRITERS: dict[str, ProbeFigures] = {}


def figure_writer(probe: str) -> Callable[[ProbeFigures], ProbeFigures]:
    """Register the decorated function as the figure writer of the probe named ``probe``."""
    if probe not in probe_names():
        raise ValueError(f"no probe named {probe!r} is registered")

    def register(writer: ProbeFigures) -> ProbeFigures:
        FIGURE_WRITERS[probe] = writer
        return writer

    return register


def _save(fig, path: Path, caption: str) -> None:
    fig.text(0.5, 0.005, caption, ha="center", va="bottom", fontsize=7, wrap=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _to_numpy(image: Tensor) -> np.ndarray:
    return image.detach().clamp(0, 1).permute(1, 2, 0).numpy()


def image_grid(rows: dict[str, Tensor], path: Path, title: str, caption: str,
               column_titles: list[str] | None = None) -> None:
    """A grid of images: one row per entry of ``rows`` (``(n, 3, H, W)`` in [0, 1])."""
    names = list(rows)
    n = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(names), n, figsize=(1.3 * n + 1.2, 1.3 * len(names) + 0.9),
                             squeeze=False)
    for r, name in enumerate(names):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c < len(rows[name]):
                ax.imshow(_to_numpy(rows[name][c]))
            else:
                ax.axis("off")
            if c == 0:
                ax.set_ylabel(name, fontsize=7)
            if r == 0 and column_titles and c < len(column_titles):
                ax.set_title(column_titles[c], fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    _save(fig, path, caption)


def swap_matrix(result, path: Path, model: str) -> None:
    """Heat map of the appearance leak per (pose subject, appearance subject)."""
    m = np.array([[np.nan if v is None else v for v in row] for row in result.leak], dtype=float)
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    defined = m[~np.isnan(m)]
    low, high = (min(0.0, defined.min()), max(1.0, defined.max())) if defined.size else (0.0, 1.0)
    im = ax.imshow(m, cmap="magma", vmin=low, vmax=high)
    ax.set_xticks(range(len(result.subjects)), result.subjects)
    ax.set_yticks(range(len(result.subjects)), result.subjects)
    ax.set_xlabel("appearance code from subject B")
    ax.set_ylabel("pose code from subject A")
    for i in range(len(m)):
        for j in range(len(m)):
            if not np.isnan(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] < 0.6 else "black")
    fig.colorbar(im, ax=ax, label="appearance leak (0 = B's look, 1 = A's kept)")
    ax.set_title(f"{model}: appearance leak of D(h_a(B), h_p(A)) (cf. paper Fig. 2)", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    _save(fig, path, "Leak over A's person mask against the model's reconstructions of the "
          "studio renders pose A x appearance A / B; mean over frames and cameras.")


def channel_curves(result, path: Path, model: str) -> None:
    """K-sweep curves: share of B's pose and appearance against K, both channel orders."""
    c = result.curves
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, order in zip(axes[:2], ("lowest", "highest")):
        for key, style, label in (("pose_b", "o-", "B's pose (projection)"),
                                  ("pose_b_regressor", "s--", "B's pose (regressor)"),
                                  ("appearance_b", "^-", "B's appearance (projection)")):
            if c[f"{order}_{key}"] is not None:  # a real capture has no projection scores
                ax.plot(c["k"], c[f"{order}_{key}"], style, label=label)
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel(f"K: pose-code channels of {order} appearance probability taken from B")
        ax.set_ylabel("share of B (0 = A, 1 = B)")
        ax.set_title(f"{order} first", fontsize=9)
        ax.legend(fontsize=7)
    p = np.sort(result.probability.numpy())[::-1]
    axes[2].plot(np.arange(1, len(p) + 1), p)
    axes[2].set_xlabel("channel rank (by appearance probability)")
    axes[2].set_ylabel("appearance probability")
    axes[2].set_title("appearance probability per channel (cf. Fig. 5)", fontsize=9)
    fig.suptitle(f"{model}: replacing A's pose-code channels by B's, decoded with A's "
                 "appearance (cf. paper Fig. 6)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.93))
    _save(fig, path, f"A = {result.settings['a']}, B = {result.settings['b']} "
          f"({result.settings['pairs']} frame pairs); projection onto D(E(.)) of the four studio "
          "renders pose {A,B} x appearance {A,B}"
          + ("" if result.settings["pairing"] != "nearest pose" else
             f"; real capture: probabilities from nearest-pose pairs "
             f"({result.settings['pair_distance_mm']:.0f} mm apart), no projection") + ".")


def channel_strip(result, path: Path, model: str) -> None:
    """The paper-style strip: A, the decoded images for each K (both orders), B."""
    ks = result.curves["k"]
    rows = {order: [result.strip["A"], *[result.strip[f"{order} K={k}"] for k in ks],
                    result.strip["B"]] for order in ("lowest", "highest")}
    image_grid(rows, path, f"{model}: K channels of lowest / highest appearance probability "
               "taken from B (cf. paper Fig. 6)",
               "Left: image A (appearance code kept); right: image B; between: K = "
               f"{ks[0]}..{ks[-1]}.", ["A", *[f"K={k}" for k in ks], "B"])


def tsne_plot(result, path: Path, model: str) -> None:
    """t-SNE of one subject's appearance codes coloured by action."""
    fig, ax = plt.subplots(figsize=(6.4, 5))
    cmap = plt.get_cmap("tab10")
    for a in np.unique(result.tsne_actions):
        pts = result.tsne[result.tsne_actions == a]
        ax.scatter(pts[:, 0], pts[:, 1], s=10, color=cmap(int(a) % 10),
                   label=result.action_names[int(a)])
    ax.set_xlabel("t-SNE dimension 1 (arbitrary units)")
    ax.set_ylabel("t-SNE dimension 2 (arbitrary units)")
    ax.legend(fontsize=7, markerscale=1.5, title="action", title_fontsize=7)
    subject = result.numbers_["settings"]["tsne_subject"]
    acc = result.numbers_["action_from_h_a"]
    ax.set_title(f"{model}: t-SNE of {subject}'s appearance codes by action (cf. paper Fig. 4)",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    _save(fig, path, f"Linear probe of action from h_a (all subjects): accuracy "
          f"{acc['accuracy']:.2f}, chance {acc['chance']:.2f}.")


@figure_writer("swap")
def _swap_figures(result, out: Path, model: str) -> list[str]:
    swap_matrix(result, out / "swap_leak_matrix.png", model)
    f = result.featured
    image_grid(result.examples, out / "swap_images.png",
               f"{model}: pose of {f['pose_subject']}, appearance code of "
               f"{f['appearance_subject']} (cf. paper Fig. 2)",
               f"leak {fmt(f['leak'], 2)} (0 = clean swap; - = undefined); rows: inputs, the synthesis, the "
               "model's reconstruction of the studio's counterfactual, the counterfactual.")
    return ["swap_leak_matrix.png", "swap_images.png"]


@figure_writer("zero")
def _zero_figures(result, out: Path, model: str) -> list[str]:
    n = result.numbers_
    image_grid(result.examples, out / "zero_appearance_images.png",
               f"{model}: one pose worn by each subject, decoded with zero / mean appearance "
               "code (cf. paper Fig. 3)",
               f"retention with h_a = 0: {fmt(n['retention_zero'], 2)}, with mean h_a: "
               f"{fmt(n['retention_mean'], 2)} (1 = the pose code keeps all the appearance; "
               "- = undefined).",
               n["subjects"])
    return ["zero_appearance_images.png"]


@figure_writer("channels")
def _channel_figures(result, out: Path, model: str) -> list[str]:
    channel_curves(result, out / "channel_curves.png", model)
    channel_strip(result, out / "channel_strip.png", model)
    return ["channel_curves.png", "channel_strip.png"]


@figure_writer("embed")
def _embedding_figures(result, out: Path, model: str) -> list[str]:
    tsne_plot(result, out / "tsne_appearance.png", model)
    return ["tsne_appearance.png"]


def write_probe_figures(probe: str, result: ProbeResult, out: Path, model: str) -> list[str]:
    """Write the figures of one probe's result into ``out`` (none for a probe without a figure
    writer); returns the file names."""
    writer = FIGURE_WRITERS.get(probe)
    return [] if writer is None else writer(result, out, model)
