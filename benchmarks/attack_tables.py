"""The attack's results beside the paper's Tables 1, 2 and 4 (issue 10).

    python benchmarks/attack_tables.py --studio /tmp/standard.h5 [--frames 8] [--write]

Runs the appearance-only attack with its defaults (``dprobe.probes.attack``; detector boxes)
on ``--frames`` evenly spaced frames of each of S1, S5, S6, S7, S8, S9, S11 for every target x
generator pair: targets NSD, DRNet, CSSL; generators the target itself, each other model's
decoder and the studio renderer; and CSSL-DA with itself (Table 4). Prints Markdown tables
with the paper's numbers beside ours; --write puts them in benchmarks/RESULTS.md ("Attack
results beside the paper"), rewritten after every run (the self-generator runs come first).
--rows DIR keeps every run's per-sample rows (JSONL) and reuses the runs already there.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from dprobe.data.studio import Studio
from dprobe.models import load
from dprobe.probes.attack import AttackConfig, attack_rows, result_rows, select_rows, summarise
from dprobe.probes.attack_generators import DecoderGenerator, RendererGenerator

SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
TARGETS = ("nsd", "drnet", "cssl")
GENERATORS = ("self", *TARGETS, "renderer")

#: The paper's Table 1 (initial, final MPJPE mm) per subject, and Tables 2 and 4.
PAPER_T1 = {
    "nsd": {"S1": (21.0, 179.7), "S5": (19.6, 180.0), "S6": (22.3, 179.8), "S7": (18.8, 179.2),
            "S8": (16.8, 178.6), "all": (19.7, 179.5)},
    "drnet": {"S1": (23.9, 169.7), "S5": (14.1, 166.7), "S6": (23.5, 177.9),
              "S7": (17.6, 177.5), "S8": (21.7, 198.9), "all": (20.2, 177.5)},
    "cssl": {"S1": (21.5, 176.9), "S5": (25.3, 186.5), "S6": (26.8, 196.7),
             "S7": (24.1, 191.8), "S8": (30.5, 186.9), "all": (25.6, 207.5)},
}
PAPER_IMAGES = {"nsd": (0.947, 24.65, 0.012), "drnet": (0.963, 26.45, 0.007),
                "cssl": (0.943, 24.37, 0.013), "cssl-da": (0.926, 22.90, 0.018)}


def run(target_name: str, generator_name: str, studio: Studio, rows: torch.Tensor,
        models: dict) -> list[dict]:
    """Per-sample result rows of one attack run with the default settings."""
    target = models[target_name]
    if generator_name == "renderer":
        generator = RendererGenerator(studio.crop_size, studio.frame_hw)
    else:
        name = target_name if generator_name == "self" else generator_name
        generator = DecoderGenerator(models[name], name)
    out = []
    for chunk, batch, result in attack_rows(target, generator, studio, rows, AttackConfig()):
        out += result_rows(studio, chunk, batch, result)
    return out


def fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def tables(summaries: dict, seconds: dict, frames: int, total: float, command: str) -> str:
    """All tables as Markdown (ours, with the paper's figures in parentheses)."""
    n, c = frames * len(SUBJECTS), AttackConfig()
    out = [
        f"Command: `{command}` (2 threads; default settings: threshold {c.threshold_mm:g} mm, "
        f"{c.iterations} iterations, lr {c.lr:g}, {c.boxes} boxes). {frames} evenly spaced frames per subject x 7 subjects = {n} "
        f"samples per run; {len(summaries)} of 13 runs done, {total / 60:.1f} min of attacks "
        "(wall) on the shared 2-core VM. Paper figures in parentheses (the paper reports S1-S8; none for S9, S11).",
        "",
        "**Table 1**: MPJPE (mm) to the prediction on the original frame, before (initial: the "
        "unattacked resynthesis) and after the attack, self generator.",
        "",
        "| subject | " + " | ".join(f"{t} initial | {t} final" for t in TARGETS)
        + " | average initial | average final |",
        "|---|" + "---|" * (2 * len(TARGETS) + 2),
    ]
    for subject in (*SUBJECTS, "all"):
        cells, avg = [], []
        for t in TARGETS:
            s = summaries.get((t, "self"), {}).get(subject)
            if s is None:
                cells += ["-", "-"]
                continue
            paper = PAPER_T1[t].get(subject)
            for i, key in enumerate(("initial_mpjpe_mm", "final_mpjpe_mm")):
                cells.append(fmt(s[key], "{:.1f}") + (f" ({paper[i]})" if paper else ""))
            avg.append((s["initial_mpjpe_mm"], s["final_mpjpe_mm"]))
        cells += [f"{sum(a[i] for a in avg) / len(avg):.1f}" if avg else "-" for i in (0, 1)]
        out.append(f"| {'average' if subject == 'all' else subject} | " + " | ".join(cells) + " |")
    out += [
        "",
        f"**Target x generator**: final MPJPE (mm) / success rate (final > {c.threshold_mm:g} "
        "mm) / mean iterations; initial MPJPE in brackets.",
        "",
        "| target \\ generator | " + " | ".join(GENERATORS) + " |",
        "|---|" + "---|" * len(GENERATORS),
    ]
    for t in TARGETS:
        cells = []
        for g in GENERATORS:
            s = summaries.get((t, g), {}).get("all")
            cells.append("-" if s is None else
                         f"{s['final_mpjpe_mm']:.0f} / {s['success']:.0%} / "
                         f"{s['iterations']:.1f} [{s['initial_mpjpe_mm']:.0f}]")
        out.append(f"| {t} | " + " | ".join(cells) + " |")
    out += [
        "",
        "**Tables 2 and 4**: attacked vs initial synthesised target crop (64 px), means over the "
        "samples the attack changed (iterations > 0), self generator; renderer generator beside.",
        "",
        "| target | generator | SSIM | PSNR dB | MSE | success | samples changed |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in (*TARGETS, "cssl-da"):
        for g in ("self", "renderer"):
            s = summaries.get((t, g), {}).get("all")
            if s is None:
                continue
            paper = PAPER_IMAGES.get(t) if g == "self" else None
            values = [fmt(s[k], p) + (f" ({paper[i]})" if paper else "")
                      for i, (k, p) in enumerate((("ssim", "{:.3f}"), ("psnr_db", "{:.2f}"),
                                                  ("mse", "{:.4f}")))]
            out.append(f"| {t} | {g} | " + " | ".join(values)
                       + f" | {s['success']:.0%} | {s['attacked']} / {s['samples']} |")
    out += ["", "Seconds per run: " + ", ".join(f"{t}<-{g} {v:.0f}"
                                                for (t, g), v in seconds.items()) + "."]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studio", required=True)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", default=None, help="folder for per-run JSONL rows")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    studio = Studio.open(args.studio)
    rows = select_rows(studio, SUBJECTS, args.frames)
    models = {name: load(name) for name in (*TARGETS, "cssl-da")}
    pairs = ([(t, "self") for t in (*TARGETS, "cssl-da")] + [(t, "renderer") for t in TARGETS]
             + [(t, g) for t in TARGETS for g in TARGETS if g != t])
    summaries, seconds = {}, {}
    command = (f"python benchmarks/attack_tables.py --studio {args.studio} --frames {args.frames}"
               f"{' --rows ' + args.rows if args.rows else ''} --write")
    for t, g in pairs:
        saved = Path(args.rows) / f"{t}__{g}.jsonl" if args.rows else None
        tick = time.perf_counter()
        if saved is not None and saved.is_file():
            records = [json.loads(line) for line in saved.read_text().splitlines()]
            seconds[(t, g)] = json.loads(saved.with_suffix(".seconds").read_text())
        else:
            records = run(t, g, studio, rows, models)
            seconds[(t, g)] = time.perf_counter() - tick
            if saved is not None:
                saved.parent.mkdir(parents=True, exist_ok=True)
                saved.write_text("".join(json.dumps(r) + "\n" for r in records))
                saved.with_suffix(".seconds").write_text(json.dumps(seconds[(t, g)]))
        summaries[(t, g)] = summarise(records)
        print(f"{t} <- {g}: {summaries[(t, g)]['all']} ({seconds[(t, g)]:.0f} s)", flush=True)
        md = tables(summaries, seconds, args.frames, sum(seconds.values()), command)
        if args.write:
            from bench_attack import RESULTS, write_subsection

            write_subsection(RESULTS, "Attack results beside the paper", md)
    print(md)


if __name__ == "__main__":
    main()
