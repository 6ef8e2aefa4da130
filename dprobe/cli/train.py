"""The training commands of ``dprobe``.

train             a self-supervised framework (nsd, cssl, drnet; --augment jitter for DA)
train-supervised  the fully supervised upper bound (encoder + regressor end to end)
train-detector    the detector S (box supervision)
train-regressor   the pose regressor phi on a trained model's frozen encoder
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dprobe.cli.options import (
    add_force,
    add_quiet,
    add_seed,
    add_studio,
    add_threads,
    check_model_fits,
    command_line,
    fraction,
    non_negative_float,
    non_negative_int,
    open_studio,
    positive_float,
    positive_int,
    seed,
    set_threads,
)
from dprobe.data.batches import held_out_batch
from dprobe.data.subjects import TRAIN_SUBJECTS, training_subjects
from dprobe.errors import DprobeError
from dprobe.files import atomic_directory, refuse_existing
from dprobe.frameworks import self_supervised
from dprobe.frameworks.augment import AUGMENTS
from dprobe.frameworks.losses import HARD_FRACTION, ReconstructionWeights
from dprobe.models import registry
from dprobe.models.checkpoint import load_checkpoint, save_checkpoint
from dprobe.models.reference import ReferenceModel
from dprobe.train.detector import DetectorSettings
from dprobe.train.regressor import RegressorSettings, subject_means, train_regressor
from dprobe.train.setup import (
    VAL_PER_SUBJECT,
    TrainingSettings,
    check_subjects,
    resolve_settings,
    train_detector_checkpoint,
    train_framework,
)

__all__ = ["register"]


# -- train / train-supervised --------------------------------------------------------------------
def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The run's options given on the command line (the others are absent from ``args``), by
    their ``run.json`` names."""
    keys = TrainingSettings().to_run()
    return {key: [*value] if isinstance(value, (list, tuple)) else value
            for key, value in vars(args).items() if key in keys and key != "command"}


def _train_framework(args: argparse.Namespace, given: dict[str, Any]) -> int:
    set_threads(args.threads)
    out = Path(args.out)
    # Everything a user can get wrong is checked before the run directory is touched.
    settings = resolve_settings(given, out, resume=args.resume, force=args.force,
                                command=command_line())
    summary = train_framework(settings, out, resume=args.resume, force=args.force,
                              progress=not args.quiet)
    print(json.dumps({"out": str(out), **summary}))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    return _train_framework(args, _given(args))


def _cmd_train_supervised(args: argparse.Namespace) -> int:
    return _train_framework(args, {**_given(args), "framework": "supervised"})


def _resumable(p: argparse.ArgumentParser, flag: str, default: Any, help: str, **kw: Any) -> None:
    """An option of ``TrainingSettings``: absent from the namespace unless given (so
    ``--resume`` can tell a given option from a default); its help line names the default."""
    shown = "none" if default is None else default
    p.add_argument(flag, default=argparse.SUPPRESS,
                   help=f"{help} (default {shown}; with --resume: the run's)", **kw)


def _add_augment(p: argparse.ArgumentParser, help: str) -> None:
    _resumable(p, "--augment", TrainingSettings.augment, help, choices=("none", *AUGMENTS))


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--studio", default=argparse.SUPPRESS, metavar="FILE",
                   help="studio HDF5 file (`dprobe studio build`); required, except with --resume")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="run directory, created (refused if it exists, unless --force or "
                        "--resume)")
    _resumable(p, "--steps", TrainingSettings.steps, "training steps", type=positive_int)
    _resumable(p, "--minutes", TrainingSettings.minutes,
               "training-time budget in minutes; the schedule is shortened to fit it",
               type=positive_float)
    _resumable(p, "--batch-size", TrainingSettings.batch_size, "crops per step",
               type=positive_int)
    _resumable(p, "--lr", TrainingSettings.lr, "peak Adam learning rate", type=positive_float)
    _resumable(p, "--width", TrainingSettings.width, "network base width in channels",
               type=positive_int)
    _resumable(p, "--seed", TrainingSettings.seed, "random seed", type=seed)
    _resumable(p, "--init", TrainingSettings.init,
               "start from this model's encoder and decoder (shipped name or checkpoint "
               "directory; fine-tuning), not from random weights", metavar="NAME|DIR")
    p.add_argument("--val-every", type=positive_int, default=argparse.SUPPRESS,
                   help=f"steps between validations (default {TrainingSettings.val_every})")
    p.add_argument("--checkpoint-minutes", type=positive_float, default=argparse.SUPPRESS,
                   help="minutes between saved training states (default "
                        f"{TrainingSettings.checkpoint_minutes})")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out with the options of its run.json")
    add_threads(p)
    add_force(p)
    add_quiet(p)


