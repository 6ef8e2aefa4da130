"""The Ray backend on a local 2-CPU cluster gives the local backend's rows, item for item."""
import pytest

from dprobe.data.studio import Studio
from dprobe.sweep.backends import run_items
from dprobe.sweep.items import WorkerSetup
from dprobe.sweep.run import spec_items
from dprobe.sweep.spec import load_spec
from dprobe.sweep.store import ResultsStore

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'dprobe[ray]')")


@pytest.mark.slow
def test_ray_rows_equal_local_rows(tmp_path, small_spec, tiny_path, keep_threads):
    items = spec_items(load_spec(small_spec), Studio.open(tiny_path))[:4]
    setup = WorkerSetup(str(tiny_path))
    with ResultsStore.open(tmp_path / "local.sqlite") as local, \
            ResultsStore.open(tmp_path / "ray.sqlite") as remote:
        run_items(items, setup, local, progress=False)
        stats = run_items(items, setup, remote, backend="ray", workers=2, progress=False)
        assert stats.computed == 4
        assert len(local.attack_samples()) == 8
        assert remote.attack_samples() == local.attack_samples()
        workers = {i["worker"] for i in remote.items()}
        assert len(workers) == 2, workers  # both actors took chunks
    assert not ray.is_initialized()  # the local cluster was shut down
