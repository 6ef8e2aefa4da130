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


class _Dying:
    """A worker's item function that ends its own process, once (a marker file says it did),
    when handed the ``victim`` item: a Ray actor dying mid-sweep."""

    def __init__(self, worker, marker: str, victim: str) -> None:
        self.worker, self.marker, self.victim = worker, marker, victim
        self.name = worker.name

    def batch(self, items):
        import os

        if any(i.key == self.victim for i in items) and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return self.worker.batch(items)


class _DyingSetup:
    def __init__(self, setup: WorkerSetup, marker: str, victim: str) -> None:
        self.setup, self.marker, self.victim = setup, marker, victim

    def __call__(self):
        return _Dying(self.setup(), self.marker, self.victim)


@pytest.mark.slow
def test_a_dead_ray_actor_costs_only_its_chunk(tmp_path, small_spec, tiny_path, keep_threads):
    """An actor killed mid-sweep is replaced and its chunk computed again: the table is the one
    an uninterrupted run writes."""
    import sys

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    items = spec_items(load_spec(small_spec), Studio.open(tiny_path))[:4]
    setup = WorkerSetup(str(tiny_path))
    marker = tmp_path / "died"
    with ResultsStore.open(tmp_path / "local.sqlite") as local, \
            ResultsStore.open(tmp_path / "ray.sqlite") as remote:
        run_items(items, setup, local, progress=False)
        stats = run_items(items, _DyingSetup(setup, str(marker), items[1].key), remote,
                          backend="ray", workers=2, progress=False)
        assert marker.exists() and stats.computed == 4 and stats.failed == 0
        assert remote.attack_samples() == local.attack_samples()
    assert not ray.is_initialized()


@pytest.mark.slow
def test_a_sweep_on_a_ray_cluster_started_with_ray_start(tmp_path, small_spec, tiny_path,
                                                        keep_threads):
    """The command line on a real cluster: a head (no CPUs of its own) and a separate worker
    node started with `ray start`, the sweep sent to it with --address; its rows are the local
    run's."""
    import os
    import secrets
    import socket
    import subprocess
    import sys
    from pathlib import Path

    from tests.support import DPROBE

    ray_cli = str(Path(sys.executable).parent / "ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # every process of the cluster (head, worker node, driver) shares one authentication token
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    start = [ray_cli, "start", "--disable-usage-stats", "--node-ip-address=127.0.0.1"]
    try:
        for node in (["--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false"],
                     [f"--address=127.0.0.1:{port}", "--num-cpus=2"]):
            started = subprocess.run([*start, *node], env=env, capture_output=True, text=True,
                                     timeout=180)
            assert started.returncode == 0, started.stderr[-2000:]
        for name, extra in (("local", []), ("cluster", ["--backend", "ray", "--address",
                                                       f"127.0.0.1:{port}", "--workers", "2"])):
            done = subprocess.run([*DPROBE, "sweep", "run", str(small_spec), "--db",
                                   str(tmp_path / f"{name}.sqlite"), "--quiet", *extra],
                                  env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr
    finally:
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)
    with ResultsStore.open(tmp_path / "local.sqlite", create=False) as local, \
            ResultsStore.open(tmp_path / "cluster.sqlite", create=False) as cluster:
        rows = local.attack_samples()
        assert rows and cluster.attack_samples() == rows
        assert len({i["worker"] for i in cluster.items()}) == 2  # both actors took items
