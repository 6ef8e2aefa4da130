"""Faults in a sweep: an item that raises is stored as failed with its one-line error while the
others finish, and the next run computes it again; a worker process killed in the local pool
costs only its chunk, which another process computes again (the table ends as an uninterrupted
run's); a worker that cannot start stops the run with one line; an older store without the
failures table is opened and gains it."""
import os
import signal
import sqlite3

import pytest

from dprobe.data.studio import Studio
from dprobe.errors import DprobeError
from dprobe.sweep.backends import run_items
from dprobe.sweep.items import WorkerSetup
from dprobe.sweep.run import spec_items
from dprobe.sweep.spec import load_spec
from dprobe.sweep.store import ResultsStore
from tests.support import run_cli
from tests.sweep.test_sweep_store import ITEMS, stand_in


class FailOn:
    """A setup whose item function raises on the item with key ``key`` (while ``failing``)."""

    failing = True

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self):
        def run(item):
            if FailOn.failing and item.key == self.key:
                raise ValueError("no such camera\nsecond line")
            return stand_in(item)
        return run


def test_a_failing_item_is_recorded_and_retried(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    with ResultsStore.open(db) as store:
        store.set_plan((i.key, i.kind, i.settings["frames"]) for i in ITEMS)
        FailOn.failing = True
        stats = run_items(ITEMS[:8], FailOn(ITEMS[3].key), store, progress=False)
        assert (stats.computed, stats.failed) == (7, 1)
        (failure,) = store.failures()
        assert failure["key"] == ITEMS[3].key
        assert failure["error"] == "ValueError: no such camera"
        progress = store.progress()["attack"]
        assert (progress.done, progress.failed, progress.pending) == (7, 1, 4)
        assert (progress.samples_done, progress.samples_pending) == (21, 12)
        assert progress.pending_seconds == 12 / progress.samples_per_second

    status, out, err = run_cli(capsys, "sweep", "status", "--db", db)
    assert status == 0, err
    assert any(line.split()[:4] == ["attack", "7", "1", "4"] for line in out.splitlines()), out
    assert "time left: about" in out
    assert f"failed {ITEMS[3].key} attack target=nsd" in out
    assert out.rstrip().endswith("ValueError: no such camera")

    with ResultsStore.open(db) as store:
        FailOn.failing = False
        again = run_items(ITEMS, FailOn(ITEMS[3].key), store, progress=False)
        assert (again.computed, again.failed, again.skipped) == (5, 0, 7)
        assert store.failures() == []
        assert len(store.attack_samples()) == 36
        assert store.progress()["attack"].pending == 0


class KillOnce:
    """A worker setup that kills its own process (SIGKILL) on the first attempt at the item
    ``key``: the file ``marker`` records that attempt."""

    def __init__(self, setup: WorkerSetup, key: str, marker: str) -> None:
        self.setup, self.key, self.marker = setup, key, marker

    def __call__(self):
        worker = self.setup()

        def run(item):
            if item.key == self.key and not os.path.exists(self.marker):
                open(self.marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
            return worker(item)
        return run


def test_a_killed_worker_costs_only_its_chunk(tmp_path, small_spec, tiny_path, keep_threads):
    items = spec_items(load_spec(small_spec), Studio.open(tiny_path))
    setup = WorkerSetup(str(tiny_path))
    marker = tmp_path / "killed"
    with ResultsStore.open(tmp_path / "killed.sqlite") as killed, \
            ResultsStore.open(tmp_path / "reference.sqlite") as reference:
        stats = run_items(items, KillOnce(setup, items[5].key, str(marker)), killed, workers=2,
                          progress=False)
        assert marker.exists(), "the worker should have been killed"
        assert (stats.computed, stats.failed) == (8, 0)
        run_items(items, setup, reference, progress=False)
        assert len(killed.attack_samples()) == 16
        assert killed.attack_samples() == reference.attack_samples()
        assert killed.failures() == []


def test_an_older_store_gains_the_failures_table(tmp_path):
    path = tmp_path / "old.sqlite"
    with ResultsStore.open(path) as store:
        store.write_chunk([stand_in(ITEMS[0])])
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE failures")
        db.execute("DROP TABLE plan")
    with ResultsStore.open(path) as store:
        assert store.failures() == [] and store.progress()["attack"].done == 1
        assert len(store.attack_samples()) == 3


def test_a_worker_that_cannot_start_stops_the_run(tmp_path):
    with ResultsStore.open(tmp_path / "r.sqlite") as store:
        with pytest.raises(DprobeError, match="a sweep worker could not start: .*missing.h5"):
            run_items(ITEMS[:4], WorkerSetup(str(tmp_path / "missing.h5")), store, workers=2,
                      progress=False)
        assert store.finished_keys() == set() and store.failures() == []
