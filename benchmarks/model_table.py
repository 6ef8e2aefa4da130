"""Markdown table of the trained models' held-out figures (issues 4, 12), from their figures.json.

    python benchmarks/model_table.py [--runs runs]

Reads the shipped models (dprobe/models/weights/*/figures.json, S1 labels), the same encoders
with labels from all five training subjects (RUNS/<shipped name>-all) and the supervised upper
bound (RUNS/supervised), as written by benchmarks/train_models.sh. A missing file gives "-" cells.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from dprobe.models.registry import SHIPPED, WEIGHTS_DIR
from dprobe.report.tables import MODEL_FIGURE_COLUMNS, markdown_table

COLUMNS = (*MODEL_FIGURE_COLUMNS, ("ratio", "MPJPE / mean-pose", "{:.2f}"),
           ("minutes", "train min", "{:.1f}"), ("rate", "steps/s", "{:.2f}"))


def row(path: Path) -> dict:
    """The pooled S9+S11 figures of a figures.json, with the bar ratio and the training time
    (empty if the file is missing)."""
    if not path.is_file():
        return {}
    fig = json.loads(path.read_text())
    overall = dict(fig["all"])
    if "mpjpe" in overall and "mean_pose_mpjpe" in overall:
        overall["ratio"] = overall["mpjpe"] / overall["mean_pose_mpjpe"]
    training = fig.get("training") or {}
    if training.get("seconds"):
        overall["minutes"] = training["seconds"] / 60
        if training.get("steps_done"):
            overall["rate"] = training["steps_done"] / training["seconds"]
    return overall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", default="runs")
    args = p.parse_args()
    runs = Path(args.runs)
    rows = {}
    for name in SHIPPED:
        rows[f"{name} (S1, shipped)"] = row(WEIGHTS_DIR / name / "figures.json")
        rows[f"{name} (S1 S5 S6 S7 S8)"] = row(runs / f"{name}-all" / "figures.json")
    rows["supervised upper bound (S1 S5 S6 S7 S8, end to end)"] = row(
        runs / "supervised" / "figures.json")
    print(markdown_table(rows, COLUMNS, label="model (regressor labels)"), end="")


if __name__ == "__main__":
    main()
