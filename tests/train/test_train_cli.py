"""The training commands end to end on the tiny studio (a few steps each)."""
import json

import pytest
import torch

from dprobe.cli import build_parser
from dprobe.errors import DprobeError
from dprobe.models import load


def dprobe(*argv: str) -> int:
    args = build_parser().parse_args([str(a) for a in argv])
    threads = torch.get_num_threads()
    try:
        return args.func(args)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tiny_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "nsd"
    common = ("--studio", tiny_path, "--quiet")
    assert dprobe("train", "--framework", "nsd", "--out", out, "--steps", 3, "--width", 4,
                  "--batch-size", 4, *common) == 0
    return out


def test_train_writes_a_loadable_model_and_a_log(trained):
    model = load(trained)
    assert model.meta["framework"] == "nsd" and model.meta["training"]["steps_done"] == 3
    assert "S9" not in model.meta["data"]["subjects"] and "C000" in model.meta["data"]["subjects"]
    lines = (trained / "log.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 3 and "val_psnr" in json.loads(lines[-1])


def test_train_refuses_an_existing_directory_and_a_changed_resume(trained, tiny_path):
    base = ("train", "--framework", "nsd", "--out", trained, "--studio", tiny_path, "--width", 4,
            "--batch-size", 4, "--quiet")
    with pytest.raises(DprobeError, match="already exists"):
        dprobe(*base, "--steps", 3)
    with pytest.raises(DprobeError, match="--steps is 5 but the run was started with 3"):
        dprobe(*base, "--steps", 5, "--resume")


def test_regressor_detector_and_evaluate(trained, tiny_path, tmp_path):
    det = tmp_path / "det"
    assert dprobe("train-detector", "--studio", tiny_path, "--out", det, "--steps", 2,
                  "--quiet") == 0
    shipped = tmp_path / "shipped"
    assert dprobe("train-regressor", "--model", trained, "--studio", tiny_path, "--labelled", "S1",
                  "--steps", 5, "--out", shipped, "--detector", det, "--dtype", "float16",
                  "--quiet") == 0
    model = load(shipped)
    assert model.components() == ["encoder", "decoder", "regressor", "detector"]
    assert model.meta["regressor"]["labelled"] == ["S1"]
    with pytest.raises(DprobeError, match="held out"):
        dprobe("train-regressor", "--model", trained, "--studio", tiny_path, "--labelled", "S9",
               "--out", tmp_path / "bad", "--quiet")
    figures = tmp_path / "figures.json"
    assert dprobe("evaluate", "--model", shipped, "--studio", tiny_path, "--out", figures,
                  "--max-frames", 8) == 0
    result = json.loads(figures.read_text())
    assert set(result["subjects"]) == {"S9", "S11"}
    for key in ("psnr", "ssim", "psnr_mask", "ssim_mask", "novel_view_psnr", "mpjpe", "n_mpjpe",
                "p_mpjpe", "mean_pose_mpjpe", "detected_mpjpe", "detector_iou"):
        assert key in result["all"], key
