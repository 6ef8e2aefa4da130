"""The training commands end to end on the tiny studio (a few steps each), and their refusals:
one line, exit status 2, nothing created or changed."""
import json

import pytest

from dprobe.models import load, registry
from tests.support import assert_refused, run_cli

SMALL = ("--width", 4, "--batch-size", 4, "--quiet")


@pytest.fixture(scope="module")
def trained(tiny_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "nsd"
    status, _, err = run_cli(None, "train", "--framework", "nsd", "--out", out,
                             "--steps", 3, "--studio", tiny_path, *SMALL)
    assert status == 0, err
    return out


def test_train_writes_a_loadable_model_and_a_log(trained):
    model = load(trained)
    assert model.meta["framework"] == "nsd" and model.meta["training"]["steps_done"] == 3
    assert "S9" not in model.meta["data"]["subjects"] and "C000" in model.meta["data"]["subjects"]
    lines = (trained / "log.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 3 and "val_psnr" in json.loads(lines[-1])
    run = json.loads((trained / "run.json").read_text())
    assert run["steps"] == 3 and run["width"] == 4 and run["lr"] == 1e-3
    assert model.meta["hyperparameters"]["reconstruction"] == {"ssim": 1.0, "foreground": 0.0,
                                                               "mask": 0.0, "edges": 0.0,
                                                               "hard": 0.0, "hard_fraction": 0.05,
                                                               "pose": 0.0}


def test_reconstruction_weights_reach_the_objective(tiny_path, tmp_path):
    out = tmp_path / "weighted"
    status, _, err = run_cli(None, "train", "--framework", "drnet", "--out", out, "--steps", 1,
                             "--studio", tiny_path, "--foreground-weight", 4,
                             "--mask-weight", 0.5, "--edge-weight", 0.25, "--hard-weight", 2,
                             "--pose-weight", 1.5, *SMALL)
    assert status == 0, err
    weights = load(out).meta["hyperparameters"]["reconstruction"]
    assert weights == {"ssim": 1.0, "foreground": 4.0, "mask": 0.5, "edges": 0.25, "hard": 2.0,
                       "hard_fraction": 0.05, "pose": 1.5}
    assert "pose_consistency" in json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert json.loads((out / "run.json").read_text())["foreground_weight"] == 4.0


def test_init_starts_from_another_models_weights(trained, tiny_path, tmp_path):
    out = tmp_path / "tuned"
    status, _, err = run_cli(None, "train", "--framework", "cssl", "--out", out, "--steps", 1,
                             "--lr", 1e-12, "--init", trained, "--studio", tiny_path, *SMALL)
    assert status == 0, err
    tuned, source = load(out), load(trained)
    assert tuned.meta["init"]["from"] == str(trained)
    assert tuned.meta["init"]["framework"] == "nsd" and tuned.meta["init"]["steps_done"] == 3
    for part in ("encoder", "decoder"):
        mine, theirs = getattr(tuned, part).state_dict(), getattr(source, part).state_dict()
        for key, value in theirs.items():
            if value.is_floating_point() and "running" not in key:
                assert (mine[key].float() - value.float()).abs().max() < 1e-6, key
    assert json.loads((out / "run.json").read_text())["init"] == str(trained)


def test_resume_takes_the_options_of_run_json(trained, capsys):
    status, out, err = run_cli(capsys, "train", "--out", trained, "--resume", "--quiet",
                               "--width", 4)  # an option that agrees with run.json is accepted
    assert status == 0, err
    assert json.loads(out)["steps"] == 3 and load(trained).network.width == 4


@pytest.mark.parametrize(("argv", "match"), [
    (["--steps", "5"], "cannot resume: --steps is 5 but the run was started with 3"),
    (["--framework", "cssl"], "--framework is 'cssl' but the run was started with 'nsd'"),
    (["--minutes", "2"], "--minutes is 2.0 but the run was started with None"),
    (["--force"], "--resume and --force exclude each other"),
])
def test_resume_refuses_contradicting_options(argv, match, trained, capsys):
    assert_refused(capsys, "train", "--out", trained, "--resume", "--quiet", *argv, match=match,
                   watch=(trained,))


@pytest.mark.parametrize(("command", "argv", "match"), [
    ("train", ["--steps", "-5"], "argument --steps: '-5' must be at least 1"),
    ("train", ["--minutes", "-1"], "argument --minutes: '-1' must be a positive finite number"),
    ("train", ["--batch-size", "-2"], "argument --batch-size: '-2' must be at least 1"),
    ("train", ["--width", "0"], "argument --width: '0' must be at least 1"),
    ("train", ["--lr", "x"], "argument --lr: 'x' is not a number"),
    ("train", ["--seed", "-1"], r"argument --seed: '-1' must be in \[0, 2\^63\)"),
    ("train", ["--framework", "vae"], "argument --framework: invalid choice: 'vae'"),
    ("train", ["--studio", "{tmp}/none.h5"], "studio file .*none.h5 does not exist"),
    ("train", ["--out", "{tmp}/mine.txt"], "mine.txt already exists; pass --force"),
    ("train", ["--resume"], "cannot resume: .*train_state.safetensors does not exist"),
    ("train", ["--init", "nsd", "--width", "4"], "--init nsd has network .*width=16.* but this "
                                                 "run builds .*width=4"),
    ("train", ["--init", "{tmp}"], "is not a dprobe checkpoint: config.json"),
    ("train-supervised", ["--labelled", "S2"], "subject 'S2' is not in the studio"),
    ("train-supervised", ["--labelled", "S9"], "S9 is held out for testing"),
    ("train-supervised", ["--studio", "{tmp}/none.h5"], "studio file .*none.h5 does not exist"),
    ("train-detector", ["--studio", "{tmp}/none.h5"], "studio file .*none.h5 does not exist"),
    ("train-detector", ["--steps", "0"], "argument --steps: '0' must be at least 1"),
    ("train-regressor", ["--fraction", "2"], r"argument --fraction: '2' must be in \(0, 1\]"),
    ("train-regressor", ["--augmented-copies", "-1"], "'-1' must be 0 or more"),
    ("train-regressor", ["--subject-offsets", "-1"], "--subject-offsets: '-1' must be"),
    ("train-regressor", ["--labelled", "S11"], "S11 is held out for testing"),
    ("train-regressor", ["--model", "{tmp}"], "is not a dprobe checkpoint: config.json"),
    ("train-regressor", ["--out", "{tmp}/mine.txt"], "mine.txt already exists; pass --force"),
])
def test_training_commands_refuse_bad_input(command, argv, match, tiny_path, tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("precious")
    argv = [a.format(tmp=tmp_path) for a in argv]
    base = {"train": ["--framework", "nsd", "--out", tmp_path / "run"],
            "train-supervised": ["--out", tmp_path / "run"],
            "train-detector": ["--out", tmp_path / "run"],
            "train-regressor": ["--model", "nsd", "--out", tmp_path / "run"]}[command]
    assert_refused(capsys, command, *base, "--studio", tiny_path, *SMALL[-1:], *argv,
                   match=match, watch=(tmp_path,))


def test_a_run_interrupted_before_its_first_state_leaves_nothing(tiny_path, tmp_path, capsys,
                                                                 monkeypatch):
    from dprobe.train import setup

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(setup, "run_training", interrupted)
    status, _, err = run_cli(capsys, "train", "--framework", "cssl", "--studio", tiny_path,
                             "--out", tmp_path / "runs" / "cssl", *SMALL)
    assert status == 130 and err == "dprobe: interrupted\n"
    assert list(tmp_path.iterdir()) == []


def test_shipped_models_are_read_only(tiny_path, tmp_path, capsys):
    for extra in ((), ("--force",), ("--out", registry.WEIGHTS_DIR / "nsd", "--force")):
        assert_refused(capsys, "train-regressor", "--model", "nsd", "--studio", tiny_path,
                       "--quiet", *extra, match="shipped weights are read-only; pass --out",
                       watch=(registry.WEIGHTS_DIR / "nsd",))


def test_regressor_detector_and_evaluate(trained, tiny_path, tmp_path, capsys):
    det = tmp_path / "det"
    status, _, err = run_cli(capsys, "train-detector", "--studio", tiny_path, "--out", det,
                             "--steps", 2, "--quiet")
    assert status == 0, err
    assert_refused(capsys, "train-regressor", "--model", det, "--studio", tiny_path,
                   "--out", tmp_path / "x", match="has no encoder", watch=(tmp_path,))
    shipped = tmp_path / "shipped"
    status, _, err = run_cli(capsys, "train-regressor", "--model", trained, "--studio", tiny_path,
                             "--labelled", "S1", "--steps", 5, "--augmented-copies", 0, "--out", shipped,
                             "--detector", det, "--dtype", "float16", "--subject-offsets", 0.5,
                             "--quiet")
    assert status == 0, err
    model = load(shipped)
    assert model.components() == ["encoder", "decoder", "regressor", "detector"]
    assert model.meta["regressor"]["labelled"] == ["S1"]
    assert model.meta["regressor"]["subject_offsets"] == 0.5
    assert "S1" in model.meta["regressor"]["offset_subjects"]
    assert "S9" not in model.meta["regressor"]["offset_subjects"]
    assert_refused(capsys, "train-regressor", "--model", shipped, "--studio", tiny_path,
                   "--quiet", match="already has a regressor; pass --force", watch=(tmp_path,))
    figures = tmp_path / "figures.json"
    status, _, err = run_cli(capsys, "evaluate", "--model", shipped, "--studio", tiny_path,
                             "--out", figures, "--max-frames", 8)
    assert status == 0, err
    result = json.loads(figures.read_text())
    assert set(result["subjects"]) == {"S9", "S11"}
    for key in ("psnr", "ssim", "psnr_mask", "ssim_mask", "novel_view_psnr", "mpjpe", "n_mpjpe",
                "p_mpjpe", "mean_pose_mpjpe", "detected_mpjpe", "detector_iou"):
        assert key in result["all"], key


@pytest.mark.parametrize(("argv", "match"), [
    (["--framework", "nsd"], "--studio is required .unless --resume continues a run."),
    (["--studio", "s.h5"], "--framework is required .unless --resume continues a run."),
])
def test_train_needs_a_framework_and_a_studio_unless_resumed(argv, match, tmp_path, capsys):
    assert_refused(capsys, "train", "--out", tmp_path / "run", *argv, match=match,
                   watch=(tmp_path,))
