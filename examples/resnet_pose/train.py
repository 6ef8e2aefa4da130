"""Train ResNetPose (model.py, same folder) with dprobe's data and objectives; write the weights
file that ``model.build()`` reads.

    dprobe studio build --preset standard --crop-size 128 --out studio128.h5
    python examples/resnet_pose/train.py --studio studio128.h5 --minutes 10

Three phases, each printed as it goes:

1. Encoder and decoder, self-supervised: dprobe's CSSL objective (``dprobe.frameworks.CSSL``:
   the appearance codes of two frames of one sequence swapped before decoding, plus the
   temporal contrastive term on the pose codes) on its dataset of temporal pairs of every
   training subject but the held-out S9 and S11 (no pose labels), ``--steps`` steps or fewer
   with ``--minutes``: after ``CALIBRATION_STEPS`` steps (and every ``--log-every`` steps
   again) the measured speed sets the length of the learning-rate schedule so that it ends
   within the budget. The reconstruction loss weights the person's pixels
   (``--foreground-weight``) and asks the decoder's mask to cover what differs from the
   background (``--mask-weight``; ``dprobe.frameworks.losses``): with neither, a 6.5-minute run
   on the tiny studio settled on drawing the background alone (mask ~0.015). Reported: the
   losses, the PSNR (dB) / SSIM of held-out S9 and S11 crops decoded from their own codes, and
   the PSNR of their background alone (what a decoder that draws no person reaches).
2. The box regressor behind ``locate``, on the full frames and boxes of the training subjects
   (``--locator-steps``): L1 on (box side / frame width, box centre). Reported: its mean IoU
   on held-out frames.
3. The pose regressor on the frozen encoder's pose codes of the labelled subjects
   (``--labelled``, with ``--augmented-copies`` colour-jittered and mirrored copies), on poses
   standardised with their mean and std (``--regressor-steps``). Reported: MPJPE (mm) on the
   held-out S9 and S11, and that of always answering the training mean pose.

The weights and a JSON summary of the run (the figures above, the options, the seconds) are
written to ``--out`` (safetensors; the summary in its metadata under ``"training"``).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from model import CROP_SIZE, DEFAULT_WEIGHTS, ResNetPose  # model.py, beside this script
from safetensors.torch import save

from dprobe.data.batches import evenly_spaced, held_out_batch, sample_batch
from dprobe.data.datasets import EvalFrames, LabelledFrames
from dprobe.data.studio import Studio
from dprobe.data.subjects import TEST_SUBJECTS, TRAIN_SUBJECTS, training_subjects
from dprobe.errors import DprobeError
from dprobe.files import atomic_write_bytes, check_writable
from dprobe.frameworks import CSSL
from dprobe.frameworks.losses import ReconstructionWeights
from dprobe.frameworks.schedule import set_scheduled_lr
from dprobe.geometry import theta_to_box
from dprobe.metrics.boxes import box_iou
from dprobe.metrics.image import psnr
from dprobe.metrics.pose import mpjpe
from dprobe.models.detector import theta_to_params
from dprobe.seeding import seed_everything, step_seed
from dprobe.train.regressor import encode_dataset

#: Steps timed before a --minutes budget sets the schedule's length.
CALIBRATION_STEPS = 10
#: Held-out frames per subject for the validation of the self-supervised phase and the locator.
VAL_FRAMES = 16
#: Most held-out frames per subject for the regressor's MPJPE (evenly spaced).
EVAL_FRAMES = 500


def train_codes(model: ResNetPose, studio: Studio, args: argparse.Namespace) -> dict:
    """Phase 1: the encoder and decoder with CSSL; its last logged losses, the held-out
    reconstruction PSNR (dB) / SSIM and the PSNR of the background alone."""
    weights = ReconstructionWeights(foreground=args.foreground_weight, mask=args.mask_weight)
    framework = CSSL(model, total_steps=args.steps, lr=args.lr, reconstruction=weights)
    dataset = framework.make_dataset(studio, training_subjects(studio.subject_names))
    val_batch = held_out_batch(studio, VAL_FRAMES, seed=args.seed)
    budget_s = 60 * args.minutes if args.minutes is not None else math.inf
    elapsed, sums, logged = 0.0, {}, {"step": 0}

    def log() -> None:
        nonlocal sums, logged
        n = framework.step - logged["step"]
        logged = {"step": framework.step, "elapsed_s": round(elapsed, 1),
                  **{k: round(v / n, 5) for k, v in sums.items()}}
        sums = {}
        print(f"[codes] step {framework.step}/{framework.total_steps} {elapsed:.0f} s "
              + " ".join(f"{k} {v:.4g}" for k, v in logged.items()
                         if k not in ("step", "elapsed_s")), flush=True)

    while framework.step < framework.total_steps and elapsed < budget_s:
        started = time.monotonic()
        losses = framework.training_step(
            sample_batch(dataset, args.batch_size, args.seed, framework.step))
        elapsed += time.monotonic() - started
        step = framework.step
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v
        if args.minutes is not None and (step == CALIBRATION_STEPS or step % args.log_every == 0):
            rate = step / elapsed
            framework.total_steps = min(args.steps, max(step + 1, int(rate * budget_s)))
        if step % args.log_every == 0:
            log()
    if sums:
        log()
    validation = framework.validate(val_batch)
    validation["background_psnr"] = float(psnr(val_batch["bg"], val_batch["crop"]).mean())
    print(f"[codes] held-out reconstruction: PSNR {validation['val_psnr']:.2f} dB, "
          f"SSIM {validation['val_ssim']:.3f} (background alone: PSNR "
          f"{validation['background_psnr']:.2f} dB)", flush=True)
    return {**logged, "steps_per_s": round(framework.step / max(elapsed, 1e-9), 3),
            **validation}


def train_locator(model: ResNetPose, studio: Studio, args: argparse.Namespace) -> dict:
    """Phase 2: the box regressor on the training subjects' frames; its last loss and mean IoU
    on held-out frames."""
    frames = LabelledFrames(studio, training_subjects(studio.subject_names), with_frame=True)
    locator = model.locator
    optimizer = torch.optim.Adam(locator.parameters(), lr=args.lr)
    loss = torch.zeros(())
    started = time.monotonic()
    locator.train()
    for step in range(args.locator_steps):
        set_scheduled_lr(optimizer, args.lr, step, args.locator_steps, warmup=20)
        batch = sample_batch(frames, 32, args.seed, step)
        loss = F.l1_loss(locator.box_parameters(batch["frame"]), theta_to_params(batch["theta"]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    locator.eval()
    val = held_out_batch(studio, VAL_FRAMES, seed=args.seed, with_frame=True)
    with torch.no_grad():
        iou = box_iou(theta_to_box(model.locate(val["frame"]), studio.frame_hw),
                      theta_to_box(val["theta"], studio.frame_hw))
    result = {"loss": round(float(loss.detach()), 5), "val_iou": round(float(iou.mean()), 4),
              "seconds": round(time.monotonic() - started, 1)}
    print(f"[locate] {args.locator_steps} steps, L1 {result['loss']:.4g}, held-out IoU "
          f"{result['val_iou']:.3f}", flush=True)
    return result


@torch.no_grad()
def held_out_mpjpe(model: ResNetPose, studio: Studio) -> dict:
    """MPJPE (mm) of ``regress(encode(crop))`` on up to ``EVAL_FRAMES`` frames of each held-out
    subject, and of the regressor's training mean pose (the baseline to beat)."""
    model.eval()
    errors, baseline = [], []
    for subject in TEST_SUBJECTS:
        frames = EvalFrames(studio, subject)
        rows = frames.rows[evenly_spaced(len(frames), EVAL_FRAMES)]
        for part in rows.split(128):
            truth = studio.pose(part)
            errors.append(mpjpe(model.regress(model.encode(studio.image(part))[1]), truth))
            mean = model.regressor.pose_mean - model.regressor.pose_mean[:1]
            baseline.append(mpjpe(mean.expand_as(truth), truth))
    return {"val_mpjpe_mm": round(float(torch.cat(errors).mean()), 1),
            "mean_pose_mpjpe_mm": round(float(torch.cat(baseline).mean()), 1)}


