"""The worked example examples/resnet_pose: a network dprobe did not build, trained by its own
script with dprobe's data and objectives, loaded by dprobe as the model source
``examples/resnet_pose/model.py:build`` and passing ``dprobe check-model``."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from dprobe.sources import load_model
from tests.support import run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "resnet_pose"
SOURCE = "examples/resnet_pose/model.py:build"
WEIGHTS_ENV = "RESNET_POSE_WEIGHTS"

#: Building the tiny studio at 128 px takes most of the time (about a minute on 2 cores).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tiny128_path, tmp_path_factory):
    """train.py run for a few steps of each phase (one thread: small steps on a busy machine);
    its weights file and printed lines."""
    out = tmp_path_factory.mktemp("resnet_pose") / "weights.safetensors"
    run = subprocess.run(
        [sys.executable, str(EXAMPLE / "train.py"), "--studio", str(tiny128_path), "--out",
         str(out), "--steps", "2", "--batch-size", "2", "--log-every", "1", "--locator-steps",
         "2", "--regressor-steps", "10", "--labelled", "S1", "--augmented-copies", "0",
         "--threads", "1"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    return out, run.stdout


@pytest.fixture
def at_the_root(monkeypatch):
    """The model source is relative to the repository root, as in docs/your-model.md."""
    monkeypatch.chdir(ROOT)


def test_training_reports_each_phase_and_writes_its_summary(trained):
    out, printed = trained
    for phase in ("[codes] step 2/2", "[codes] held-out reconstruction: PSNR", "[locate] 2 steps",
                  "[regress] 10 steps on 216 codes of S1", "held-out S9 S11 MPJPE"):
        assert phase in printed
    with safe_open(str(out), "pt") as f:
        summary = json.loads(f.metadata()["training"])
    assert summary["codes"]["step"] == 2 and summary["regress"]["labelled_crops"] == 216
    assert summary["regress"]["val_mpjpe_mm"] > 0 and 0 <= summary["locate"]["val_iou"] <= 1


def test_dprobe_loads_the_trained_weights(trained, monkeypatch, at_the_root):
    out, _ = trained
    monkeypatch.setenv(WEIGHTS_ENV, str(out))
    model = load_model(SOURCE)
    assert model.crop_size == 128 and not model.training
    stored = load_file(out)
    assert stored.keys() == model.state_dict().keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in stored.items())


def test_check_model_passes(trained, tiny128_path, monkeypatch, at_the_root, capsys):
    out, _ = trained
    monkeypatch.setenv(WEIGHTS_ENV, str(out))
    status, printed, _ = run_cli(capsys, "check-model", "--model", SOURCE, "--studio",
                                 tiny128_path, "--threads", "1")
    assert status == 0
    assert "ERROR" not in printed and f"model {SOURCE} keeps the model protocol" in printed
    checked = {line.split()[1] for line in printed.splitlines()[1:-1]}
    assert {"locate", "encode", "decode", "regress"} <= checked  # two locator steps: its boxes
    # may still be far from the studio's (a warning, not an error)


def test_without_weights_build_warns_and_gives_random_weights(tmp_path, monkeypatch,
                                                             at_the_root):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "none.safetensors"))
    with pytest.warns(UserWarning, match="RANDOM weights"):
        model = load_model(SOURCE)
    assert model.crop_size == 128 and not model.training
