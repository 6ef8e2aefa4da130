"""The C++ attack (dprobe._pipeline) equals the Python attack (also as a whole ``AttackResult``,
as sweeps use it); the example program built with CMake against the installed package runs the
exported predict and the attack without Python."""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import fields

import pytest
import torch

from dprobe.engines import load
from dprobe.engines.pipeline import CppAttack, library_paths, save_inputs, settings_kwargs
from dprobe.probes.attack import AttackResult, AttackSettings, attack, studio_batch
from dprobe.probes.attack_generators import DecoderGenerator
from tests.support import cpp_tolerance_mm

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def batch(tiny):
    return studio_batch(tiny, torch.linspace(0, tiny.n - 1, 4).round().long())


def _python_attack(tiny_export, batch, config):
    model = load(tiny_export, "eager").model
    return attack(model, DecoderGenerator(model, "self"), batch, config)


@pytest.mark.parametrize("boxes", ["detector", "truth"])
def test_cpp_attack_matches_python(tiny_export, batch, boxes):
    probe = _python_attack(tiny_export, batch, AttackSettings(iterations=6, threshold_mm=1e9,
                                                            boxes=boxes))
    # a threshold between the errors, so that samples stop at different iterations
    threshold = float(probe.final.median())
    config = AttackSettings(iterations=6, threshold_mm=threshold, boxes=boxes, lr=0.2, eps=2.0)
    ref = _python_attack(tiny_export, batch, config)
    got = CppAttack(tiny_export).run(batch["frame"], batch["background"],
                                     batch["box"] if boxes == "truth" else None,
                                     **settings_kwargs(config))
    assert len(set(ref.iterations.tolist())) > 1, "the test should exercise per-sample stopping"
    assert torch.equal(got["iterations"], ref.iterations)
    assert torch.equal(got["success"], ref.success)
    assert ((got["initial"] - ref.initial).abs() <= cpp_tolerance_mm(ref.initial)).all()
    assert ((got["final"] - ref.final).abs() <= cpp_tolerance_mm(ref.final)).all()
    torch.testing.assert_close(got["x_final"], ref.x_final, atol=1e-5, rtol=0)
    torch.testing.assert_close(got["q"], ref.q, atol=1e-3, rtol=0)


def test_cpp_attack_result_is_the_python_result(tiny_export, batch):
    config = AttackSettings(iterations=3, threshold_mm=1e9, lr=0.2)
    ref = _python_attack(tiny_export, batch, config)
    got = CppAttack(tiny_export).attack(load(tiny_export, "eager").model, batch, config)
    assert torch.equal(got.iterations, ref.iterations) and torch.equal(got.success, ref.success)
    unreported = ("change_path", "delta_e_path")  # the library does not report the path
    for f in fields(AttackResult):  # mm, [0, 1] images, codes: all within 1e-3
        if f.name in unreported:
            assert getattr(got, f.name).isnan().all(), f.name
            continue
        torch.testing.assert_close(getattr(got, f.name), getattr(ref, f.name), atol=1e-3,
                                   rtol=0, msg=f.name, equal_nan=True)
    with pytest.raises(ValueError, match="fp32"):
        CppAttack(tiny_export).attack(load(tiny_export, "eager").model, batch,
                                      AttackSettings(precision="bf16"))


def test_cpp_predict_and_refusals(tiny_export, batch, tmp_path):
    cpp = CppAttack(tiny_export)
    assert cpp.crop_size == 32
    want = load(tiny_export, "eager").predict(batch["frame"])
    assert (cpp.predict(batch["frame"]) - want).abs().max() <= 1e-3
    with pytest.raises(ValueError, match="shaped like frames"):
        cpp.run(batch["frame"], batch["background"][:1])
    copy = shutil.copytree(tiny_export, tmp_path / "export")
    (copy / "attack_step.pt").write_bytes(b"")
    with pytest.raises(Exception, match="attack_step.pt"):
        CppAttack(copy)


@pytest.fixture(scope="session")
def demo_program(tmp_path_factory):
    """examples/embedding/cpp/pipeline built with CMake against the installed package (once per session)."""
    if shutil.which("cmake") is None or shutil.which("c++") is None:
        pytest.fail("cmake and a C++ compiler are needed to build examples/embedding/cpp/pipeline")
    build = tmp_path_factory.mktemp("pipeline_demo")
    for cmd in (["cmake", "-S", str(ROOT / "examples" / "embedding" / "cpp" / "pipeline"), "-B", str(build),
                 f"-DPython_EXECUTABLE={sys.executable}"],
                ["cmake", "--build", str(build), "--parallel", "2"]):
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return build / "dprobe_pipeline_demo"


def test_cpp_program_runs_predict_and_attack(demo_program, tiny_export, batch, tmp_path):
    inputs = tmp_path / "inputs.pt"
    save_inputs(inputs, batch["frame"], batch["background"], batch["box"])
    res = subprocess.run([str(demo_program), str(tiny_export), library_paths()["ops_library"],
                          str(inputs), "5", "400"], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    lines = [line.split() for line in res.stdout.splitlines()]
    joints = torch.tensor([[float(v) for v in line[2:]] for line in lines if line[0] == "joints"])
    want = load(tiny_export, "eager").predict(batch["frame"]).reshape(4, -1)
    assert joints.shape == want.shape and (joints - want).abs().max() <= 1e-3
    ref = _python_attack(tiny_export, batch, AttackSettings(iterations=5, threshold_mm=400,
                                                          boxes="truth"))
    rows = [line for line in lines if line[0] == "attack"]
    assert [int(r[4]) for r in rows] == ref.iterations.tolist()
    final = torch.tensor([float(r[3]) for r in rows])
    assert ((final - ref.final).abs() <= cpp_tolerance_mm(ref.final)).all()