def _add_common_options(p: argparse.ArgumentParser) -> None:
    add_seed(p)
    add_threads(p)
    add_force(p)
    add_quiet(p)


# -- train-detector -------------------------------------------------------------------------------
def _cmd_train_detector(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    out = Path(args.out)
    settings = DetectorSettings(steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    figures = train_detector_checkpoint(args.studio, out, settings, force=args.force,
                                        progress=not args.quiet, command=command_line())
    print(json.dumps({"out": str(out), **figures}))
    return 0


# -- train-regressor ------------------------------------------------------------------------------
def _regressor_output(args: argparse.Namespace, source: Path, model: ReferenceModel) -> Path | None:
    """Where train-regressor writes: a new folder ``--out`` (returned, checked), or ``None`` for
    the model's own folder (a user's checkpoint; shipped models are read-only)."""
    shipped = source.resolve().is_relative_to(registry.WEIGHTS_DIR.resolve())
    if args.out is not None and Path(args.out).resolve() != source.resolve():
        refuse_existing(args.out, args.force)
        return Path(args.out)
    if shipped:
        raise DprobeError(f"{args.model} is a shipped model, and shipped weights are read-only; "
                          "pass --out DIR to write the model with its new regressor there")
    if model.regressor is not None and not args.force:
        raise DprobeError(f"{source} already has a regressor; pass --force to replace it "
                          "or --out to write elsewhere")
    return None


def _cmd_train_regressor(args: argparse.Namespace) -> int:
    from dprobe.data.datasets import LabelledFrames

    set_threads(args.threads)
    source = registry.resolve(args.model)
    model = load_checkpoint(source)
    out = _regressor_output(args, source, model)
    check_model_fits(model, str(args.model))
    studio = open_studio(args.studio).at_crop_size(model.crop_size)
    check_subjects(studio, args.labelled)
    if args.detector:
        detector = load_checkpoint(registry.resolve(args.detector)).detector
        if detector is None:
            raise DprobeError(f"{args.detector} holds no detector")
        model.attach_detector(detector)
    dataset = LabelledFrames(studio, subjects=tuple(args.labelled), fraction=args.fraction)
    settings = RegressorSettings(steps=args.steps, seed=args.seed, hidden=args.hidden,
                                 augmented_copies=args.augmented_copies,
                                 subject_offsets=args.subject_offsets)
    offset_subjects = training_subjects(studio.subject_names) if settings.subject_offsets > 0 else []
    means = subject_means(model, studio, offset_subjects) if offset_subjects else None
    figures = train_regressor(model, dataset, settings, means=means,
                              val_batch=held_out_batch(studio, VAL_PER_SUBJECT),
                              progress=not args.quiet)
    model.meta["regressor"].update({"labelled": list(args.labelled), "fraction": args.fraction,
                                    "offset_subjects": offset_subjects, "command": command_line()})
    if out is None:
        save_checkpoint(model, source, dtype=args.dtype)
    else:
        with atomic_directory(out, args.force) as tmp:
            save_checkpoint(model, tmp, dtype=args.dtype)
    print(json.dumps({"out": str(out or source), **figures}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add train, train-supervised, train-detector, train-regressor."""
    p = subparsers.add_parser("train", help="train a self-supervised framework",
                              description="Train NSD, CSSL or DRNet (optionally with colour "
                              "jitter: the DA variant) on a studio file.")
    p.add_argument("--framework", default=argparse.SUPPRESS, choices=self_supervised(),
                   help="the self-supervised objective; required, except with --resume")
    _add_augment(p, "augmentation of the encoder's input (jitter: the DA variant; strong: "
                    "channel order, hue and grey changes besides a wider jitter)")
    _resumable(p, "--foreground-weight", ReconstructionWeights.foreground,
               "extra weight of person pixels in the reconstruction loss (0: plain L1 + SSIM; "
               "see dprobe.frameworks.losses)", type=non_negative_float)
    _resumable(p, "--mask-weight", ReconstructionWeights.mask,
               "weight of the decoder-mask term (BCE against the background-difference "
               "silhouette)", type=non_negative_float)
    _resumable(p, "--edge-weight", ReconstructionWeights.edges,
               "weight of the edge term (weighted L1 of the images' pixel differences)",
               type=non_negative_float)
    _resumable(p, "--hard-weight", ReconstructionWeights.hard,
               f"weight of the hard-pixel term (mean L1 of each crop's worst "
               f"{HARD_FRACTION:.0%}% of pixels)",  # '%%': argparse formats help with %
               type=non_negative_float)
    _resumable(p, "--pose-weight", ReconstructionWeights.pose,
               "weight of the pose-consistency term (the pose code of the re-encoded "
               "reconstruction against the code it was decoded from)", type=non_negative_float)
    _add_run_options(p)
    p.set_defaults(func=_cmd_train)

    p = subparsers.add_parser("train-supervised", help="train the fully supervised upper bound",
                              description="Train the encoder and regressor end to end with "
                              "pose labels (the supervised upper bound).")
    _resumable(p, "--labelled", " ".join(TRAIN_SUBJECTS), "subjects whose pose labels are used",
               nargs="+", metavar="SUBJECT")
    _add_augment(p, "augmentation of the encoder's input on top of the labelled frames' jitter "
                    "and mirror (strong: channel order, hue and grey changes besides a wider "
                    "jitter: a model meant to ignore colour)")
    _resumable(p, "--detector", TrainingSettings.detector,
               "attach this model's detector S to the trained model (shipped name or checkpoint "
               "directory), so it can locate people in frames", metavar="NAME|DIR")
    _add_run_options(p)
    p.set_defaults(func=_cmd_train_supervised)

    p = subparsers.add_parser("train-detector", help="train the detector S",
                              description="Train the detector (box supervision) on all training "
                              "subjects; writes a detector-only checkpoint.")
    add_studio(p)
    p.add_argument("--out", required=True, metavar="DIR",
                   help="checkpoint directory, created")
    p.add_argument("--steps", type=positive_int, default=DetectorSettings.steps,
                   help="training steps (default %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=DetectorSettings.batch_size,
                   help="frames per step (default %(default)s)")
    _add_common_options(p)
    p.set_defaults(func=_cmd_train_detector)

    p = subparsers.add_parser("train-regressor", help="train the pose regressor (encoder frozen)",
                              description="Train phi on the frozen encoder of --model with the "
                              "labels of --labelled subjects; writes into --model's directory "
                              "unless --out (required for shipped models, which are read-only).")
    p.add_argument("--model", required=True, metavar="NAME|DIR",
                   help="checkpoint directory or shipped name")
    add_studio(p)
    p.add_argument("--labelled", nargs="+", default=["S1"], metavar="SUBJECT",
                   help="subjects whose pose labels are used (default %(default)s)")
    p.add_argument("--fraction", type=fraction, default=1.0,
                   help="fraction of their frames used, in (0, 1] (default %(default)s)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write model + regressor into this new directory (default: into --model)")
    p.add_argument("--detector", default=None, metavar="NAME|DIR",
                   help="also attach this detector checkpoint (default: none)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float16"),
                   help="weight dtype written, float16 for shipping (default %(default)s)")
    p.add_argument("--steps", type=positive_int, default=RegressorSettings.steps,
                   help="training steps (default %(default)s)")
    p.add_argument("--hidden", type=positive_int, default=RegressorSettings.hidden,
                   help="hidden units per layer of phi (default %(default)s)")
    p.add_argument("--augmented-copies", type=non_negative_int,
                   default=RegressorSettings.augmented_copies,
                   help="augmented copies of the labelled frames (colour jitter; every other one "
                        "mirrored) encoded beside them (default %(default)s; 0: none)")
    p.add_argument("--subject-offsets", type=non_negative_float,
                   default=RegressorSettings.subject_offsets, metavar="A",
                   help="move each training code by A x (a random training subject's mean pose "
                        "code - its own subject's), so phi reads pose past what appearance adds "
                        "to the code; means over unlabelled frames of every training subject, "
                        "never the test subjects (default %(default)s: off)")
    _add_common_options(p)
    p.set_defaults(func=_cmd_train_regressor)
