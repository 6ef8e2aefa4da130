"""Reconstruction-loss options side by side on one framework, trained from the same seed.

    python -m experiments.compare_reconstruction --studio standard.h5 --out runs/reconstruction \
        [--framework nsd] [--steps 1500] [--threads 1] [--option NAME ...]

Trains the framework from the same seed with each option of ``OPTIONS`` for the same number of
steps (so the figures do not depend on how loaded the machine is), then evaluates each on the
held-out subjects S9 and S11 (``dprobe.probes.evaluate``): whole-crop PSNR, PSNR inside the
person's mask, and the MPJPE of a regressor trained on S1's labels. Resumable: an option whose
``figures.json`` exists is skipped. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dprobe.data.batches import held_out_batch
from dprobe.data.datasets import LabelledFrames
from dprobe.data.studio import Studio
from dprobe.frameworks.losses import ReconstructionWeights
from dprobe.models.checkpoint import load_checkpoint
from dprobe.probes.evaluate import evaluate_model
from dprobe.report.tables import markdown_table
from dprobe.train.loop import run_training
from dprobe.train.regressor import RegressorSettings, train_regressor
from dprobe.train.setup import TrainingSettings, build_training

#: The options compared, each a reconstruction objective and the network's width (channels at
#: full resolution): the plain objective, foreground-weighted L1+SSIM, that plus the mask term,
#: a heavier foreground weight, foreground x4 plus the edge term, foreground x4 with twice the
#: channels at the two finest resolutions, foreground x4 / x16 plus the hard-pixel term,
#: that plus the pose-consistency term, and x16 with a four times heavier hard-pixel term or one
#: over a half or twice the share of pixels.
OPTIONS = {
    "plain": (ReconstructionWeights(), 16),
    "foreground x4": (ReconstructionWeights(foreground=4.0), 16),
    "foreground x4 + mask": (ReconstructionWeights(foreground=4.0, mask=0.5), 16),
    "foreground x16": (ReconstructionWeights(foreground=16.0), 16),
    "foreground x4 + edges": (ReconstructionWeights(foreground=4.0, edges=1.0), 16),
    "foreground x4, width 32": (ReconstructionWeights(foreground=4.0), 32),
    "foreground x4 + hard pixels": (ReconstructionWeights(foreground=4.0, hard=1.0), 16),
    "foreground x16 + hard pixels": (ReconstructionWeights(foreground=16.0, hard=1.0), 16),
    "foreground x16 + hard pixels + pose x1": (
        ReconstructionWeights(foreground=16.0, hard=1.0, pose=1.0), 16),
    "foreground x16 + hard pixels x4": (ReconstructionWeights(foreground=16.0, hard=4.0), 16),
    "foreground x16 + hard pixels, worst 2.5%": (
        ReconstructionWeights(foreground=16.0, hard=1.0, hard_fraction=0.025), 16),
    "foreground x16 + hard pixels, worst 10%": (
        ReconstructionWeights(foreground=16.0, hard=1.0, hard_fraction=0.10), 16),
}
COLUMNS = (("psnr", "PSNR dB", "{:.2f}"), ("psnr_mask", "PSNR in mask dB", "{:.2f}"),
           ("psnr_arms", "PSNR arms dB", "{:.2f}"),
           ("reconstruction_shift", "shift from reconstruction mm", "{:.1f}"),
           ("mpjpe", "MPJPE mm (S1 labels)", "{:.1f}"), ("mean_pose_mpjpe", "mean pose mm", "{:.1f}"))


def run_option(name: str, weights: ReconstructionWeights, width: int, studio: Studio, out: Path,
               args: argparse.Namespace) -> dict:
    """Train, attach an S1 regressor and evaluate one option; its figures (cached in out)."""
    figures_path = out / "figures.json"
    if figures_path.is_file():
        return json.loads(figures_path.read_text())
    torch.manual_seed(args.seed)
    setup = TrainingSettings(framework=args.framework, studio=args.studio, steps=args.steps,
                             seed=args.seed, width=width, reconstruction=weights, val_every=500)
    _, framework, dataset, settings = build_training(setup, studio)
    framework.prepare(dataset)
    run_training(framework, dataset, out, settings, val_batch=held_out_batch(studio, 32),
                 resume=(out / "train_state.safetensors").is_file(), progress=False)
    model = load_checkpoint(out)
    train_regressor(model, LabelledFrames(studio, subjects=("S1",)),
                    RegressorSettings(steps=1500), val_batch=None, progress=False)
    figures = evaluate_model(model.eval(), studio, max_frames=300)["all"]
    figures["option"] = name
    figures_path.write_text(json.dumps(figures, indent=2))
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--studio", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--framework", default="nsd", choices=("nsd", "cssl", "drnet"))
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--option", action="append", choices=tuple(OPTIONS),
                   help="run only these options (repeat; default all)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    studio = Studio.open(args.studio)
    rows = {}
    for i, (name, (weights, width)) in enumerate(OPTIONS.items()):
        if args.option and name not in args.option:
            continue
        out = Path(args.out) / f"{args.framework}-{i}"
        out.mkdir(parents=True, exist_ok=True)
        rows[name] = run_option(name, weights, width, studio, out, args)
        print(f"{name}: " + json.dumps({k: round(v, 2) for k, v in rows[name].items()
                                         if isinstance(v, float)}), flush=True)
    print(f"{args.framework}, {args.steps} steps each, S9 + S11 (300 frames each):")
    print(markdown_table(rows, COLUMNS, label="reconstruction loss"), end="")


if __name__ == "__main__":
    main()
