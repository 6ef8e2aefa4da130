"""Atomic outputs: moved into place only when complete, and never once the process was asked to
stop (even where the signal's exception was swallowed on its way)."""
import pytest

from dprobe.files import STOP_REQUESTED, atomic_directory, atomic_output


def test_an_output_is_moved_into_place_when_complete(tmp_path):
    with atomic_output(tmp_path / "a.txt") as tmp:
        tmp.write_text("done")
    with atomic_directory(tmp_path / "folder", force=False) as tmp:
        (tmp / "b.txt").write_text("done")
    assert (tmp_path / "a.txt").read_text() == "done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "folder"]


def test_nothing_is_moved_into_place_once_a_stop_was_requested(tmp_path):
    (tmp_path / "kept.txt").write_text("mine")
    STOP_REQUESTED.set()
    try:
        with pytest.raises(KeyboardInterrupt), atomic_output(tmp_path / "kept.txt") as tmp:
            tmp.write_text("half")
        with pytest.raises(KeyboardInterrupt), atomic_directory(tmp_path / "out",
                                                                force=False) as tmp:
            (tmp / "b.txt").write_text("half")
    finally:
        STOP_REQUESTED.clear()
    assert [p.name for p in tmp_path.iterdir()] == ["kept.txt"]
    assert (tmp_path / "kept.txt").read_text() == "mine"
