"""benchmarks/gpu_check.py on the CPU: the same checks as on a GPU, with the CPU engines."""
from __future__ import annotations

import json

import pytest

from benchmarks.gpu_check import GRAPH_INPUTS, TOLERANCES, engine_runs, main


def test_engines_checked_on_cuda():
    assert engine_runs("cuda") == [("onnxruntime", "fp32"), ("tensorrt", "fp32"),
                                   ("tensorrt", "fp16")]
    assert all(set(TOLERANCES[p]) == set(GRAPH_INPUTS) for p in ("fp32", "fp16"))


@pytest.mark.slow
def test_gpu_check_on_the_cpu(tiny_checkpoint, tiny_path, tmp_path, capsys):
    status = main(["--model", str(tiny_checkpoint), "--out", str(tmp_path), "--device", "cpu",
                   "--studio", str(tiny_path), "--seconds", "0.1"])
    text = capsys.readouterr().out
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert status == 0 and report["passed"] and text.rstrip().endswith(
        f"JSON: {tmp_path / 'gpu_check.json'}"), text
    names = {r["check"] for r in report["checks"]}
    for engine, precision in engine_runs("cpu"):
        assert {f"{engine} {precision} {g}" for g in GRAPH_INPUTS} <= names
    assert {"export", "attack on cpu", "composite_crop on cpu"} <= names
    assert any(n.startswith("bench onnxruntime fp32 batch") for n in names)
    assert len(text.splitlines()) <= 25  # one screen


def test_gpu_check_fails_on_a_mismatch(tiny_checkpoint, tiny_path, tmp_path, capsys,
                                       monkeypatch):
    import benchmarks.gpu_check as check

    monkeypatch.setitem(check.TOLERANCES["fp32"], "regress", -1.0)  # nothing can pass
    monkeypatch.setattr(check, "check_bench", lambda *a: None)
    monkeypatch.setattr(check, "check_attack", lambda *a: None)
    monkeypatch.setattr(check, "check_op", lambda *a: None)
    status = main(["--model", str(tiny_checkpoint), "--out", str(tmp_path), "--device", "cpu",
                   "--studio", str(tiny_path)])
    text = capsys.readouterr().out
    assert status == 1 and "FAIL onnxruntime fp32 regress" in text
    assert "FAILED: 2 check(s)" in text  # onnxruntime and torchscript
