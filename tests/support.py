"""Helpers shared by the tests (imported as ``from tests.support import ...``).

- ``Synthetic``: small synthetic stand-ins for the studio datasets (coloured boxes on smooth
  backgrounds), items with the keys and shapes of ``dprobe.data.datasets``' items at 32 px,
  depending only on their index, so runs over them are deterministic; ``SMALL_NET`` sizes a
  network for them.
- ``cpp_tolerance_mm``: how far the C++ attack's errors may be from the Python attack's;
- fixtures ``make_model``, ``batch_of`` and ``one_thread`` (imported by the conftest files that
  use them);
- ``run_cli``, ``snapshot`` and ``assert_refused``: run ``dprobe`` in-process and check that a bad
  input prints one line, exits with status 2 and creates or changes nothing;
- ``DPROBE`` and ``default_signals``: run ``dprobe`` as a child process whose signal
  dispositions are the defaults, whatever the test runner inherited.
"""
from __future__ import annotations

import hashlib
import re
import signal
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from dprobe.cli import main
from dprobe.geometry import euler_xyz_to_matrix
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig

#: The ``dprobe`` command as a child process (the current interpreter, this checkout's package).
DPROBE = [sys.executable, "-c", "import sys; from dprobe.cli import main; sys.exit(main())"]


def default_signals() -> None:
    """``preexec_fn`` of child processes that a test signals: SIGINT and SIGTERM back to their
    default dispositions. A background job of a non-interactive shell starts with SIGINT ignored
    and its children inherit that (Python then installs no KeyboardInterrupt handler), so
    without this a test of Ctrl-C would test how the suite was launched, not dprobe."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


SIZE = 32
SMALL_NET = NetworkConfig(crop_size=SIZE, width=8, max_channels=32, dim_app=16, dim_pose=30)
#: The C++ attack's initial and final MPJPE equal the Python attack's within this (mm) plus
#: ``CPP_TOLERANCE_RELATIVE`` of the Python attack's error; its iteration counts and successes
#: are equal. The Python attack runs inference copies (batch norm folded, the decoder's last
#: upsampling merged into its convolution: the same functions to float rounding), and Adam's
#: per-entry step normalisation turns that rounding into differences of ~1e-4 of the error
#: (0.014 mm at ~150 mm measured), the tolerance of tests/probes/test_attack.py's
#: inference-copies test.
CPP_TOLERANCE_MM = 0.01
CPP_TOLERANCE_RELATIVE = 1e-3


def cpp_tolerance_mm(reference_mm: float | torch.Tensor) -> float | torch.Tensor:
    """How far (mm) a C++ attack error may be from the Python attack's ``reference_mm``."""
    return CPP_TOLERANCE_MM + CPP_TOLERANCE_RELATIVE * abs(reference_mm)


# -- synthetic data --------------------------------------------------------------------------------
def scene(gen: torch.Generator, subject: int):
    """(crop, bg, mask, pose (17, 3) mm) of one synthetic frame of ``subject``."""
    bg = F.interpolate(torch.rand(1, 3, 4, 4, generator=gen), size=SIZE, mode="bilinear")[0]
    colour = torch.tensor([(subject * 0.37) % 1, (subject * 0.61) % 1, (subject * 0.13) % 1])
    x0, y0 = torch.randint(2, SIZE // 2, (2,), generator=gen).tolist()
    w, h = torch.randint(8, SIZE // 2, (2,), generator=gen).tolist()
    mask = torch.zeros(1, SIZE, SIZE)
    mask[:, y0:y0 + h, x0:x0 + w] = 1
    crop = mask * colour.view(3, 1, 1) + (1 - mask) * bg
    pose = torch.zeros(17, 3)
    pose[:, 0] = float(x0 * 10 + w)
    pose[:, 1] = float(y0 * 10 + h)
    pose[0] = 0
    return crop, bg, mask, pose


class Synthetic(Dataset):
    """Items of one kind: "nsd", "cssl", "drnet", "labelled"."""

    def __init__(self, kind: str, n: int = 16) -> None:
        self.kind, self.n = kind, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        gen = torch.Generator().manual_seed(1000 + i)
        subject = i % 3
        frames = [scene(gen, subject) for _ in range(4)]
        s = torch.tensor(subject)
        if self.kind == "nsd":
            (ci, bi, _, _), (cj, bj, _, _), (ca, ba, _, _) = frames[:3]
            angles = torch.rand(2, 3, generator=gen)
            R = euler_xyz_to_matrix(angles)
            return {"crop_i": ci, "bg_i": bi, "crop_j": cj, "bg_j": bj, "R_i": R[0], "R_j": R[1],
                    "app_j": ca, "bg_app_j": ba, "subject": s}
        if self.kind == "cssl":
            (c1, b1, _, _), (c2, b2, _, _) = frames[:2]
            return {"crop_1": c1, "bg_1": b1, "crop_2": c2, "bg_2": b2,
                    "gap": torch.tensor(float(i % 13)), "subject": s, "sequence": s}
        if self.kind == "drnet":
            return {"crops": torch.stack([f[0] for f in frames]),
                    "bgs": torch.stack([f[1] for f in frames]), "subject": s, "sequence": s}
        crop, bg, mask, pose = frames[0]
        return {"crop": crop, "bg": bg, "mask": mask, "pose": pose, "subject": s,
                "camera": torch.tensor(0)}


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture
def make_model():
    """``make(decoder=True, regressor=False)``: a fresh ``SMALL_NET`` model, seeded."""
    def make(decoder=True, regressor=False):
        torch.manual_seed(0)
        reg = RegressorConfig(SMALL_NET.dim_pose, hidden=32) if regressor else None
        return ReferenceModel(SMALL_NET, decoder=decoder, regressor=reg)
    return make


@pytest.fixture
def batch_of():
    """``make(kind, n=8)``: a collated batch of ``n`` ``Synthetic`` items."""
    def make(kind: str, n: int = 8):
        ds = Synthetic(kind, n)
        return torch.utils.data.default_collate([ds[i] for i in range(n)])
    return make


@pytest.fixture
def one_thread():
    """Small networks run fastest on one thread (and do not stall on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- the command line -------------------------------------------------------------------------------
def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``dprobe *argv`` in-process: (exit status, stdout, stderr); torch's thread count kept.
    With ``capsys`` None (module fixtures) the output goes to the terminal and comes back
    empty."""
    threads = torch.get_num_threads()
    try:
        status = main([str(a) for a in argv])
    finally:
        torch.set_num_threads(threads)
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return status, out, err


def snapshot(*roots: Path) -> dict[str, tuple[int, str]]:
    """Every file and folder under ``roots``: path -> (size, content hash) ("dir" for folders)."""
    state = {}
    for root in roots:
        root = Path(root)
        for path in [root, *root.rglob("*")] if root.exists() else []:
            state[str(path)] = ((-1, "dir") if path.is_dir() else
                                (path.stat().st_size, hashlib.sha1(path.read_bytes()).hexdigest()))
    return state


def assert_refused(capsys, *argv, match: str, watch: tuple[Path, ...]) -> str:
    """``dprobe *argv`` must exit with status 2 printing one line that matches ``match``, and
    leave every file and folder under ``watch`` as it was; returns the line."""
    before = snapshot(*watch)
    status, out, err = run_cli(capsys, *argv)
    assert status == 2, (status, out, err)
    assert err.count("\n") == 1 and err.startswith("dprobe"), err
    assert re.search(match, err), err
    assert snapshot(*watch) == before, "files were created or changed"
    return err.strip()
