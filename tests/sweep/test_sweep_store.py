"""The results store and the runner, with a stand-in item function: one transaction per chunk,
finished items skipped, never a duplicate row, corrupt databases refused with one line."""
import sqlite3

import pytest

from dprobe.errors import DprobeError
from dprobe.sweep.backends import run_items
from dprobe.sweep.spec import parse_spec, plan_items
from dprobe.sweep.store import ATTACK_COLUMNS, ItemResult, ResultsStore, flatten_numbers
from tests.support import assert_refused

SPEC = parse_spec("""
name = "stand-in"
[studio]
preset = "tiny"
[attack]
targets = ["nsd"]
generators = ["self", "renderer"]
subjects = ["S1", "S5", "S7"]
cameras = [0, 1]
frames = 3
""")
ITEMS = plan_items(SPEC, {"preset": "tiny"})


def stand_in(item) -> ItemResult:
    """Rows that depend only on the item's settings (a stand-in for the attack)."""
    s = item.settings
    rows = []
    for sample in range(s["frames"]):
        value = float(len(s["subject"]) * 10 + s["camera"] + sample / 4)
        row = {name: None for name, _ in ATTACK_COLUMNS[1:]}
        row.update(sample=sample, target=s["target"], generator=s["generator"],
                   subject=s["subject"], camera=s["camera"], initial_mpjpe_mm=value,
                   final_mpjpe_mm=2 * value, success=1, psnr_db=float("inf"))
        rows.append(row)
    return ItemResult(item.key, item.kind, s, rows=rows, values={"x": 1.0},
                      artifacts=[("a.txt", "text/plain", item.key.encode())])


class StandIn:
    """A picklable setup whose item function is ``stand_in``; counts the items it computes."""

    calls = 0

    def __call__(self):
        def run(item):
            StandIn.calls += 1
            return stand_in(item)
        return run


def test_runs_skip_finished_items_and_never_duplicate_rows(tmp_path):
    with ResultsStore.open(tmp_path / "r.sqlite") as store:
        StandIn.calls = 0
        first = run_items(ITEMS[:5], StandIn(), store, chunk=2, progress=False)
        assert (first.computed, first.skipped, StandIn.calls) == (5, 0, 5)
        second = run_items(ITEMS, StandIn(), store, chunk=2, progress=False)
        assert (second.computed, second.skipped, StandIn.calls) == (7, 5, 12)
        again = run_items(ITEMS, StandIn(), store, progress=False)
        assert (again.computed, again.skipped) == (0, 12)
        rows = store.attack_samples()
        assert len(rows) == 12 * 3
        assert len({(r["item_key"], r["sample"]) for r in rows}) == len(rows)
        assert rows[0]["psnr_db"] == float("inf")
        assert 0 < store.seconds < first.seconds + second.seconds
        # an item already stored is skipped with its rows, even when handed in again
        assert store.write_chunk([stand_in(ITEMS[0])]) == 0
        assert len(store.attack_samples()) == 36
        assert store.artifact(ITEMS[0].key, "a.txt") == ITEMS[0].key.encode()


def test_a_failing_chunk_writes_nothing(tmp_path):
    broken = stand_in(ITEMS[1])
    del broken.rows[1]["final_mpjpe_mm"]
    with ResultsStore.open(tmp_path / "r.sqlite") as store:
        with pytest.raises(KeyError):
            store.write_chunk([stand_in(ITEMS[0]), broken])
        assert store.finished_keys() == set()
        assert store.attack_samples() == []


def test_flatten_numbers():
    assert flatten_numbers({"a": {"b": 1, "c": [0.5, None, True]}, "s": "text"}) == {
        "a.b": 1.0, "a.c.0": 0.5, "a.c.2": 1.0}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_a_corrupt_database_is_refused_with_one_line(tmp_path, capsys, damage):
    db = tmp_path / "results.sqlite"
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.text)
    if damage == "garbage":
        db.write_bytes(b"these are not the results you are looking for" * 50)
    elif damage == "foreign":
        with sqlite3.connect(db) as c:
            c.execute("CREATE TABLE t (x)")
    else:
        with ResultsStore.open(db) as store:
            store.write_chunk([stand_in(i) for i in ITEMS])
        data = db.read_bytes()
        db.write_bytes(data[:4096] + b"\x00" * 100 + data[4196:len(data) // 2])
    with pytest.raises(DprobeError, match="corrupt or not a dprobe results store"):
        ResultsStore.open(db)
    match = rf"results database {db} is corrupt"
    assert_refused(capsys, "sweep", "run", spec, "--db", db, match=match,
                   watch=(tmp_path,))
    assert_refused(capsys, "report", "--db", db, "--out", tmp_path / "report", match=match,
                   watch=(tmp_path,))
