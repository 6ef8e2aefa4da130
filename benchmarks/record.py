"""One benchmark's latest figures as a file, benchmarks/results/<name>.json: what the results
page (``python -m benchmarks.results_page``) turns into that benchmark's section of
benchmarks/RESULTS.md. A benchmark run with ``--json`` replaces its file.

A record is a JSON object with

- ``title``: the section's heading;
- ``measures``: what is timed or scored, on what, in which units (one paragraph);
- ``command``: the exact command that produced the figures, run from the repository root;
- ``host``: the machine (CPU and its notable flags, threads, torch version; ``host.host_line``);
- ``date``: the day of the run, ``YYYY-MM-DD``;
- ``tables``: a list of ``{"caption": str (optional), "columns": [{"name": str, "format": str
  (optional, e.g. "{:.2f}")}], "rows": [[cell, ...]]}``; a number cell is shown through its
  column's format, a text cell as it is (a range over runs, "-");

and optionally ``conditions`` (the machine's load, what ran beside), ``figures`` (a list of
``{"name", "value", "unit"?, "format"?, "at_least"? | "at_most"?}``: the page states from
``value`` whether the goal ``at_least`` / ``at_most`` is met) and ``notes`` (measured facts,
one line each). Free text states what was measured: whether a goal is met is computed by the
page from a figure, so text that says "met", "missed" or "reproduced" is refused.
"""
from __future__ import annotations

import datetime
import json
import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["REQUIRED", "RESULTS_DIR", "RecordError", "column", "command_line", "figure",
           "make_record", "read_record", "table", "validate", "write_record"]

#: The folder of the records, one JSON file per benchmark.
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: The fields every record has.
REQUIRED = ("title", "measures", "command", "host", "date", "tables")
_VERDICT = re.compile(r"\b(met|missed|reproduced)\b", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RecordError(ValueError):
    """A results record that the page cannot show; the message names the file and the field."""


def column(name: str, fmt: str | None = None) -> dict:
    """A table column: its heading and, for number cells, a format such as ``"{:.2f}"``."""
    return {"name": name} if fmt is None else {"name": name, "format": fmt}


def table(columns: Sequence[dict], rows: Iterable[Sequence], caption: str | None = None
          ) -> dict:
    """A table of a record (``column`` entries, one list of cells per row)."""
    out: dict[str, Any] = {"columns": list(columns), "rows": [list(r) for r in rows]}
    if caption is not None:
        out = {"caption": caption, **out}
    return out


def figure(name: str, value: float, unit: str = "", fmt: str = "{:g}",
           at_least: float | None = None, at_most: float | None = None) -> dict:
    """One named figure, with the goal it is held to if any (``at_least`` or ``at_most``, in
    the figure's unit)."""
    out: dict[str, Any] = {"name": name, "value": value, "unit": unit, "format": fmt}
    if at_least is not None:
        out["at_least"] = at_least
    if at_most is not None:
        out["at_most"] = at_most
    return out


def command_line(module: str, argv: Sequence[str]) -> str:
    """The command that ran ``module`` with the arguments ``argv``, as typed at the repository
    root (``python -m benchmarks.bench_attack --repeats 5``)."""
    return " ".join(["python", "-m", module, *(shlex.quote(a) for a in argv)])


def make_record(title: str, measures: str, command: str, host: str, tables: Sequence[dict],
                conditions: str | None = None, figures: Sequence[dict] = (),
                notes: Sequence[str] = (), date: str | None = None) -> dict:
    """A record dated today (or ``date``), checked as the page will check it."""
    record: dict[str, Any] = {"title": title, "measures": measures, "command": command,
                              "host": host, "date": date or datetime.date.today().isoformat()}
    if conditions:
        record["conditions"] = conditions
    record["tables"] = list(tables)
    if figures:
        record["figures"] = list(figures)
    if notes:
        record["notes"] = list(notes)
    return validate(record, f"the {title!r} record")


def _text_fields(record: dict) -> Iterable[tuple[str, str]]:
    for key in ("measures", "conditions"):
        if isinstance(record.get(key), str):
            yield key, record[key]
    for i, note in enumerate(record.get("notes", [])):
        yield f"notes[{i}]", note
    for i, t in enumerate(record.get("tables", [])):
        if isinstance(t, dict) and isinstance(t.get("caption"), str):
            yield f"tables[{i}].caption", t["caption"]


def validate(record: Any, source: str) -> dict:
    """``record`` if it has every field the page needs, else ``RecordError`` naming ``source``
    and what is wrong."""
    if not isinstance(record, dict):
        raise RecordError(f"{source}: a results record is a JSON object")
    missing = [k for k in REQUIRED if record.get(k) in (None, "", [])]
    if missing:
        raise RecordError(f"{source}: missing {', '.join(missing)} (every record has "
                          f"{', '.join(REQUIRED)})")
    if not _DATE.match(str(record["date"])):
        raise RecordError(f"{source}: date {record['date']!r} is not YYYY-MM-DD")
    for i, t in enumerate(record["tables"]):
        if not isinstance(t, dict) or not t.get("columns") or "rows" not in t:
            raise RecordError(f"{source}: tables[{i}] needs columns and rows")
        width = len(t["columns"])
        for j, row in enumerate(t["rows"]):
            if len(row) != width:
                raise RecordError(f"{source}: tables[{i}] row {j} has {len(row)} cells for "
                                  f"{width} columns")
    for i, f in enumerate(record.get("figures", [])):
        if "name" not in f or "value" not in f:
            raise RecordError(f"{source}: figures[{i}] needs a name and a value")
    for where, text in _text_fields(record):
        found = _VERDICT.search(text)
        if found:
            raise RecordError(f"{source}: {where} says {found.group(0)!r}: a verdict is "
                              "computed by the page from a figure's goal, not written")
    return record


def read_record(path: Path) -> dict:
    """The checked record in ``path``."""
    try:
        record = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: not JSON ({e})") from None
    return validate(record, str(path))


def write_record(record: dict, path: Path) -> Path:
    """Write ``record`` (checked) to ``path``; the page is regenerated separately."""
    validate(record, str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}; regenerate the page: python -m benchmarks.results_page")
    return path
