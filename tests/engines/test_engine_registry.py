"""The engine registry: an engine registered once is seen by canonical(), load(), the benchmark's
export formats and `dprobe bench --help`, and is gone again once unregistered."""
from __future__ import annotations

import pytest

from dprobe.engines import ENGINES, EngineInfo, canonical, load, register, unregister
from dprobe.engines.bench import formats_for
from dprobe.engines.torchscript import TorchScriptEngine
from dprobe.errors import DprobeError
from tests.support import run_cli


class ToyEngine(TorchScriptEngine):
    """The TorchScript modules under another name."""

    name = "toy"


TOY = EngineInfo("toy", aliases=("tq",), formats=("onnx", "torchscript"),
                 devices=("cpu", "toy-accelerator"),
                 load=lambda directory, manifest, device, precision:
                 ToyEngine(directory, manifest))


def test_a_registered_engine_is_seen_everywhere_until_unregistered(tiny_export, capsys):
    register(TOY)
    try:
        assert canonical("tq") == "toy" and list(ENGINES)[-1] == "toy"
        assert formats_for(["tq"]) == ("torchscript", "onnx")
        engine = load(tiny_export, "tq")
        assert isinstance(engine, ToyEngine) and engine.name == "toy"
        status, text, _ = run_cli(capsys, "bench", "--help")
        assert status == 0 and "toy (tq)" in text and "toy-accelerator" in text
    finally:
        unregister("toy")
    with pytest.raises(DprobeError, match="unknown engine 'tq'; choose from eager"):
        canonical("tq")
    status, text, _ = run_cli(capsys, "bench", "--help")
    assert status == 0 and "toy" not in text


def test_register_refuses_a_taken_name_and_an_unknown_format():
    with pytest.raises(ValueError, match="trt already registered"):
        register(EngineInfo("trt", load=TOY.load))
    with pytest.raises(ValueError, match=r"format\(s\) tflite"):
        register(EngineInfo("lite", formats=("tflite",), load=TOY.load))
    assert "lite" not in ENGINES and "trt" not in ENGINES
