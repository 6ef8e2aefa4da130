"""The results page is generated: the committed benchmarks/RESULTS.md is what the records give,
it stays short, every record says how, where and when its figures were measured, and a record
the page cannot show is refused by name."""
import json
import shutil

import pytest

from benchmarks.record import REQUIRED, RESULTS_DIR, RecordError, figure, make_record, table
from benchmarks.results_page import PAGE, page, render_section, verdict

RECORDS = sorted(RESULTS_DIR.glob("*.json"))


def test_the_committed_page_is_the_generated_one():
    assert PAGE.read_text() == page(), (
        "benchmarks/RESULTS.md differs from its records: run python -m benchmarks.results_page "
        "(edit the records in benchmarks/results/, not the page)")


def test_the_page_holds_the_current_figures_only():
    text = PAGE.read_text()
    assert len(text.splitlines()) <= 400
    assert "do not edit" in text.splitlines()[2]


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_every_record_says_how_where_and_when(path):
    record = json.loads(path.read_text())
    for field in ("command", "host", "date"):
        assert isinstance(record.get(field), str) and record[field].strip(), (path, field)
    assert RECORDS and all(field in record for field in REQUIRED)


def test_a_record_missing_a_field_is_refused_by_name(tmp_path):
    for path in RECORDS:
        shutil.copy(path, tmp_path / path.name)
    broken = json.loads((tmp_path / "studio.json").read_text())
    del broken["host"]
    (tmp_path / "studio.json").write_text(json.dumps(broken))
    with pytest.raises(RecordError, match=r"studio\.json: missing host"):
        page(tmp_path)


def test_verdicts_are_computed_from_the_figures_and_never_written():
    assert verdict(figure("x", 2.0, at_least=1.5)) == "met"
    assert verdict(figure("x", 1.0, at_least=1.5)) == "missed"
    assert verdict(figure("x", 0.4, at_most=0.5)) == "met"
    assert verdict(figure("x", 0.4)) is None
    record = make_record("T", "What is timed.", "python -m benchmarks.x", "a CPU",
                         [table([{"name": "a"}], [[1]])], date="2026-01-02",
                         figures=[figure("speed-up", 2.345, "x", "{:.2f}", at_least=2)])
    assert "- speed-up: **2.35x** (goal >= 2x: met)" in render_section(record)
    with pytest.raises(RecordError, match="notes.0. says 'met'"):
        make_record("T", "What is timed.", "python -m benchmarks.x", "a CPU",
                    [table([{"name": "a"}], [[1]])], notes=["the goal is met"])
