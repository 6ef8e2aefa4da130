"""A sweep killed with SIGKILL in the middle of a run, started again with the same command,
ends with the table of an uninterrupted run (and a third run adds nothing)."""
import os
import signal
import sqlite3
import subprocess
import time

from dprobe.sweep.store import ResultsStore
from tests.support import DPROBE, run_cli


def finished_items(db) -> int:
    """Items committed to ``db`` so far (0 while it has no tables)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_resume_after_sigkill_gives_the_uninterrupted_table(tmp_path, small_spec, capsys,
                                                            keep_threads):
    killed = tmp_path / "killed.sqlite"
    command = [*DPROBE, "sweep", "run", str(small_spec), "--db", str(killed), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while finished_items(killed) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the sweep ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = finished_items(killed)
    assert 2 <= done < 8, done

    status, out, err = run_cli(capsys, "sweep", "run", small_spec, "--db", killed, "--quiet",
                               "--workers", "2")
    assert status == 0, err
    assert f"{8 - done} items computed, {done} already done" in out
    reference = tmp_path / "reference.sqlite"
    status, _, err = run_cli(capsys, "sweep", "run", small_spec, "--db", reference, "--quiet")
    assert status == 0, err
    status, out, _ = run_cli(capsys, "sweep", "run", small_spec, "--db", killed, "--quiet")
    assert "0 items computed, 8 already done" in out

    with ResultsStore.open(killed) as a, ResultsStore.open(reference) as b:
        rows = a.attack_samples()
        assert len(rows) == 16
        assert rows == b.attack_samples()
        assert [i["key"] for i in a.items()] == [i["key"] for i in b.items()]
        assert [r["items_done"] for r in a.runs()] == [done, 8 - done, 0]