def train_pose_regressor(model: ResNetPose, studio: Studio, args: argparse.Namespace) -> dict:
    """Phase 3: the pose regressor on the frozen encoder's codes of the labelled subjects; its
    last loss and the held-out MPJPE (mm)."""
    started = time.monotonic()
    labelled = LabelledFrames(studio, subjects=args.labelled)
    codes, poses, _ = encode_dataset(model, labelled, augmented_copies=args.augmented_copies,
                                     seed=args.seed)
    regressor = model.regressor
    regressor.set_pose_statistics(poses)
    targets = (poses - regressor.pose_mean) / regressor.pose_std
    optimizer = torch.optim.Adam(regressor.parameters(), lr=args.lr, weight_decay=1e-4)
    loss = torch.zeros(())
    regressor.train()
    for step in range(args.regressor_steps):
        set_scheduled_lr(optimizer, args.lr, step, args.regressor_steps, warmup=50)
        seed_everything(step_seed(args.seed, step))
        idx = torch.randint(len(codes), (min(256, len(codes)),))
        loss = F.mse_loss(regressor.standardised(codes[idx]), targets[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    result = {"loss": round(float(loss.detach()), 5), "labelled_crops": len(labelled),
              "codes": len(codes), **held_out_mpjpe(model, studio),
              "seconds": round(time.monotonic() - started, 1)}
    print(f"[regress] {args.regressor_steps} steps on {len(codes)} codes of "
          f"{' '.join(args.labelled)}, loss {result['loss']:.4g}; held-out {' '.join(TEST_SUBJECTS)} "
          f"MPJPE {result['val_mpjpe_mm']:.1f} mm (mean pose: "
          f"{result['mean_pose_mpjpe_mm']:.1f} mm)", flush=True)
    return result


def write_weights(model: ResNetPose, path: Path, summary: dict) -> None:
    """The model's tensors (contiguous float32) and ``summary`` (JSON, metadata "training")."""
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata={"training": json.dumps(summary)}))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--studio", required=True, metavar="FILE",
                   help=f"studio HDF5 file built with --crop-size {CROP_SIZE}")
    p.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, metavar="FILE",
                   help="weights file to write (default: weights.safetensors beside model.py, "
                        "what build() reads)")
    p.add_argument("--steps", type=int, default=3000,
                   help="self-supervised steps, the most with --minutes (default %(default)s)")
    p.add_argument("--minutes", type=float, default=None,
                   help="wall-clock budget of the self-supervised phase, minutes (default: "
                        "none; the locator and regressor phases add their own, shorter, time)")
    p.add_argument("--batch-size", type=int, default=16,
                   help="temporal pairs per self-supervised step (default %(default)s)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's peak step (default %(default)s)")
    p.add_argument("--foreground-weight", type=float, default=4.0,
                   help="extra weight of the person's pixels in the reconstruction loss "
                        "(default %(default)s)")
    p.add_argument("--mask-weight", type=float, default=1.0,
                   help="weight of the decoder's mask against the pixels that differ from the "
                        "background (default %(default)s)")
    p.add_argument("--locator-steps", type=int, default=300,
                   help="box-regressor steps of 32 frames (default %(default)s)")
    p.add_argument("--regressor-steps", type=int, default=2000,
                   help="pose-regressor steps of 256 codes (default %(default)s)")
    p.add_argument("--labelled", nargs="+", default=list(TRAIN_SUBJECTS), metavar="S",
                   help="subjects whose pose labels train the regressor (default %(default)s)")
    p.add_argument("--augmented-copies", type=int, default=1,
                   help="jittered (and, every other copy, mirrored) copies of the labelled "
                        "crops (default %(default)s)")
    p.add_argument("--log-every", type=int, default=25,
                   help="self-supervised steps between printed losses (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="default %(default)s")
    p.add_argument("--threads", type=int, default=2,
                   help="torch CPU threads (default %(default)s)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    args = p.parse_args(argv)
    if min(args.steps, args.batch_size, args.locator_steps, args.regressor_steps,
           args.log_every, args.threads) < 1 or args.augmented_copies < 0:
        p.error("step counts, --batch-size, --log-every and --threads must be >= 1, "
                "--augmented-copies >= 0")
    if args.foreground_weight < 0 or args.mask_weight < 0:
        p.error("--foreground-weight and --mask-weight must be >= 0")
    if args.minutes is not None and not args.minutes > 0:
        p.error("--minutes must be > 0")
    held_out = sorted(set(args.labelled) & set(TEST_SUBJECTS))
    if held_out:
        p.error(f"--labelled: {', '.join(held_out)} are held out for testing")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        out = check_writable(args.out, args.force)
        torch.set_num_threads(args.threads)
        studio = Studio.open(args.studio)
        if studio.crop_size != CROP_SIZE:
            raise DprobeError(f"{args.studio} holds {studio.crop_size} px crops; ResNetPose "
                              f"trains on {CROP_SIZE} px: build the studio with --crop-size "
                              f"{CROP_SIZE}")
        seed_everything(args.seed)
        model = ResNetPose()
        started = time.monotonic()
        summary = {"studio": str(args.studio), "options": {k: str(v) for k, v in
                                                           vars(args).items()}}
        summary["codes"] = train_codes(model, studio, args)
        summary["locate"] = train_locator(model, studio, args)
        summary["regress"] = train_pose_regressor(model, studio, args)
        summary["seconds"] = round(time.monotonic() - started, 1)
        write_weights(model.eval(), out, summary)
    except DprobeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({summary['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
