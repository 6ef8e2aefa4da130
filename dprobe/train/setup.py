"""Training jobs from plain settings: a framework's run (new or resumed), and the detector.

A framework's run: ``TrainingSettings`` holds its settings as plain values, recorded flat in the
run directory's ``run.json`` (``to_run`` / ``from_run``). ``resolve_settings`` completes the
options a user gave from ``run.json`` when resuming (refusing any that contradicts it) or from
the defaults; ``build_training`` turns settings and a studio into the model, its framework, the
training dataset and the loop's ``RunSettings``; ``train_framework`` starts or continues the run
directory. ``train_detector_checkpoint`` trains the detector into a detector-only checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from torch.utils.data import Dataset

from dprobe.data.batches import held_out_batch
from dprobe.data.studio import Studio
from dprobe.data.subjects import TEST_SUBJECTS, TRAIN_SUBJECTS, training_subjects
from dprobe.errors import DprobeError
from dprobe.files import atomic_directory, refuse_existing
from dprobe.frameworks import FRAMEWORKS, Framework
from dprobe.frameworks.augment import make_augment
from dprobe.frameworks.losses import ReconstructionWeights
from dprobe.models import registry
from dprobe.models.checkpoint import save_checkpoint
from dprobe.models.detector import Detector
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig
from dprobe.train.detector import DetectorSettings, train_detector
from dprobe.train.loop import RunSettings, run_training
from dprobe.train.rundir import (
    check_new_run_dir,
    check_resumable,
    new_run_dir,
    read_run_settings,
    write_run_settings,
)

__all__ = [
    "RESUME_FREE",
    "VAL_PER_SUBJECT",
    "Training",
    "TrainingSettings",
    "borrowed_detector",
    "build_training",
    "check_subjects",
    "initialise",
    "resolve_settings",
    "train_detector_checkpoint",
    "train_framework",
]

#: Held-out frames per test subject in the validation batch of every training job.
VAL_PER_SUBJECT = 64
#: ``run.json``'s names of the reconstruction weights (its other keys are the settings' fields).
WEIGHT_KEYS = {"foreground_weight": "foreground", "mask_weight": "mask", "edge_weight": "edges",
               "hard_weight": "hard", "pose_weight": "pose"}
#: Settings a resumed run may change (they do not change the result of a fixed-step run).
RESUME_FREE = ("val_every", "checkpoint_minutes")


@dataclass(frozen=True)
class TrainingSettings:
    """A framework's training run in plain values (the defaults are the command line's).

    ``framework`` and ``studio`` (the studio file) are required: ``None`` only marks them unset.
    ``labelled``: the subjects whose pose labels train the supervised framework (default: every
    training subject). ``init``: a model (shipped name or checkpoint folder) whose encoder and
    decoder the run starts from. ``minutes``: a training-time budget that shortens the schedule.
    ``command``: the command line, recorded in the model's meta.
    """

    framework: str | None = None
    augment: str = "none"
    studio: str | None = None
    steps: int = 3000
    minutes: float | None = None
    batch_size: int = 32
    seed: int = 0
    lr: float = 1e-3
    width: int = 16
    labelled: list[str] | None = None
    reconstruction: ReconstructionWeights = field(default_factory=ReconstructionWeights)
    init: str | None = None
    detector: str | None = None
    val_every: int = 200
    checkpoint_minutes: float = 3.0
    command: str = ""

    def to_run(self) -> dict[str, Any]:
        """The flat dict ``run.json`` records (the reconstruction weights as ``WEIGHT_KEYS``)."""
        run: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "reconstruction":
                run.update({key: getattr(value, name) for key, name in WEIGHT_KEYS.items()})
            else:
                run[f.name] = value
        return run

    @classmethod
    def from_run(cls, run: dict[str, Any]) -> TrainingSettings:
        """The settings of a ``run.json`` dict (``to_run``'s keys; a setting that came later,
        absent from an older run's file, takes its default)."""
        weights = ReconstructionWeights(**{name: run[key] for key, name in WEIGHT_KEYS.items()})
        defaults = cls().to_run()
        return cls(reconstruction=weights, **{f.name: run.get(f.name, defaults[f.name])
                                              for f in fields(cls) if f.name != "reconstruction"})

    def run_settings(self) -> RunSettings:
        """The training loop's settings."""
        return RunSettings(steps=self.steps, batch_size=self.batch_size, seed=self.seed,
                           minutes=self.minutes, val_every=self.val_every,
                           checkpoint_minutes=self.checkpoint_minutes)


def check_subjects(studio: Studio, subjects: list[str]) -> None:
    """Refuse subjects that the studio lacks or that are held out for testing."""
    for s in subjects:
        if s not in studio.subject_names:
            raise DprobeError(f"subject {s!r} is not in the studio ({', '.join(studio.subject_names)})")
        if s in TEST_SUBJECTS:
            raise DprobeError(f"subject {s} is held out for testing and cannot be used for training")


def resolve_settings(given: dict[str, Any], out: Path, *, resume: bool, force: bool,
                     command: str) -> TrainingSettings:
    """The settings of the run in ``out`` from the options ``given`` (``run.json`` keys).

    A new run takes the defaults for what is not given (``framework`` and ``studio`` are
    required); ``resume`` takes every setting from ``out/run.json`` and refuses a given one that
    contradicts it, except ``RESUME_FREE``'s, which a given option changes. ``out`` is checked
    first: a new run's must not exist unless ``force``, a resumed one's must hold a training state.
    """
    if resume and force:
        raise DprobeError("--resume and --force exclude each other")
    if resume:
        check_resumable(out)
    else:
        check_new_run_dir(out, force)
    defaults = TrainingSettings().to_run()
    fixed = [key for key in defaults if key not in (*RESUME_FREE, "command")]
    saved = read_run_settings(out) if resume else {}
    if resume:
        for key in fixed:
            if key in given and given[key] != saved.get(key):
                raise DprobeError(f"cannot resume: --{key.replace('_', '-')} is {given[key]!r} but "
                                  f"the run was started with {saved.get(key)!r}")
        run = {key: saved.get(key, defaults[key]) for key in fixed}
    else:
        run = {key: given.get(key, defaults[key]) for key in fixed}
        for key in ("framework", "studio"):
            if run[key] is None:
                raise DprobeError(f"--{key} is required (unless --resume continues a run)")
        if run["framework"] == "supervised" and run["labelled"] is None:
            run["labelled"] = list(TRAIN_SUBJECTS)
    for key in RESUME_FREE:
        run[key] = given[key] if key in given else saved.get(key, defaults[key])
    return TrainingSettings.from_run({**run, "command": command})


def initialise(model: ReferenceModel, source: str) -> dict:
    """Copy the encoder (and decoder, where both have one) of the model ``source`` (a shipped
    name or a checkpoint directory) into ``model``; what it was, for the new model's meta."""
    init = registry.load(source)
    if init.network != model.network:
        raise DprobeError(f"--init {source} has network {init.network} but this run builds "
                          f"{model.network} (give the same --width, or another --init)")
    for part in ("encoder", "decoder"):
        mine, theirs = getattr(model, part), getattr(init, part)
        if mine is None:
            continue
        if theirs is None:
            raise DprobeError(f"--init {source} has no {part}, which this framework trains")
        mine.load_state_dict({k: v.float() for k, v in theirs.state_dict().items()})
    training = init.meta.get("training") or {}
    return {"from": str(source), "framework": init.meta.get("framework"),
            "steps_done": training.get("steps_done"), "seconds": training.get("seconds"),
            "reconstruction": init.meta.get("hyperparameters", {}).get("reconstruction")}


def borrowed_detector(source: str, frame_hw: tuple[int, int]) -> Detector:
    """The detector S of the model ``source`` (a shipped name or a checkpoint directory), for
    frames of ``frame_hw`` px; refused in one line if it has none or reads another frame size."""
    detector = registry.load(source).detector
    if detector is None:
        raise DprobeError(f"--detector {source} holds no detector")
    if tuple(detector.cfg.frame_hw) != tuple(frame_hw):
        raise DprobeError(f"--detector {source} locates people in {detector.cfg.frame_hw} px "
                          f"frames, this studio's are {tuple(frame_hw)}")
    return detector.float()


class Training(NamedTuple):
    """A framework's run ready to train: the model, its framework, the training dataset and the
    loop's settings."""

    model: ReferenceModel
    framework: Framework
    dataset: Dataset
    settings: RunSettings


def build_training(settings: TrainingSettings, studio: Studio) -> Training:
    """The model (random weights, or ``settings.init``'s encoder and decoder), its framework and
    the dataset over the training subjects of ``studio`` (``settings.labelled`` for the
    supervised framework); the model's meta records the settings. Uses torch's global random
    state for the initial weights."""
    cls = FRAMEWORKS[settings.framework]
    supervised = cls.name == "supervised"
    subjects = list(settings.labelled) if supervised else training_subjects(studio.subject_names)
    check_subjects(studio, subjects)
    try:
        network = NetworkConfig(crop_size=studio.crop_size, width=settings.width)
    except ValueError as e:  # a crop size the reference network cannot have
        raise DprobeError(f"this studio's {studio.crop_size} px crops: the reference network's "
                          f"{e} (build the studio with --crop-size 64 or 128; any size trains a "
                          "network of your own, docs/your-model.md)") from None
    model = ReferenceModel(network, decoder=cls.uses_decoder,
                           regressor=RegressorConfig(network.dim_pose) if supervised else None)
    framework = cls(model, total_steps=settings.steps, lr=settings.lr,
                    augment=make_augment(settings.augment), reconstruction=settings.reconstruction)
    if settings.init is not None:  # on resume the training state then replaces the weights
        model.meta["init"] = initialise(model, settings.init)
    if settings.detector is not None:  # after the framework's optimizer: S is not trained
        model.attach_detector(borrowed_detector(settings.detector, studio.frame_hw))
    model.meta.update({
        "framework": settings.framework, "augment": settings.augment,
        "hyperparameters": framework.hyperparameters(),
        "data": {"studio": str(settings.studio), "subjects": subjects},
        "command": settings.command, "seed": settings.seed,
    })
    return Training(model, framework, framework.make_dataset(studio, subjects),
                    settings.run_settings())


def train_framework(settings: TrainingSettings, out: Path, *, resume: bool = False,
                    force: bool = False, progress: bool = True) -> dict:
    """Train (or, with ``resume``, continue) the run of ``settings`` in the run directory ``out``
    (created, with its ``run.json``, for a new run); the training loop's summary."""
    studio = Studio.open(settings.studio)
    training = build_training(settings, studio)
    val_batch = held_out_batch(studio, VAL_PER_SUBJECT)
    if resume:
        return run_training(training.framework, training.dataset, out, training.settings,
                            val_batch=val_batch, resume=True, progress=progress)
    with new_run_dir(out, force):
        write_run_settings(out, settings.to_run())
        training.framework.prepare(training.dataset)
        return run_training(training.framework, training.dataset, out, training.settings,
                            val_batch=val_batch, progress=progress)


def train_detector_checkpoint(studio_path: str, out: Path, settings: DetectorSettings, *,
                              force: bool = False, progress: bool = True,
                              command: str = "") -> dict:
    """Train the detector on every training subject of the studio and write it into the new
    detector-only checkpoint ``out``; its figures."""
    from dprobe.data.datasets import LabelledFrames

    refuse_existing(out, force)
    studio = Studio.open(studio_path)
    subjects = training_subjects(studio.subject_names)
    dataset = LabelledFrames(studio, subjects=tuple(subjects), with_frame=True)
    detector, figures = train_detector(
        dataset, tuple(studio.frame_hw), settings,
        val_batch=held_out_batch(studio, VAL_PER_SUBJECT, with_frame=True), progress=progress)
    model = ReferenceModel(NetworkConfig(crop_size=studio.crop_size), encoder=False, decoder=False,
                           meta={"detector": {**figures, "subjects": subjects,
                                              "studio": str(studio_path), "command": command}})
    model.attach_detector(detector)
    with atomic_directory(out, force) as tmp:
        save_checkpoint(model, tmp)
    return figures
