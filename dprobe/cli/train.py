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
    command_line,
    open_studio,
    set_threads,
)
from dprobe.data.batches import held_out_batch
from dprobe.data.subjects import TEST_SUBJECTS, TRAIN_SUBJECTS, training_subjects
from dprobe.errors import DprobeError
from dprobe.frameworks import FRAMEWORKS, SELF_SUPERVISED
from dprobe.frameworks.augment import AUGMENTS, make_augment
from dprobe.models import registry
from dprobe.models.checkpoint import load_checkpoint, save_checkpoint
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig
from dprobe.train.detector import DetectorSettings, train_detector
from dprobe.train.loop import RunSettings, run_training
from dprobe.train.regressor import RegressorSettings, train_regressor
from dprobe.train.rundir import (
    check_resume_settings,
    prepare_run_dir,
    read_run_settings,
    write_run_settings,
)

__all__ = ["register"]

VAL_PER_SUBJECT = 64
#: Settings that must match when a run is resumed.
_RESUME_KEYS = ("framework", "augment", "studio", "steps", "minutes", "batch_size", "seed", "lr",
                "width", "labelled")


def _check_subjects(studio: Any, subjects: list[str]) -> None:
    for s in subjects:
        if s not in studio.subject_names:
            raise DprobeError(f"subject {s!r} is not in the studio ({', '.join(studio.subject_names)})")
        if s in TEST_SUBJECTS:
            raise DprobeError(f"subject {s} is held out for testing and cannot be used for training")


# -- train / train-supervised --------------------------------------------------------------------
def _run_settings(args: argparse.Namespace, framework: str) -> dict:
    return {"framework": framework, "augment": getattr(args, "augment", "none"),
            "studio": str(args.studio), "steps": args.steps, "minutes": args.minutes,
            "batch_size": args.batch_size, "seed": args.seed, "lr": args.lr, "width": args.width,
            "labelled": getattr(args, "labelled", None), "command": command_line()}


def _train_framework(args: argparse.Namespace, framework_name: str) -> int:
    set_threads(args.threads)
    out = Path(args.out)
    given = _run_settings(args, framework_name)
    prepare_run_dir(out, force=args.force, resume=args.resume)
    if args.resume:
        check_resume_settings(read_run_settings(out), given, _RESUME_KEYS)
    else:
        write_run_settings(out, given)
    studio = open_studio(args.studio)
    cls = FRAMEWORKS[framework_name]
    subjects = list(args.labelled) if cls.name == "supervised" else training_subjects(
        studio.subject_names)
    _check_subjects(studio, subjects)
    network = NetworkConfig(crop_size=studio.crop_size, width=args.width)
    model = ReferenceModel(
        network,
        decoder=cls.uses_decoder,
        regressor=RegressorConfig(network.dim_pose) if cls.name == "supervised" else None,
    )
    framework = cls(model, total_steps=args.steps, lr=args.lr, augment=make_augment(given["augment"]))
    model.meta.update({
        "framework": framework_name, "augment": given["augment"],
        "hyperparameters": framework.hyperparameters(),
        "data": {"studio": str(args.studio), "subjects": subjects},
        "command": given["command"], "seed": args.seed,
    })
    dataset = framework.make_dataset(studio, subjects)
    if not args.resume:
        framework.prepare(dataset)
    settings = RunSettings(steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                           minutes=args.minutes, val_every=args.val_every,
                           checkpoint_minutes=args.checkpoint_minutes)
    summary = run_training(framework, dataset, out, settings,
                           val_batch=held_out_batch(studio, VAL_PER_SUBJECT),
                           resume=args.resume, progress=not args.quiet)
    print(json.dumps({"out": str(out), **summary}))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    return _train_framework(args, args.framework)


def _cmd_train_supervised(args: argparse.Namespace) -> int:
    return _train_framework(args, "supervised")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    add_studio(p)
    p.add_argument("--out", required=True, help="run directory (refused if it exists)")
    p.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    p.add_argument("--minutes", type=float, default=None,
                   help="training-time budget; the schedule is shortened to fit it")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="peak Adam learning rate")
    p.add_argument("--width", type=int, default=16, help="network base width (channels)")
    p.add_argument("--val-every", type=int, default=200, help="steps between validations")
    p.add_argument("--checkpoint-minutes", type=float, default=3.0,
                   help="minutes between saved training states")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    _add_common_options(p)


def _add_common_options(p: argparse.ArgumentParser) -> None:
    add_seed(p)
    add_threads(p)
    add_force(p)
    add_quiet(p)


