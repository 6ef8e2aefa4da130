"""Shared fixtures: one tiny studio per test session."""
from __future__ import annotations

import pytest

from dprobe.data.build import build_studio
from dprobe.data.studio import Studio


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory):
    """A `tiny` studio HDF5 file, built once per session."""
    path = tmp_path_factory.mktemp("studio") / "tiny.h5"
    build_studio("tiny", path, seed=0, progress=False)
    return path


@pytest.fixture(scope="session")
def tiny(tiny_path) -> Studio:
    """The tiny studio in memory."""
    return Studio.open(tiny_path)
