"""Training runs set up from plain settings: run.json's record of them, the options completed on
a new or resumed run, and the model and framework they build."""
from dataclasses import replace

import pytest

from dprobe.errors import DprobeError
from dprobe.frameworks.losses import ReconstructionWeights
from dprobe.train.rundir import STATE, write_run_settings
from dprobe.train.setup import TrainingSettings, build_training, resolve_settings


def test_run_json_records_the_settings_flat_and_gives_them_back():
    settings = TrainingSettings(framework="nsd", studio="s.h5",
                                reconstruction=ReconstructionWeights(foreground=4.0, pose=1.5))
    run = settings.to_run()
    assert list(run) == ["framework", "augment", "studio", "steps", "minutes", "batch_size", "seed",
                         "lr", "width", "labelled", "foreground_weight", "mask_weight",
                         "edge_weight", "hard_weight", "pose_weight", "init", "detector",
                         "val_every", "checkpoint_minutes", "command"]
    assert run["foreground_weight"] == 4.0 and run["pose_weight"] == 1.5
    assert TrainingSettings.from_run(run) == settings
    older = {k: v for k, v in run.items() if k != "detector"}  # a run.json written before it
    assert TrainingSettings.from_run(older) == settings


def test_options_are_completed_from_the_defaults_or_the_resumed_run(tmp_path):
    out = tmp_path / "run"
    new = resolve_settings({"framework": "supervised", "studio": "s.h5", "steps": 5}, out,
                           resume=False, force=False, command="first")
    assert new.steps == 5 and new.width == TrainingSettings.width and new.command == "first"
    assert new.labelled == ["S1", "S5", "S6", "S7", "S8"]  # the supervised default
    out.mkdir()
    write_run_settings(out, new.to_run())
    (out / STATE).write_bytes(b"")
    resumed = resolve_settings({"val_every": 7, "width": new.width}, out, resume=True,
                               force=False, command="again")
    assert resumed == replace(new, val_every=7, command="again")
    with pytest.raises(DprobeError, match="--steps is 6 but the run was started with 5"):
        resolve_settings({"steps": 6}, out, resume=True, force=False, command="")


def test_build_training_makes_the_model_and_its_framework(tiny):
    settings = TrainingSettings(framework="supervised", studio="tiny.h5", width=4, steps=2,
                                labelled=["S1"])
    model, framework, dataset, loop = build_training(settings, tiny)
    assert model.regressor is not None and model.decoder is None and model.network.width == 4
    assert framework.name == "supervised" and framework.total_steps == 2 and loop.steps == 2
    assert model.meta["data"] == {"studio": "tiny.h5", "subjects": ["S1"]} and len(dataset) > 0
    with pytest.raises(DprobeError, match="S9 is held out for testing"):
        build_training(replace(settings, labelled=["S9"]), tiny)


def test_a_borrowed_detector_is_attached_and_not_trained(tiny, tmp_path, make_model):
    from dprobe.models.checkpoint import save_checkpoint
    from dprobe.models.detector import Detector, DetectorConfig

    owner = make_model()
    owner.attach_detector(Detector(DetectorConfig(frame_hw=tiny.frame_hw, width=4)))
    save_checkpoint(owner, tmp_path / "owner")
    settings = TrainingSettings(framework="supervised", studio="tiny.h5", width=4, steps=2,
                                labelled=["S1"], detector=str(tmp_path / "owner"))
    model, framework, _, _ = build_training(settings, tiny)
    assert model.detector is not None
    trained = {id(p) for group in framework.optimizer.param_groups for p in group["params"]}
    assert not trained & {id(p) for p in model.detector.parameters()}
    for key, value in owner.detector.state_dict().items():
        assert (model.detector.state_dict()[key] == value.float()).all()
    save_checkpoint(make_model(), tmp_path / "none")
    with pytest.raises(DprobeError, match="holds no detector"):
        build_training(replace(settings, detector=str(tmp_path / "none")), tiny)
    owner.attach_detector(Detector(DetectorConfig(frame_hw=(48, 64), width=4)))
    save_checkpoint(owner, tmp_path / "other")
    with pytest.raises(DprobeError, match=r"locates people in \(48, 64\) px frames"):
        build_training(replace(settings, detector=str(tmp_path / "other")), tiny)
