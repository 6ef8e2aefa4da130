"""dprobe installed as a wheel, away from the checkout: `dprobe demo` and `dprobe probe` run, and
the C++ example configures against the installed package.

The wheel is built with the project's build folder (build/<wheel tag>, reused by scikit-build-core,
so only what changed is compiled) and installed without dependencies into a fresh virtual
environment that sees the test environment's packages (torch, numpy...) through a .pth line but
not the checkout: every command runs from a temporary folder outside it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(cmd: list, cwd: Path, env: dict, timeout: float = 900) -> str:
    res = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, f"{cmd} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    return res.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(bin folder, environment, work folder)`` of a fresh venv with the dprobe wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-build-isolation", "--no-deps",
          "--wheel-dir", tmp / "dist"], cwd=tmp, env=env)
    (wheel,) = (tmp / "dist").glob("dprobe-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", tmp / "venv"], cwd=tmp, env=env)
    venv_python = tmp / "venv" / "bin" / "python"
    site = Path(_run([venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp, env=env).strip())
    (site / "test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", venv_python, "install", "--no-deps",
          "--no-index", wheel], cwd=tmp, env=env)
    env["PATH"] = f"{tmp / 'venv' / 'bin'}{os.pathsep}{env['PATH']}"
    work = tmp / "work"
    work.mkdir()
    return tmp / "venv" / "bin", env, work


def test_installed_package_is_the_wheel(installed):
    bin_dir, env, work = installed
    where = _run([bin_dir / "python", "-c", "import dprobe, dprobe.ops as o; "
                  "print(dprobe.__file__); print(o.library_loaded())"], cwd=work, env=env)
    path, loaded = where.split()
    assert Path(path).is_relative_to(bin_dir.parent) and not Path(path).is_relative_to(ROOT)
    assert loaded == "True"


def test_demo_and_probe_from_the_wheel(installed):
    bin_dir, env, work = installed
    out = _run([bin_dir / "dprobe", "demo", "--out", work / "demo"], cwd=work, env=env)
    assert "open the report" in out and (work / "demo" / "report" / "index.html").is_file()
    _run([bin_dir / "dprobe", "probe", "swap", "--model", "nsd", "--studio",
          work / "demo" / "studio-tiny.h5", "--out", work / "probe", "--frames", "1", "--quiet"],
         cwd=work, env=env)
    assert any((work / "probe").rglob("*.json"))


@pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")
def test_cpp_example_configures_against_the_wheel(installed):
    bin_dir, env, work = installed
    out = _run(["cmake", "-S", ROOT / "examples" / "embedding" / "cpp" / "pipeline", "-B",
                work / "pipeline_demo", f"-DPython_EXECUTABLE={bin_dir / 'python'}"],
               cwd=work, env=env)
    assert "Build files have been written" in out
    package = _run([bin_dir / "python", "-c", "import dprobe, os; "
                    "print(os.path.dirname(dprobe.__file__))"], cwd=work, env=env).strip()
    flags = next((work / "pipeline_demo").rglob("flags.make")).read_text()
    assert f"{package}/include" in flags  # the installed header, not the checkout's csrc
