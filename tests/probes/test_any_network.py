"""Networks dprobe did not build, of any crop size and code sizes, through every probe, the
evaluation and the attack (Python API and command line), and the figures they make
undefined."""
import json

import pytest
import torch

from dprobe.probes.base import UNDEFINED, ProbeSettings
from dprobe.probes.counterfactual import Scene
from dprobe.probes.evaluate import evaluate_model
from dprobe.probes.registry import probe_names, run_probe
from dprobe.sources import load_model
from tests.support import run_cli

USER = "tests/models/user_networks.py"
SMALL = ProbeSettings(per_camera=1, embed_per_camera=2, metrics_per_camera=8, iob=None)
CLI_SMALL = ("--frames", "1", "--embed-frames", "2", "--metrics-frames", "8", "--no-iob",
             "--quiet")


def _all_defined_or_explained(numbers: dict) -> None:
    """Every figure is a number, or None with its reason under "undefined"."""
    reasons = numbers[UNDEFINED]
    assert all(isinstance(r, str) and r for r in reasons.values())
    assert "NaN" not in json.dumps({k: v for k, v in numbers.items() if k != UNDEFINED})


@pytest.mark.parametrize(("function", "size"), [("build_48", 48), ("build_64", 64),
                                                ("build", 96), ("build_128", 128)])
def test_every_probe_runs_at_the_models_crop_size(function, size, tiny):
    model = load_model(f"{USER}:{function}")
    assert model.crop_size == size
    for name in probe_names():
        result = run_probe(name, model, Scene(tiny), SMALL)
        numbers = result.checked_numbers()
        _all_defined_or_explained(numbers)
        for images in getattr(result, "examples", {}).values():
            assert images.shape[-2:] == (size, size), (name, images.shape)
    # 8 crops per camera make no batch of 400 for the batched DC: said, not raised
    assert "dc_batched.mean" in numbers[UNDEFINED]


@pytest.mark.parametrize("size", [48, 96])
def test_evaluate_and_the_attack_at_other_sizes(size, tiny):
    from dprobe.probes.attack import AttackSettings, attack, studio_batch
    from dprobe.probes.generator_registry import make_generator

    model = load_model(f"{USER}:{'build_48' if size == 48 else 'build'}")
    figures = evaluate_model(model, tiny, max_frames=4)
    assert {"psnr", "mpjpe", "mean_pose_mpjpe", "detector_iou"} <= set(figures["all"])
    assert "novel_view_psnr" not in figures["all"]  # NSD's pose-code rotation only
    rows = torch.tensor([0, 100])
    for generator in ("self", "renderer"):
        result = attack(model, make_generator(generator, model, tiny, load_model),
                        studio_batch(tiny, rows), AttackSettings(iterations=2))
        assert result.x_final.shape[-2:] == (size, size)


def test_a_decoder_that_ignores_the_codes_makes_figures_undefined(tiny):
    """The reconstructions of A in A's and in B's clothes are identical: no leak, no retention;
    every other figure is still there."""
    model = load_model(f"{USER}:ignores_codes")
    swap = run_probe("swap", model, Scene(tiny), SMALL).checked_numbers()
    assert swap["featured"]["leak"] is None and swap["featured"]["mean_leak_all_pairs"] is None
    assert "identical" in swap[UNDEFINED]["featured.leak"]
    assert swap["featured"]["leak_raw"] is not None  # the studio's renders differ
    zero = run_probe("zero", model, Scene(tiny), SMALL).checked_numbers()
    assert zero["retention_zero"] is None and "do not vary" in zero[UNDEFINED]["retention_zero"]


def test_two_sizes_in_one_probe_run_from_the_command_line(tiny_path, tmp_path, capsys):
    out = tmp_path / "probes"
    status, printed, err = run_cli(capsys, "probe", "all", "--model", f"{USER}:build_48",
                                   "--model", f"{USER}:ignores_codes", "--studio", tiny_path,
                                   "--out", out, *CLI_SMALL)
    assert status == 0, err
    for label, size in (("user_networks.build_48", 48), ("user_networks.ignores_codes", 64)):
        swap = json.loads((out / label / "swap.json").read_text())
        assert swap["crop_size"] == size and swap["model_source"]["kind"] == "code"
        assert swap["model_source"]["source"].endswith(label.split(".")[1])
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["sources"]) == {"user_networks.build_48", "user_networks.ignores_codes"}
    assert "[user_networks.ignores_codes] swap: featured.leak is undefined: " in printed
    assert "[user_networks.build_48] metrics: dc_batched.mean is undefined: 64 crops" in printed


@pytest.mark.parametrize(("function", "match"), [
    ("nan_codes", "encode: h_a holds NaN"),
    ("sixteen_joints", r"regress: joints has shape \(4, 16, 3\)"),
    ("bright_images", r"decode: rgb must be in \[0, 1\]"),
])
def test_a_model_that_breaks_the_protocol_is_named_in_one_line(function, match, tiny_path,
                                                               tmp_path, capsys):
    for argv in (["probe", "swap", "--model", f"{USER}:{function}", "--out", tmp_path / "p",
                  *CLI_SMALL],
                 ["attack", "--target", f"{USER}:{function}", "--out", tmp_path / "a",
                  "--frames", "1", "--quiet"],
                 ["evaluate", "--model", f"{USER}:{function}"]):
        status, _, err = run_cli(capsys, *argv, "--studio", tiny_path)
        assert status == 2 and err.count("\n") == 1, err
        assert __import__("re").search(match, err), err
    assert list(tmp_path.iterdir()) == []


def test_evaluate_and_attack_take_any_source_on_the_command_line(tiny_path, tmp_path, capsys):
    status, out, err = run_cli(capsys, "evaluate", "--model", f"{USER}:build", "--studio",
                               tiny_path, "--max-frames", "2")
    assert status == 0, err
    assert json.loads(out)["crop_size"] == 96
    status, _, err = run_cli(capsys, "attack", "--target", f"{USER}:build_128", "--generator",
                             "renderer", "--studio", tiny_path, "--subjects", "S9", "--frames",
                             "2", "--iterations", "2", "--out", tmp_path / "a", "--quiet")
    assert status == 0, err
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["target_crop_size"] == 128 and summary["target_source"]["kind"] == "code"
