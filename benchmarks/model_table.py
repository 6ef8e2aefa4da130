"""Markdown table of the trained models' held-out figures (issue 4), from their figures.json.

    python benchmarks/model_table.py [--runs runs]

Reads the shipped models (dprobe/models/weights/*/figures.json, S1 labels), the same encoders
with labels from all five training subjects (RUNS/<name>-all) and the supervised upper bound
(RUNS/supervised), as written by benchmarks/train_models.sh.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from dprobe.models.registry import SHIPPED, WEIGHTS_DIR

COLUMNS = (("psnr", "PSNR dB", "{:.2f}"), ("psnr_mask", "PSNR in mask", "{:.2f}"),
           ("ssim", "SSIM", "{:.3f}"), ("ssim_mask", "SSIM in mask", "{:.3f}"),
           ("novel_view_psnr", "novel-view PSNR", "{:.2f}"), ("mpjpe", "MPJPE mm", "{:.1f}"),
           ("n_mpjpe", "N-MPJPE", "{:.1f}"), ("p_mpjpe", "P-MPJPE", "{:.1f}"),
           ("mean_pose_mpjpe", "mean-pose MPJPE", "{:.1f}"))


def row(label: str, path: Path) -> str:
    """One table row of a figures.json: pooled S9+S11 figures, the bar ratio, training time."""
    if not path.is_file():
        return f"| {label} | " + " | ".join("missing" for _ in range(len(COLUMNS) + 3)) + " |"
    fig = json.loads(path.read_text())
    overall = fig["all"]
    cells = [fmt.format(overall[key]) if key in overall else "-" for key, _, fmt in COLUMNS]
    ratio = (f"{overall['mpjpe'] / overall['mean_pose_mpjpe']:.2f}"
             if "mpjpe" in overall and "mean_pose_mpjpe" in overall else "-")
    training = fig.get("training") or {}
    minutes = f"{training['seconds'] / 60:.1f}" if training.get("seconds") else "-"
    rate = (f"{training['steps_done'] / training['seconds']:.2f}"
            if training.get("seconds") and training.get("steps_done") else "-")
    return f"| {label} | " + " | ".join(cells + [ratio, minutes, rate]) + " |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", default="runs")
    args = p.parse_args()
    runs = Path(args.runs)
    header = ["model (regressor labels)"] + [title for _, title, _ in COLUMNS] + [
        "MPJPE / mean-pose", "train min", "steps/s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in SHIPPED:
        print(row(f"{name} (S1, shipped)", WEIGHTS_DIR / name / "figures.json"))
        print(row(f"{name} (S1 S5 S6 S7 S8)", runs / f"{name}-all" / "figures.json"))
    print(row("supervised upper bound (S1 S5 S6 S7 S8, end to end)",
              runs / "supervised" / "figures.json"))


if __name__ == "__main__":
    main()
