"""`dprobe probe`: one JSON of numbers and readable figures per probe, in an atomically written
folder; bad inputs print one line, exit 2 and leave nothing behind."""
from __future__ import annotations

import json

from tests.support import assert_refused, run_cli


def test_probe_zero_writes_numbers_and_a_figure(tiny_path, tmp_path, capsys):
    out = tmp_path / "probes"
    status, _, err = run_cli(capsys, "probe", "zero", "--model", "nsd", "--studio", tiny_path,
                             "--out", out, "--frames", "1", "--quiet")
    assert status == 0, err
    numbers = json.loads((out / "nsd" / "zero.json").read_text())
    assert numbers["retention_zero"] >= 0 and numbers["seconds"] > 0
    assert numbers["settings"]["per_camera"] == 1
    assert (out / "nsd" / "zero_appearance_images.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["models"]["nsd"]["zero"]["figures"] == ["zero_appearance_images.png"]
    assert_refused(capsys, "probe", "zero", "--model", "nsd", "--studio", tiny_path, "--out", out,
                   match="already exists", watch=(tmp_path,))


def test_probe_refuses_bad_inputs(tiny_path, tmp_path, capsys):
    base = ("probe", "swap", "--model", "nsd", "--studio", tiny_path, "--out", tmp_path / "o")
    assert_refused(capsys, *base, "--pair", "S7", "S99", match="unknown subject 'S99'",
                   watch=(tmp_path,))
    assert_refused(capsys, *base, "--pair", "S7", "S7", match="two different subjects",
                   watch=(tmp_path,))
    assert_refused(capsys, "probe", "swap", "--model", "nsd", "--model", "nsd", "--studio",
                   tiny_path, "--out", tmp_path / "o", match="must differ", watch=(tmp_path,))
    assert_refused(capsys, "probe", "swap", "--model", "no-such-model", "--studio", tiny_path,
                   "--out", tmp_path / "o", match="neither a shipped model", watch=(tmp_path,))
    assert_refused(capsys, *base, "--k-step", "0", match="at least 1", watch=(tmp_path,))
