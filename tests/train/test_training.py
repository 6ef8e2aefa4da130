import json

import pytest
import torch

from dprobe.errors import DprobeError
from dprobe.frameworks import CSSL, DRNet
from dprobe.models.checkpoint import load_checkpoint
from dprobe.train.loop import RunSettings, run_training
from dprobe.train.regressor import RegressorSettings, train_regressor
from dprobe.train.rundir import LOG, STATE, check_resumable, new_run_dir
from tests.support import Synthetic


class Interrupted(Exception):
    pass


def _run(out, make_model, cls=DRNet, kind="drnet", steps=6, stop_at=None, resume=False):
    framework = cls(make_model(), total_steps=steps, lr=3e-3, warmup=2)

    def on_step(step, losses):
        if step == stop_at:
            raise Interrupted

    settings = RunSettings(steps=steps, batch_size=4, seed=7, val_every=2, checkpoint_minutes=0)
    val = torch.utils.data.default_collate([Synthetic("labelled", 4)[i] for i in range(4)])
    if resume:
        check_resumable(out)
        run_training(framework, Synthetic(kind, 12), out, settings, val_batch=val, resume=True,
                     progress=False, on_step=on_step)
    else:
        with new_run_dir(out, force=False):
            run_training(framework, Synthetic(kind, 12), out, settings, val_batch=val,
                         progress=False, on_step=on_step)
    return framework


def test_resume_after_interruption_matches_the_uninterrupted_run(tmp_path, make_model):
    whole = _run(tmp_path / "whole", make_model)
    with pytest.raises(Interrupted):
        _run(tmp_path / "cut", make_model, stop_at=3)
    assert (tmp_path / "cut" / STATE).exists()
    resumed = _run(tmp_path / "cut", make_model, resume=True)
    assert resumed.step == whole.step == 6
    for name in ("model", "discriminator"):
        a = whole.modules()[name].state_dict()
        b = resumed.modules()[name].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    opt_a = whole.optimizer.state_dict()["state"]
    opt_b = resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(opt_a[k]["exp_avg"], opt_b[k]["exp_avg"]) for k in opt_a)
    steps = [json.loads(line)["step"] for line in (tmp_path / "cut" / LOG).read_text().splitlines()]
    assert steps == [2, 4, 6]
    loaded = load_checkpoint(tmp_path / "cut")
    assert loaded.meta["training"]["steps_done"] == 6 and "val_psnr" in loaded.meta["training"]


def test_resume_continues_from_the_saved_step(tmp_path, make_model):
    with pytest.raises(Interrupted):
        _run(tmp_path, make_model, cls=CSSL, kind="cssl", stop_at=2)
    seen = []
    framework = CSSL(make_model(), total_steps=6)
    settings = RunSettings(steps=6, batch_size=4, seed=7, val_every=100, checkpoint_minutes=0)
    run_training(framework, Synthetic("cssl", 12), tmp_path, settings, val_batch=None,
                 resume=True, progress=False, on_step=lambda s, _: seen.append(s))
    assert seen == [3, 4, 5, 6]


def test_existing_output_is_never_overwritten_without_force(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    with pytest.raises(DprobeError, match="--force"), new_run_dir(out, force=False):
        pass
    assert (out / "precious.txt").read_text() == "keep"
    with pytest.raises(DprobeError, match="cannot resume"):
        check_resumable(out)
    with new_run_dir(out, force=True):
        assert out.is_dir() and not any(out.iterdir())


class Failed(Exception):
    pass


def test_a_run_that_fails_before_its_first_state_leaves_nothing(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    with pytest.raises(Failed), new_run_dir(out, force=False):
        (out / "run.json").write_text("{}")
        raise Failed
    assert not (tmp_path / "a").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Failed), new_run_dir(empty, force=False):
        raise Failed
    assert empty.is_dir() and not any(empty.iterdir())  # the user's empty folder stays


def test_regressor_training_leaves_the_encoder_unchanged(make_model):
    model = make_model()
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    data = Synthetic("labelled", 24)
    val = torch.utils.data.default_collate([data[i] for i in range(24)])
    untrained = train_regressor(make_model(), data, RegressorSettings(steps=1, hidden=32,
                                                                    augmented_copies=0),
                                val_batch=val, progress=False)
    result = train_regressor(model, data, RegressorSettings(steps=150, hidden=32, batch_size=16,
                                                                dropout=0.0, augmented_copies=0),
                             val_batch=val, progress=False)
    after = model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert result["train_loss"] < 0.5 * untrained["train_loss"]
    assert model.meta["regressor"]["steps"] == 150 and not model.regressor.training


def test_regressor_settings_refuse_nonsense():
    with pytest.raises(DprobeError, match="augmented_copies"):
        RegressorSettings(augmented_copies=-1)


def test_time_budget_recalibrates_after_a_slow_start(tmp_path, make_model, monkeypatch):
    """A machine busy during the calibration steps must not cut the whole run short.

    The trainer's clock is simulated: the first 20 steps take 0.1 s each, later ones 1 ms."""
    from types import SimpleNamespace

    from dprobe.train import loop

    clock = {"now": 0.0}
    monkeypatch.setattr(loop, "time", SimpleNamespace(monotonic=lambda: clock["now"]))
    framework = CSSL(make_model(), total_steps=1000, lr=1e-3, warmup=2)
    fast_step = framework.training_step

    def step(batch):
        clock["now"] += 0.1 if framework.step < 20 else 0.001
        return fast_step(batch)

    framework.training_step = step
    first_total = {}

    def on_step(step, losses):
        if step == 20:
            first_total["steps"] = framework.total_steps

    settings = RunSettings(steps=200, minutes=0.08, batch_size=4, seed=7, val_every=10,
                           checkpoint_minutes=60)
    with new_run_dir(tmp_path, force=False):
        run_training(framework, Synthetic("cssl", 12), tmp_path, settings, val_batch=None,
                     progress=False, on_step=on_step)
    assert first_total["steps"] < 100  # 4.8 s at the slow start's 0.1 s per step: about 48
    assert framework.step == 200       # the recalibrated schedule runs to the step cap
