"""Fixtures of the sweep tests: a small attack spec on the session's tiny studio, and a worker
run in this process that leaves torch's and BLAS's thread counts as they were."""
from __future__ import annotations

import pytest
import torch
from threadpoolctl import threadpool_limits

#: A small attack grid: 8 items of 2 samples, 2 iterations each (seconds on 2 cores).
SMALL_ATTACK = """
name = "small"
[studio]
path = "{studio}"
[attack]
targets = ["nsd", "drnet"]
generators = ["self"]
subjects = ["S1", "S7"]
cameras = [0, 1]
frames = 2
iterations = 2
threshold_mm = 400.0
"""


@pytest.fixture
def small_spec(tmp_path, tiny_path):
    """The path of a spec file with ``SMALL_ATTACK`` on the tiny studio."""
    path = tmp_path / "small.toml"
    path.write_text(SMALL_ATTACK.format(studio=tiny_path))
    return path


@pytest.fixture
def keep_threads():
    """Restore torch's and BLAS's thread counts after an in-process sweep (workers set them)."""
    threads = torch.get_num_threads()
    with threadpool_limits(None):
        yield
    torch.set_num_threads(threads)
