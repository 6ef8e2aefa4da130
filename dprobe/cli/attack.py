"""``dprobe attack``: the appearance-only attack on studio frames (``dprobe.probes.attack``).

Writes into ``--out`` (a folder, replaced only with ``--force``, complete or not at all):
``samples.jsonl`` (one JSON row per sample), ``summary.md`` and ``summary.json`` (per subject
and overall, with units; the robustness curve; success within each budget of the change, and
of the colour change in CIE76 Delta E for the renderer's generators), ``figure7.png`` (examples as the paper's
Figure 7), ``robustness.png`` (success rate against the threshold); with ``--details`` also
the poses in every row and ``images.npz`` (input, reconstruction and attacked crops, uint8).
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from dprobe.cli.options import (
    add_force,
    add_model,
    add_quiet,
    add_studio,
    add_threads,
    command_line,
    non_negative_float,
    non_negative_int,
    open_studio,
    positive_float,
    positive_int,
    set_threads,
)
from dprobe.data.batches import evenly_spaced
from dprobe.errors import DprobeError
from dprobe.files import atomic_directory, refuse_existing
from dprobe.models.conformance import require_conforming
from dprobe.probes.attack import (
    DEFAULT_ITERATIONS,
    DEFAULT_LR,
    DEFAULT_THRESHOLD_MM,
    AttackSettings,
    attack_rows,
    result_rows,
    select_rows,
    success_curve,
    success_within,
    summarise,
)
from dprobe.probes.generator_registry import make_generator
from dprobe.sources import load_model, parse_source

__all__ = ["register"]

SUMMARY_COLUMNS = (
    ("samples", "samples", "{:d}"), ("poses", "poses", "{:d}"), ("initial_mpjpe_mm", "initial MPJPE mm", "{:.1f}"),
    ("final_mpjpe_mm", "final MPJPE mm", "{:.1f}"), ("success", "success %", "{:.0%}"),
    ("iterations", "iterations", "{:.1f}"), ("ssim", "SSIM", "{:.3f}"),
    ("psnr_db", "PSNR dB", "{:.2f}"), ("mse", "MSE", "{:.4f}"),
    ("ssim_frame", "SSIM frame", "{:.4f}"), ("psnr_frame_db", "PSNR frame dB", "{:.2f}"),
    ("change", "change |h - h0| / |h0|", "{:.3f}"), ("delta_e", "colour \u0394E", "{:.1f}"),
)
#: Budgets at which ``summary.json`` reports success within the budget (relative change).
BUDGETS = tuple(round(0.05 * k, 2) for k in range(41))
#: The same in CIE76 Delta E (generators of colours).
DELTA_E_BUDGETS = tuple(float(2.5 * k) for k in range(41))
CURVE_POINTS = 61
#: What the brackets of the summary are.
INTERVALS_NOTE = ("[low, high]: 95 % interval; success rate: Wilson over the samples; means: "
                  "cluster bootstrap over the poses (a pose with all its camera views is one "
                  "unit; seed 0).")


def _config(args: argparse.Namespace) -> AttackSettings:
    try:
        return AttackSettings(threshold_mm=args.threshold, iterations=args.iterations, lr=args.lr,
                            eps=args.eps, boxes=args.boxes, precision=args.precision)
    except ValueError as e:
        raise DprobeError(str(e)) from None


def _budget_curves(records: list[dict]) -> dict:
    """Success within each budget (``dprobe.probes.attack.success_within``: samples that
    succeeded without their path leaving it), in the relative change and, for colours, in CIE76
    Delta E, each point with its Wilson interval."""
    out = {}
    for key, unit, budgets in (("change_path", "change", BUDGETS),
                               ("delta_e_path", "delta_e", DELTA_E_BUDGETS)):
        rates = success_within(records, key, budgets)
        if rates:
            out[unit] = {"budget": list(budgets), "success": [r.to_dict() for r in rates]}
    return out


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _attack(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dprobe.report.attack_figures import plot_attack_examples, plot_robustness
    from dprobe.report.tables import markdown_table

    refuse_existing(args.out, args.force)
    config = _config(args)
    set_threads(args.threads)
    studio = open_studio(args.studio)
    rows = select_rows(studio, args.subjects, args.frames)
    target_source = parse_source(args.target)
    target = target_source.load()
    require_conforming(target, studio, args.target)
    generator = make_generator(args.generator, target, studio, load=load_model, settings=config)
    pick = set(evenly_spaced(rows.numel(), args.examples)) if args.examples else set()

    records, examples, images = [], [], {"input": [], "initial": [], "attacked": []}
    with tqdm(total=rows.numel(), desc="attack", unit="sample", disable=args.quiet) as bar:
        done = 0
        for chunk, batch, result in attack_rows(target, generator, studio, rows, config,
                                                args.batch_size, progress=bar.update):
            chunk_rows = result_rows(studio, chunk, batch, result, poses=args.details)
            records += chunk_rows
            for b, row in enumerate(chunk_rows):
                if done + b in pick:
                    examples.append({**row, "label": f"{row['subject']} {row['action']} "
                                     f"cam {row['camera']}", "truth": batch["pose"][b],
                                     "q": result.q[b], "pred_final": result.pred_final[b],
                                     "x_input": result.x_input[b],
                                     "x_initial": result.x_initial[b],
                                     "x_final": result.x_final[b]})
            if args.details:
                for key, x in zip(images, (result.x_input, result.x_initial, result.x_final)):
                    images[key].append(_to_uint8(x))
            done += chunk.numel()

    summary = summarise(records)
    thresholds = torch.linspace(0, 1.5 * config.threshold_mm, CURVE_POINTS)
    finals = torch.tensor([r["final_mpjpe_mm"] for r in records])
    curve = success_curve(finals, thresholds)
    title = f"target {args.target}, generator {args.generator}"
    table = markdown_table(summary, SUMMARY_COLUMNS, label="subject")
    settings = (f"{title}; threshold {config.threshold_mm:g} mm, {config.iterations} iterations, "
                f"lr {config.lr:g}, eps {config.eps}, boxes {config.boxes}, {config.precision}")
    with atomic_directory(args.out, args.force) as tmp:
        (tmp / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        (tmp / "summary.md").write_text(
            f"# Appearance-only attack\n\n{settings}\n\nCommand: `{command_line()}`\n\n{table}\n"
            "MPJPE: to the target's prediction on the input frame. SSIM / PSNR / MSE: attacked vs "
            "initial synthesised crop (frame: the whole frame), over the samples the attack "
            "changed; change: the relative size of the change of the attacked variable.\n\n" + INTERVALS_NOTE
            + "\n")
        (tmp / "summary.json").write_text(json.dumps({
            "command": command_line(), "target": args.target,
            "target_source": target_source.describe(), "target_crop_size": target.crop_size,
            "generator": args.generator,
            "config": dict(config.__dict__), "summary": summary,
            "robustness": {"threshold_mm": thresholds.tolist(), "success": curve.tolist()},
            "budget": _budget_curves(records),
        }, indent=2) + "\n")
        if examples:
            plot_attack_examples(examples, tmp / "figure7.png")
        plot_robustness({title: (thresholds.tolist(), curve.tolist())}, tmp / "robustness.png",
                        config.threshold_mm)
        if args.details:
            np.savez_compressed(tmp / "images.npz",
                                **{k: np.concatenate(v) for k, v in images.items()})
    print(settings)
    print(table, end="")
    print(INTERVALS_NOTE)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``attack``."""
    p = sub.add_parser(
        "attack", help="appearance-only attack (the paper's Algorithm 1)",
        description="Change only the person's appearance (a generator's appearance code, or the "
                    "studio renderer's clothing colours) to move the target's pose prediction "
                    "past a threshold; per-sample rows, a summary and figures in --out.")
    add_model(p, flag="--target")
    p.add_argument("--generator", default="self",
                   help="'self' (the target's decoder), another model's decoder (any model "
                        "source, as --target), 'renderer' (the studio renderer; 'renderer:DE' "
                        "keeps every colour within CIE76 Delta E DE of its own), or a null that "
                        "changes the clothes once without an adversary: 'random-colours[:SIZE]' "
                        "(colours moved by a random direction of relative size SIZE, default "
                        "0.25) or 'other-clothes' (another subject's colours), or "
                        "'transfer:SOURCE' (the colours the renderer's attack found against the "
                        "model SOURCE, worn in front of the target) (default %(default)s)")
    add_studio(p)
    p.add_argument("--subjects", nargs="+", default=["S9", "S11"], metavar="S",
                   help="subjects whose frames are attacked (default %(default)s)")
    p.add_argument("--frames", type=positive_int, default=32,
                   help="evenly spaced frames per subject (default %(default)s)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--threshold", type=non_negative_float, default=DEFAULT_THRESHOLD_MM,
                   metavar="MM", help="success: MPJPE to the original prediction above this "
                                      "(mm, default %(default)s)")
    p.add_argument("--iterations", type=non_negative_int, default=DEFAULT_ITERATIONS,
                   metavar="K", help="most updates per sample (default %(default)s)")
    p.add_argument("--lr", type=non_negative_float, default=DEFAULT_LR, metavar="X",
                   help="Adam step, in units of each sample's code RMS (decoders) or of colour "
                        "(renderer) (default %(default)s)")
    p.add_argument("--eps", type=positive_float, default=None, metavar="E",
                   help="budget: |h - h0| <= E |h0| (default: none)")
    p.add_argument("--boxes", choices=("detector", "truth"), default="detector",
                   help="crops from each model's detector S or the ground-truth box "
                        "(default %(default)s)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="model arithmetic in the loop (default %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="default %(default)s")
    p.add_argument("--examples", type=non_negative_int, default=4,
                   help="rows of figure7.png (default %(default)s)")
    p.add_argument("--details", action="store_true",
                   help="also write poses into every row and the crops to images.npz")
    add_threads(p)
    add_force(p)
    add_quiet(p)
    p.set_defaults(func=_attack)
