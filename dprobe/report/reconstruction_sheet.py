"""A picture of a model's reconstructions: input, reconstruction and appearance-swap rows."""
from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["write_reconstruction_sheet"]

ROWS = (("input", "input crop"), ("reconstruction", "reconstruction D(E(x))"),
        ("swap", "swap D(h_a(next subject), h_p(x))"))


def write_reconstruction_sheet(examples: dict, out: str | Path, title: str) -> Path:
    """Write ``examples`` (from ``dprobe.probes.evaluate.reconstruction_examples``) as a PNG:
    one row per kind of image, one column per frame, labelled by subject."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = examples["input"].shape[0]
    fig, axes = plt.subplots(len(ROWS), n, figsize=(1.1 * n + 1.6, 1.2 * len(ROWS) + 0.6),
                             squeeze=False)
    for r, (key, label) in enumerate(ROWS):
        images = examples[key].clamp(0, 1).permute(0, 2, 3, 1)
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(images[i].to(torch.float32).numpy(), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(examples["subject"][i], fontsize=8)
            if i == 0:
                ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.22, right=0.99, top=0.86, bottom=0.02, wspace=0.05, hspace=0.08)
    out = Path(out)
    fig.savefig(out, dpi=100, format="png")
    plt.close(fig)
    return out
