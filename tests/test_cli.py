"""The command line as a whole: the demo, --version, every option's help, and bad inputs of
`demo`, `evaluate` and `models` (one line, exit status 2, nothing created or changed)."""
import argparse
import json

import pytest
import torch

from dprobe import __version__
from dprobe.cli import build_parser
from dprobe.cli.options import DEFAULT_THREADS
from dprobe.models import registry
from dprobe.models.checkpoint import save_checkpoint
from dprobe.models.detector import DetectorConfig
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel
from tests.support import assert_refused, run_cli


def test_demo_runs_the_main_job(tmp_path, capsys):
    out = tmp_path / "demo"
    status, printed, _ = run_cli(capsys, "demo", "--out", out)
    assert status == 0
    assert (out / "contact_sheet.png").read_bytes()[:4] == b"\x89PNG"
    info = json.loads((out / "studio_info.json").read_text())
    assert info["preset"] == "tiny"
    table = (out / "models.md").read_text().splitlines()
    assert [row.split("|")[1].strip() for row in table[2:]] == [
        "nsd", "cssl", "drnet", "cssl-da", "supervised", "supervised-colour"]
    assert "PSNR dB" in table[0] and "MPJPE mm" in table[0]
    figures = json.loads((out / "models.json").read_text())
    assert all(fig["mpjpe"] > 0 for fig in figures.values())
    assert all(figures[n]["psnr"] > 20 for n in ("nsd", "cssl", "drnet", "cssl-da"))
    assert figures["supervised"].get("psnr") is None  # no decoder
    assert f"outputs in {out}/:" in printed and "  models.md" in printed


@pytest.mark.parametrize("what", ["folder", "file"])
def test_demo_refuses_an_existing_output(what, tmp_path, capsys):
    out = tmp_path / "demo"
    if what == "folder":
        out.mkdir()
        (out / "mine.txt").write_text("precious")
    else:
        out.write_text("precious")
    assert_refused(capsys, "demo", "--out", out, match="demo already exists; pass --force",
                   watch=(tmp_path,))


def test_version(capsys):
    status, out, _ = run_cli(capsys, "--version")
    assert status == 0 and out.strip() == f"dprobe {__version__}"


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command words, parser) of every sub-command and sub-sub-command, found by walking."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from _commands(sub, (*path, name))


def test_every_option_has_a_help_line_with_its_default(capsys):
    commands = list(_commands(build_parser()))
    assert {"studio build", "train", "train-regressor", "evaluate", "models", "demo"} <= {
        " ".join(words) for words, _ in commands}
    problems = []
    for words, parser in commands:
        status, out, _ = run_cli(capsys, *words, "--help")
        assert status == 0 and out.startswith(f"usage: dprobe {' '.join(words)}"), words
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            where = f"dprobe {' '.join(words)} {'/'.join(action.option_strings) or action.dest}"
            flag = isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
            if not action.help:
                problems.append(f"{where}: no help line")
            elif action.option_strings and not (flag or action.required) and not (
                    "default" in action.help or "required" in action.help):
                problems.append(f"{where}: the help line does not give the default")
            elif action.option_strings and action.option_strings[0] not in out:
                problems.append(f"{where}: missing from --help")
    assert not problems, "\n".join(problems)


def test_threads_has_one_default_everywhere():
    defaults = {" ".join(words): action.default for words, parser in _commands(build_parser())
                for action in parser._actions if "--threads" in action.option_strings}
    assert {k: v for k, v in defaults.items() if v != DEFAULT_THREADS} == {}


@pytest.fixture(scope="module")
def detector_only(tmp_path_factory):
    """A detector-only checkpoint (what `dprobe train-detector` writes), untrained."""
    out = tmp_path_factory.mktemp("detector")
    torch.manual_seed(0)
    model = ReferenceModel(NetworkConfig(), encoder=False, decoder=False,
                           detector=DetectorConfig(input_size=16, width=4))
    return save_checkpoint(model, out)


