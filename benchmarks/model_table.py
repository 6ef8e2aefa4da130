"""The trained models' held-out figures, from their figures.json.

    python -m benchmarks.model_table [--runs runs] [--json [FILE]]

Prints a Markdown table of the shipped models (dprobe/models/weights/*/figures.json, S1
labels), the same encoders with labels from all five training subjects (RUNS/<shipped
name>-all) and the supervised upper bound (RUNS/supervised), as written by
experiments/train_models.sh. A missing file gives "-" cells. ``--json`` writes the rows that
are not shipped (five-subject regressors, supervised bound) as the results record
benchmarks/results/models.json; the shipped models' own section of the results page is
``shipped_section``, read from their figures.json files.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from benchmarks.record import RESULTS_DIR, column, command_line, make_record, table, write_record
from dprobe.models.registry import BASELINES, FRAMEWORK_MODELS, SHIPPED, WEIGHTS_DIR
from dprobe.report.tables import MODEL_FIGURE_COLUMNS, markdown_table

COLUMNS = (*MODEL_FIGURE_COLUMNS, ("ratio", "MPJPE / mean-pose", "{:.2f}"),
           ("minutes", "train min", "{:.1f}"), ("rate", "steps/s", "{:.2f}"))
#: The pose columns of the rows that are not shipped (their pictures are the shipped ones').
REFERENCE_COLUMNS = (("mpjpe", "MPJPE mm", "{:.1f}"), ("n_mpjpe", "N-MPJPE mm", "{:.1f}"),
                     ("p_mpjpe", "P-MPJPE mm", "{:.1f}"),
                     ("mean_pose_mpjpe", "mean-pose MPJPE mm", "{:.1f}"),
                     ("reconstruction_shift", "shift from reconstruction mm", "{:.1f}"),
                     ("ratio", "MPJPE / mean-pose", "{:.2f}"))
#: The shipped models' figures on the page: the picture, then the pose.
PICTURE_COLUMNS = ("psnr", "psnr_mask", "psnr_arms", "psnr_legs", "ssim", "ssim_mask",
                   "novel_view_psnr", "code_variance_a", "code_variance_p")
POSE_COLUMNS = (("mpjpe", "MPJPE mm", "{:.1f}"), ("n_mpjpe", "N-MPJPE mm", "{:.1f}"),
                ("p_mpjpe", "P-MPJPE mm", "{:.1f}"),
                ("mean_pose_mpjpe", "mean-pose MPJPE mm", "{:.1f}"),
                ("ratio", "MPJPE / mean-pose", "{:.3f}"),
                ("reconstruction_shift", "shift from reconstruction mm", "{:.1f}"),
                ("detected_mpjpe", "MPJPE on detected crops mm", "{:.1f}"),
                ("detector_iou", "detector box IoU", "{:.3f}"))
#: The quality bars the shipped models are held to: figure, text, "at_least" or "at_most", the
#: bar, and its format on the page.
BARS = (("psnr", "whole-crop PSNR >= 25 dB", "at_least", 25.0, "{:.1f}"),
        ("psnr_mask", "PSNR in the mask >= 22 dB", "at_least", 22.0, "{:.1f}"),
        ("reconstruction_shift", "shift from reconstruction <= 30 mm", "at_most", 30.0,
         "{:.1f}"),
        ("ratio", "S1 MPJPE <= 0.70 x the mean pose's (DRNet: 0.85 x)", "at_most", 0.70,
         "{:.3f}"))
#: A model held to another bar than ``BARS``': DRNet's pose bar.
BAR_EXCEPTIONS = {("drnet", "ratio"): 0.85}


def row(path: Path) -> dict:
    """The pooled S9+S11 figures of a figures.json, with the bar ratio and the training time
    (empty if the file is missing)."""
    if not path.is_file():
        return {}
    fig = json.loads(path.read_text())
    overall = dict(fig["all"])
    if "mpjpe" in overall and "mean_pose_mpjpe" in overall:
        overall["ratio"] = overall["mpjpe"] / overall["mean_pose_mpjpe"]
        found = overall.get("intervals", {}).get("mpjpe_over_mean_pose")
        if found is not None:
            overall["intervals"] = {**overall["intervals"], "ratio": found}
    training = fig.get("training") or {}
    if training.get("seconds"):
        overall["minutes"] = training["seconds"] / 60
        if training.get("steps_done"):
            overall["rate"] = training["steps_done"] / training["seconds"]
    return overall


def training_totals(path: Path) -> tuple[int, float]:
    """Training steps and minutes of a model, counting the run it continued from (``init``)."""
    fig = json.loads(path.read_text())
    runs = [r for r in (fig.get("init"), fig.get("training")) if r]
    return (sum(r.get("steps_done", 0) for r in runs),
            sum(r.get("seconds", 0.0) for r in runs) / 60)


def _bar_cell(name: str, figures: dict, key: str, side: str, bar: float, fmt: str) -> str:
    """A quality bar's verdict: met / missed when the figure's 95 % interval lies wholly on
    one side of the bar (the value alone where the figure has no interval), cannot tell when
    the interval holds the bar."""
    value = figures.get(key)
    if value is None:
        return "-"
    bar = BAR_EXCEPTIONS.get((name, key), bar)
    interval = figures.get("intervals", {}).get(key) or {}
    low, high = interval.get("low", value), interval.get("high", value)
    if low is not None and high is not None and low <= bar <= high and low < high:
        return f"cannot tell {_cell(figures, key, fmt)}"
    met = value >= bar if side == "at_least" else value <= bar
    return f"{'met' if met else 'missed'} {_cell(figures, key, fmt)}"


def _interval_cell(figures: dict, key: str, fmt: str):
    """A table cell: the number where the figure has no interval (the table formats it), else
    ``value [low, high]`` text."""
    interval = figures.get("intervals", {}).get(key) or {}
    if interval.get("low") is None or interval.get("high") is None:
        return figures.get(key)
    return _cell(figures, key, fmt)


def _cell(figures: dict, key: str, fmt: str) -> str | None:
    """A figure as ``value [low, high]`` text where it has an interval, else the value as
    text."""
    value = figures.get(key)
    interval = figures.get("intervals", {}).get(key) or {}
    if value is None:
        return None
    if interval.get("low") is None or interval.get("high") is None:
        return fmt.format(value)
    return f"{fmt.format(value)} [{fmt.format(interval['low'])}, {fmt.format(interval['high'])}]"


def shipped_section(weights_dir: Path = WEIGHTS_DIR) -> dict:
    """The results page's section of the shipped models (a record without host and date:
    each model's figures.json is the source), with each quality bar's verdict computed from
    the figures."""
    titles = {key: title for key, title, _ in MODEL_FIGURE_COLUMNS}
    formats = {key: fmt for key, _, fmt in MODEL_FIGURE_COLUMNS}
    everything = [n for n in SHIPPED if (weights_dir / n / "figures.json").is_file()]
    names = [n for n in everything if n in FRAMEWORK_MODELS]  # the ones with a decoder
    rows = {n: row(weights_dir / n / "figures.json") for n in everything}
    totals = {n: training_totals(weights_dir / n / "figures.json") for n in everything}
    labels = {n: f"{n} (S1)" if n in FRAMEWORK_MODELS else
              f"{n} (S1 S5 S6 S7 S8, end to end)" for n in everything}
    picture = table([column("model"), column("training steps", "{:d}"),
                     column("training min", "{:.0f}"),
                     *[column(titles[k], formats[k]) for k in PICTURE_COLUMNS]],
                    [[n, *totals[n], *[_interval_cell(rows[n], k, formats[k])
                                       for k in PICTURE_COLUMNS]]
                     for n in names], caption="The picture: reconstruction and codes; "
                    "[low, high]: 95 % interval, bootstrap over poses.")
    pose = table([column("model (regressor labels)"),
                  *[column(title, fmt) for _, title, fmt in POSE_COLUMNS]],
                 [[labels[n], *[_interval_cell(rows[n], k, fmt) for k, _, fmt in POSE_COLUMNS]]
                  for n in everything],
                 caption="The pose: a regressor trained on S1's labels reads the pose code; "
                         "the baselines (no decoder: encoder, regressor and a borrowed "
                         "detector) are trained end to end on every training subject's labels, "
                         "supervised-colour with strong colour augmentation ("
                         + "; ".join(f"{n} {totals[n][0]:,} steps in {totals[n][1]:.0f} min"
                                     for n in everything if n in BASELINES) + ").")
    bars = table([column("bar"), *[column(n) for n in names]],
                 [[text, *[_bar_cell(n, rows[n], key, side, bar, fmt) for n in names]]
                  for key, text, side, bar, fmt in BARS],
                 caption="Quality bars, computed from the figures above and their intervals "
                         "(an interval that holds the bar cannot tell).")
    sheets = [f"benchmarks/results/{n}-reconstructions.png" for n in names
              if (RESULTS_DIR / f"{n}-reconstructions.png").is_file()]
    notes = [f"Reconstruction sheets (`dprobe evaluate --picture`): {', '.join(sheets)}."
             ] if sheets else []
    return {
        "title": "Shipped models",
        "measures": "`dprobe evaluate` of each shipped model on the held-out subjects S9 and "
                    "S11 of the `standard` studio (1000 evenly spaced frames each, pooled): "
                    "reconstruction PSNR (dB) and SSIM over the crop, inside the person's mask "
                    "and per body region; novel-view PSNR; the mean per-channel variance of the "
                    "appearance (h_a) and pose (h_p) codes; the pose error (mm) of a regressor "
                    "trained on S1's labels beside the mean-pose baseline; and the shift of the "
                    "model's own prediction when its crop is replaced by its reconstruction. "
                    "Read from dprobe/models/weights/<name>/figures.json, which the recipe's "
                    "`dprobe evaluate --model dprobe/models/weights/NAME --studio STUDIO --out "
                    "dprobe/models/weights/NAME/figures.json` writes.",
        "command": "bash experiments/train_models.sh",
        "tables": [picture, pose, bars],
        "notes": notes,
    }


def reference_files(runs: Path) -> dict[str, Path]:
    """The figures.json of the rows that are not shipped, by row label: each shipped
    framework's encoder with five subjects' labels (the supervised upper bound is shipped)."""
    return {f"{n} (S1 S5 S6 S7 S8)": runs / f"{n}-all" / "figures.json"
            for n in FRAMEWORK_MODELS}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs")
    p.add_argument("--json", nargs="?", type=Path, const=RESULTS_DIR / "models.json",
                   default=None, metavar="FILE",
                   help="write the rows that are not shipped as a results record "
                        "(default file: benchmarks/results/models.json)")
    args = p.parse_args()
    files = reference_files(Path(args.runs))
    rows = {}
    for name in FRAMEWORK_MODELS:
        rows[f"{name} (S1, shipped)"] = row(WEIGHTS_DIR / name / "figures.json")
        rows[f"{name} (S1 S5 S6 S7 S8)"] = row(files[f"{name} (S1 S5 S6 S7 S8)"])
    rows.update({label: row(f) for label, f in files.items() if label not in rows})
    print(markdown_table(rows, COLUMNS, label="model (regressor labels)"), end="")
    if args.json is not None:
        found = [f.stat().st_mtime for f in files.values() if f.is_file()]
        day = datetime.date.fromtimestamp(max(found)).isoformat() if found else None
        write_record(make_record(
            title="Reference models: five labelled subjects",
            measures="The shipped encoders with a regressor trained on the labels of all five "
                     "training subjects instead of S1's alone, evaluated as the shipped models "
                     "are (S9 + S11, 1000 frames each). Not shipped (the supervised upper "
                     "bound, end to end on those labels, is: Shipped models).",
            command=command_line("benchmarks.model_table", sys.argv[1:]),
            host="2 threads (experiments/train_models.sh); figures.json does not record the CPU",
            date=day,
            tables=[table([column("model (regressor labels)"),
                           *[column(title, fmt) for _, title, fmt in REFERENCE_COLUMNS]],
                          [[name, *[row(f).get(k) for k, _, _ in REFERENCE_COLUMNS]]
                           for name, f in files.items()])]), args.json)


if __name__ == "__main__":
    main()
