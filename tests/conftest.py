"""Shared fixtures: one tiny studio per test session; hypothesis derandomized.

Property tests run the same examples on every run (profile ``dprobe``); set
``HYPOTHESIS_PROFILE=explore`` for fresh random examples (a failure prints the reproduction blob).
"""
from __future__ import annotations

import os

import pytest
from hypothesis import settings

from dprobe.data.build import build_studio
from dprobe.data.studio import Studio

settings.register_profile("dprobe", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dprobe"))


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


@pytest.fixture(scope="session")
def tiny48_path(tmp_path_factory):
    """The same `tiny` studio with 48 px crops (``--crop-size 48``), built once per session."""
    path = tmp_path_factory.mktemp("studio48") / "tiny48.h5"
    build_studio("tiny", path, seed=0, progress=False, crop_size=48)
    return path
