"""The studio the worked examples train on: the `tiny` preset at 128 px crops, once a session."""
from __future__ import annotations

import pytest

from dprobe.data.build import build_studio


@pytest.fixture(scope="session")
def tiny128_path(tmp_path_factory):
    """A `tiny` studio HDF5 file with 128 px crops (``--crop-size 128``)."""
    path = tmp_path_factory.mktemp("studio128") / "tiny128.h5"
    build_studio("tiny", path, seed=0, progress=False, crop_size=128)
    return path