# -- train-detector -------------------------------------------------------------------------------
def _cmd_train_detector(args: argparse.Namespace) -> int:
    from dprobe.data.datasets import LabelledFrames

    set_threads(args.threads)
    out = Path(args.out)
    prepare_run_dir(out, force=args.force, resume=False)
    studio = open_studio(args.studio)
    subjects = training_subjects(studio.subject_names)
    settings = DetectorSettings(steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    dataset = LabelledFrames(studio, subjects=tuple(subjects), with_frame=True)
    detector, figures = train_detector(
        dataset, tuple(studio.frame_hw), settings,
        val_batch=held_out_batch(studio, VAL_PER_SUBJECT, with_frame=True),
        progress=not args.quiet)
    model = ReferenceModel(NetworkConfig(crop_size=studio.crop_size), encoder=False, decoder=False,
                           meta={"detector": {**figures, "subjects": subjects,
                                              "studio": str(args.studio), "command": command_line()}})
    model.attach_detector(detector)
    save_checkpoint(model, out)
    print(json.dumps({"out": str(out), **figures}))
    return 0


# -- train-regressor ------------------------------------------------------------------------------
def _cmd_train_regressor(args: argparse.Namespace) -> int:
    from dprobe.data.datasets import LabelledFrames

    set_threads(args.threads)
    source = registry.resolve(args.model)
    model = load_checkpoint(source)
    out = Path(args.out) if args.out else source
    if out.resolve() != source.resolve():
        prepare_run_dir(out, force=args.force, resume=False)
    elif model.regressor is not None and not args.force:
        raise DprobeError(f"{out} already has a regressor; pass --force to replace it "
                          "or --out to write elsewhere")
    studio = open_studio(args.studio)
    _check_subjects(studio, args.labelled)
    if args.detector:
        detector = load_checkpoint(registry.resolve(args.detector)).detector
        if detector is None:
            raise DprobeError(f"{args.detector} holds no detector")
        model.attach_detector(detector)
    dataset = LabelledFrames(studio, subjects=tuple(args.labelled), fraction=args.fraction)
    settings = RegressorSettings(steps=args.steps, seed=args.seed, hidden=args.hidden,
                                 augmented_copies=args.augmented_copies)
    figures = train_regressor(model, dataset, settings,
                              val_batch=held_out_batch(studio, VAL_PER_SUBJECT),
                              progress=not args.quiet)
    model.meta["regressor"].update({"labelled": list(args.labelled), "fraction": args.fraction,
                                    "command": command_line()})
    save_checkpoint(model, out, dtype=args.dtype)
    print(json.dumps({"out": str(out), **figures}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add train, train-supervised, train-detector, train-regressor."""
    p = subparsers.add_parser("train", help="train a self-supervised framework",
                              description="Train NSD, CSSL or DRNet (optionally with colour "
                              "jitter: the DA variant) on a studio file.")
    p.add_argument("--framework", required=True, choices=SELF_SUPERVISED)
    p.add_argument("--augment", default="none", choices=("none", *AUGMENTS))
    _add_run_options(p)
    p.set_defaults(func=_cmd_train)

    p = subparsers.add_parser("train-supervised", help="train the fully supervised upper bound",
                              description="Train the encoder and regressor end to end with "
                              "pose labels (the supervised upper bound).")
    p.add_argument("--labelled", nargs="+", default=list(TRAIN_SUBJECTS), metavar="SUBJECT")
    _add_run_options(p)
    p.set_defaults(func=_cmd_train_supervised)

    p = subparsers.add_parser("train-detector", help="train the detector S",
                              description="Train the detector (box supervision) on all training "
                              "subjects; writes a detector-only checkpoint.")
    add_studio(p)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=DetectorSettings.steps)
    p.add_argument("--batch-size", type=int, default=DetectorSettings.batch_size)
    _add_common_options(p)
    p.set_defaults(func=_cmd_train_detector)

    p = subparsers.add_parser("train-regressor", help="train the pose regressor (encoder frozen)",
                              description="Train phi on the frozen encoder of --model with the "
                              "labels of --labelled subjects; writes into --model unless --out.")
    p.add_argument("--model", required=True, help="checkpoint directory (or shipped name)")
    add_studio(p)
    p.add_argument("--labelled", nargs="+", default=["S1"], metavar="SUBJECT")
    p.add_argument("--fraction", type=float, default=1.0, help="fraction of their frames used")
    p.add_argument("--out", default=None, help="write model + regressor here instead")
    p.add_argument("--detector", default=None, help="also attach this detector checkpoint")
    p.add_argument("--dtype", default="float32", choices=("float32", "float16"),
                   help="weight dtype written (float16 for shipping)")
    p.add_argument("--steps", type=int, default=RegressorSettings.steps)
    p.add_argument("--hidden", type=int, default=RegressorSettings.hidden)
    p.add_argument("--augmented-copies", type=int, default=RegressorSettings.augmented_copies,
                   help="augmented copies of the labelled frames (colour jitter; every other one "
                        "mirrored) encoded beside them (default %(default)s; 0: none)")
    _add_common_options(p)
    p.set_defaults(func=_cmd_train_regressor)
