"""The engine benchmark: its rows, the CLI, and `--engine trt` without TensorRT."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from dprobe.engines.bench import bench, formats_for
from tests.support import assert_refused, run_cli


def test_bench_rows(tiny_export, tiny_checkpoint, tiny_path):
    result = bench(str(tiny_checkpoint), ["eager", "torchscript", "onnxruntime"], [1, 2],
                   export_dir=tiny_export, studio=tiny_path, seconds=0.05, rounds=1)
    rows = {(r["engine"], r["batch"]): r for r in result["rows"]}
    assert set(rows) == {(e, b) for e in ("eager", "torchscript", "onnxruntime") for b in (1, 2)}
    for (engine, _), r in rows.items():
        assert r["images_per_s"] > 0 and 0 < r["p50_ms"] <= r["p99_ms"]
        assert r["max_joint_diff_mm"] <= 1e-3
        assert (r["attack_it_per_s"] is None) == (engine == "onnxruntime")
    assert rows[("eager", 1)]["max_joint_diff_mm"] == 0
    assert formats_for(["trt"]) == ("onnx", "tensorrt") and formats_for(["eager"])


def test_bench_cli_json(tiny_export, tiny_checkpoint, tiny_path, tmp_path, capsys):
    out = tmp_path / "bench.json"
    status, text, _ = run_cli(capsys, "bench", "--engine", "eager,onnxruntime", "--model",
                              tiny_checkpoint, "--export", tiny_export, "--studio", tiny_path,
                              "--batch", "2", "--seconds", "0.05", "--no-attack", "--threads", "1",
                              "--json", out)
    assert status == 0
    assert "| onnxruntime | cpu | fp32 | 2 |" in text and "x eager" in text
    rows = json.loads(out.read_text())["rows"]
    assert [r["engine"] for r in rows] == ["eager", "onnxruntime"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_trt_without_tensorrt_is_one_line_exit_2(tiny_checkpoint, tmp_path, capsys):
    line = assert_refused(capsys, "bench", "--engine", "trt", "--model", tiny_checkpoint,
                          "--json", tmp_path / "b.json", match=r"pip install dprobe\[gpu\]",
                          watch=(tmp_path,))
    assert "TensorRT" in line
    res = subprocess.run([sys.executable, "-m", "dprobe.bench", "--engine", "trt", "--model",
                          str(tiny_checkpoint)], capture_output=True, text=True, check=False)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "TensorRT 10+" in res.stderr and "pip install dprobe[gpu]" in res.stderr