@pytest.fixture(scope="module")
def small_crops(tmp_path_factory):
    """A model for 32-px crops (the tiny studio's are 64 px)."""
    out = tmp_path_factory.mktemp("small")
    return save_checkpoint(ReferenceModel(NetworkConfig(crop_size=32, width=4)), out)


@pytest.mark.parametrize(("argv", "match"), [
    (["--max-frames", "0"], "argument --max-frames: '0' must be at least 1"),
    (["--threads", "0"], "argument --threads: '0' must be at least 1"),
    (["--model", "nowhere"], "'nowhere' is neither a shipped model"),
    (["--model", "{detector}"], "has no encoder .*detector-only"),
    (["--out", "{tmp}/no/figures.json"], "output folder .*no does not exist"),
    (["--out", "{tmp}/mine.json"], "mine.json already exists; pass --force"),
    (["--picture", "{tmp}/sheet.jpg"], "--picture .*sheet.jpg must end in .png"),
    (["--picture", "{tmp}/mine.png"], "mine.png already exists; pass --force"),
])
def test_evaluate_refuses_bad_input(argv, match, tiny_path, detector_only, small_crops,
                                    tmp_path, capsys):
    (tmp_path / "mine.json").write_text("{}")
    (tmp_path / "mine.png").write_text("precious")
    argv = [a.format(tmp=tmp_path, detector=detector_only, small=small_crops) for a in argv]
    assert_refused(capsys, "evaluate", "--model", "nsd", "--studio", tiny_path, *argv,
                   match=match, watch=(tmp_path, detector_only, small_crops))


def test_evaluate_runs_at_the_models_own_crop_size(tiny_path, small_crops, capsys):
    """A model of 32 px crops on the studio of 64 px ones: evaluated on 32 px crops."""
    status, out, err = run_cli(capsys, "evaluate", "--model", small_crops, "--studio", tiny_path,
                               "--max-frames", "2")
    assert status == 0, err
    result = json.loads(out)
    assert result["crop_size"] == 32 and result["model_source"]["kind"] == "checkpoint"
    assert "psnr" in result["all"]


def test_evaluate_draws_a_picture(tiny_path, tmp_path, capsys):
    picture = tmp_path / "nsd.png"
    status, out, _ = run_cli(capsys, "evaluate", "--model", "nsd", "--studio", tiny_path,
                             "--max-frames", "2", "--picture", picture)
    assert status == 0 and "reconstruction_shift" in out and '"init": ' in out
    assert picture.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nsd.png"]


def test_models_survives_a_corrupt_figures_file(tmp_path, capsys, monkeypatch):
    (tmp_path / "nsd").mkdir()
    (tmp_path / "nsd" / registry.FIGURES).write_text("{not json")
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    status, out, err = run_cli(capsys, "models")
    assert status == 0 and "| nsd |" in out and "MPJPE mm" in out
    warnings = err.splitlines()
    assert any("figures.json is corrupt" in line for line in warnings), err
    assert any("'cssl' is not installed" in line for line in warnings), err


def test_models_counts_the_minutes_of_the_run_a_model_started_from(tmp_path, capsys, monkeypatch):
    """A model fine-tuned with --init trained for its run's minutes plus its start's."""
    for name, figures in (("nsd", {"training": {"seconds": 1200.0},
                                   "init": {"seconds": 1500.0}, "all": {}}),
                          ("cssl", {"training": {"seconds": 600.0}, "init": None, "all": {}})):
        (tmp_path / name).mkdir()
        (tmp_path / name / registry.FIGURES).write_text(json.dumps(figures))
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    status, out, _ = run_cli(capsys, "models")
    rows = {line.split("|")[1].strip(): line.split("|")[-2].strip()
            for line in out.splitlines() if line.startswith("| nsd") or line.startswith("| cssl ")}
    assert status == 0 and rows == {"nsd": "45.0", "cssl": "10.0"}
