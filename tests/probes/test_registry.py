"""The probe registry: every probe is known by one declaration; a probe registered from outside
(a toy, removed afterwards) reaches the command line, sweep specs, the time estimate, run_probe
and the report; docs/probes.md lists the registered probes."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from threadpoolctl import threadpool_limits

from dprobe.errors import DprobeError
from dprobe.probes.base import Probe, ProbeResult, ProbeSettings
from dprobe.probes.counterfactual import Scene
from dprobe.probes.registry import (
    get_probe,
    probe_names,
    register_probe,
    run_probe,
    unregister_probe,
)
from dprobe.report.probe_figures import FIGURE_WRITERS
from dprobe.sweep.spec import estimate_seconds, parse_spec, plan_items
from tests.support import run_cli

DOCS = Path(__file__).resolve().parents[2] / "docs" / "probes.md"
SPEC = """
name = "toy"
[studio]
path = "{studio}"
[probes]
models = ["nsd"]
probes = ["zero", "toy"]
per_camera = 1
"""


@dataclass
class ToyResult(ProbeResult):
    """The rows the toy probe picked."""

    frames: int

    def numbers(self) -> dict:
        return {"frames": self.frames, "detail": {"double": 2 * self.frames}}


def _toy_run(model, scene: Scene, settings: ProbeSettings, progress: bool) -> ToyResult:
    return ToyResult(len(scene.rows(settings.pair[0], settings.per_camera)))


def _toy_figures(result: ToyResult, out: Path, model: str) -> list[str]:
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out / "toy_square.png")
    return ["toy_square.png"]


TOY = Probe(name="toy", title="a toy that counts frames", run=_toy_run, result_type=ToyResult,
            headline=("frames",),
            estimate_seconds=lambda s: 1000.0 * s.per_camera)


@pytest.fixture
def toy(monkeypatch):
    """The toy probe and its figure writer, registered for one test."""
    register_probe(TOY)
    monkeypatch.setitem(FIGURE_WRITERS, "toy", _toy_figures)
    yield TOY
    unregister_probe("toy")


def test_docs_table_lists_the_registered_probes():
    text = DOCS.read_text()
    table = re.findall(r"^\| `(\w+)` \|", text, re.M)
    assert tuple(table) == probe_names()
    listed = re.search(r"`dprobe probe ([\w|]+) --model", text).group(1)
    assert tuple(listed.split("|")) == (*probe_names(), "all")


def test_names_are_unique_and_not_all():
    assert probe_names() == ("swap", "zero", "channels", "embed", "metrics")
    with pytest.raises(ValueError, match="already registered"):
        register_probe(get_probe("swap"))
    with pytest.raises(ValueError, match="not 'all'"):
        register_probe(Probe("all", "", _toy_run, ToyResult, dict, lambda s: 0.0))
    with pytest.raises(ValueError, match="unknown probe 'nope'; choose one of swap, zero"):
        get_probe("nope")


def test_a_registered_probe_runs_through_run_probe(toy, tiny):
    assert probe_names()[-1] == "toy"
    model = SimpleNamespace(crop_size=tiny.crop_size)  # a probe sees the scene at its size
    result = run_probe("toy", model, Scene(tiny), ProbeSettings(per_camera=2))
    assert result.numbers()["frames"] == 2 * 4 and result.seconds > 0  # 4 cameras
    wrong = Probe("wrong", "", lambda *a: {"frames": 1}, ToyResult, dict, lambda s: 0.0)
    register_probe(wrong)
    try:
        with pytest.raises(TypeError, match="returned a dict, not the ToyResult"):
            run_probe("wrong", model, Scene(tiny), ProbeSettings())
    finally:
        unregister_probe("wrong")


def test_a_registered_probe_is_a_command_and_a_sweep_item(toy, tiny_path, tmp_path, capsys):
    status, out, _ = run_cli(capsys, "probe", "--help")
    out = " ".join(out.split())  # argparse wraps lines
    assert status == 0 and "metrics | toy | all" in out and "toy: a toy that counts frames" in out
    spec = parse_spec(SPEC.format(studio=tiny_path))
    assert spec.probes.probes == ("zero", "toy")
    items = plan_items(spec, {"preset": "tiny"})
    assert estimate_seconds(items) == pytest.approx(1000.0 + 2.5)
    status, _, err = run_cli(capsys, "probe", "toy", "--model", "nsd", "--studio", tiny_path,
                             "--out", tmp_path / "o", "--frames", "1", "--quiet")
    assert status == 0, err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["models"]["nsd"]["toy"]["frames"] == 4
    assert summary["models"]["nsd"]["toy"]["figures"] == ["toy_square.png"]


def test_a_registered_probe_is_in_the_report(toy, tiny_path, tmp_path, capsys):
    spec = tmp_path / "toy.toml"
    spec.write_text(SPEC.format(studio=tiny_path))
    with threadpool_limits(None):  # the in-process worker sets torch's and BLAS's threads
        status, _, err = run_cli(capsys, "sweep", "run", spec, "--db", tmp_path / "r.sqlite",
                                 "--quiet")
        assert status == 0, err
    status, _, err = run_cli(capsys, "report", "--db", tmp_path / "r.sqlite", "--out",
                             tmp_path / "report")
    assert status == 0, err
    page = (tmp_path / "report" / "index.html").read_text()
    assert "nsd: toy probe (toy_square)" in page
    image = re.search(r'src="(img/probe-\w+-toy_square\.png)"', page).group(1)
    assert (tmp_path / "report" / image).is_file()


def test_an_unknown_probe_in_a_spec_names_the_registered_ones(tiny_path):
    with pytest.raises(DprobeError, match="unknown probe 'toy' in probes.probes .*metrics\\)"):
        parse_spec(SPEC.format(studio=tiny_path))
