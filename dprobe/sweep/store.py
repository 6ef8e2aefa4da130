"""The SQLite results store of sweeps: one row per sample, resumable, never a duplicate row.

Tables (schema ``SCHEMA``):

- ``meta (name, value)``: ``format = dprobe-results`` and the schema version.
- ``runs``: one row per ``dprobe sweep run`` (spec name and text, command, backend, workers,
  versions as JSON, start / end time in seconds since the epoch, items done).
- ``items (key, kind, settings, seconds, cpu_seconds, worker, run_id)``: a finished work item
  (wall-clock and CPU seconds of its computation on its worker), written in the same
  transaction as its rows: an item is either finished with all its rows, or absent.
- ``attack_samples``: one row per attacked sample (``ATTACK_COLUMNS``), keyed by
  ``(item_key, sample)``; errors in mm, PSNR in dB, SSIM / MSE on [0, 1] images (the
  target's crop, and ``*_frame`` the full frame), ``change`` the relative size of the change
  of the attacked variable and ``change_path`` the largest it was on the attack's way,
  ``delta_e`` / ``delta_e_path`` the same in CIE76 Delta E (NULL for a latent code, and for the
  path of the C++ engine, which does not report it). The last seven columns came later
  (``ADDED_ATTACK_COLUMNS``): a store written before them gains them, NULL in its older rows,
  when opened (the schema version is unchanged).
- ``probe_values (item_key, model, probe, name, value, dprobe_version)``: every scalar of a
  probe's numbers, by its dotted path (``featured.leak``, ``flips.0``).
- ``artifacts (item_key, name, media_type, data)``: files an item produced (probe figures,
  the probe's full numbers as JSON, an attack example strip ``example.png`` and its poses
  ``EXAMPLE_POSES``), as bytes. Attack items stored before ``EXAMPLE_POSES`` existed lack
  it: readers treat it as optional, so the schema (and its version) is unchanged.
- ``failures (key, kind, settings, error, worker, run_id, time)``: items whose computation
  raised (or whose worker process died twice), with the error's one line; the next run
  computes them again, and an item that then finishes leaves this table.
- ``plan (key, kind, samples)``: the items of the latest run's spec (``samples``: an attack
  item's frames, 1 for a probe), so that ``progress`` can count what is pending.

``failures`` and ``plan`` are created in stores written before they existed when such a store
is opened (tables an older dprobe ignores): the schema version is unchanged.

Results arrive in chunks (lists of ``ItemResult``); each chunk is one transaction. The database
runs in WAL mode: a process killed at any moment leaves every committed chunk intact.
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dprobe.errors import DprobeError

__all__ = ["ATTACK_COLUMNS", "EXAMPLE_POSES", "SCHEMA", "ItemResult", "KindProgress",
           "ResultsStore", "flatten_numbers", "item_samples", "one_line"]

FORMAT = "dprobe-results"
SCHEMA = 1
#: The artifact of an attack item with its first sample's poses (JSON: name -> 17 x 3, mm;
#: ``dprobe.sweep.items.EXAMPLE_POSE_KEYS``). Optional: older stores' items lack it.
EXAMPLE_POSES = "example_poses.json"

#: The columns of ``attack_samples`` (name, SQLite type), in table order.
ATTACK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("item_key", "TEXT NOT NULL"), ("sample", "INTEGER NOT NULL"), ("target", "TEXT"),
    ("generator", "TEXT"), ("engine", "TEXT"), ("threshold_mm", "REAL"),
    ("max_iterations", "INTEGER"), ("lr", "REAL"), ("eps", "REAL"), ("boxes", "TEXT"),
    ("subject", "TEXT"), ("camera", "INTEGER"), ("action", "TEXT"), ("frame", "INTEGER"),
    ("studio_row", "INTEGER"), ("initial_mpjpe_mm", "REAL"), ("final_mpjpe_mm", "REAL"),
    ("iterations", "INTEGER"), ("success", "INTEGER"), ("ssim", "REAL"), ("psnr_db", "REAL"),
    ("mse", "REAL"), ("q_vs_truth_mpjpe_mm", "REAL"), ("dprobe_version", "TEXT"),
    ("ssim_frame", "REAL"), ("psnr_frame_db", "REAL"), ("mse_frame", "REAL"), ("change", "REAL"),
    ("change_path", "REAL"), ("delta_e", "REAL"), ("delta_e_path", "REAL"),
)
#: The columns added to ``attack_samples`` after its first version (NULL in older rows; a
#: store written before them gains them when opened).
ADDED_ATTACK_COLUMNS = ("ssim_frame", "psnr_frame_db", "mse_frame", "change", "change_path",
                        "delta_e", "delta_e_path")
_ATTACK_NAMES = tuple(name for name, _ in ATTACK_COLUMNS)

_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, spec_name TEXT, spec_text TEXT, "
    "command TEXT, backend TEXT, workers INTEGER, versions TEXT, started REAL, finished REAL, "
    "items_done INTEGER DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS items (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "settings TEXT NOT NULL, seconds REAL, cpu_seconds REAL, worker TEXT, run_id INTEGER)",
    "CREATE TABLE IF NOT EXISTS attack_samples ("
    + ", ".join(f"{n} {t}" for n, t in ATTACK_COLUMNS) + ", PRIMARY KEY (item_key, sample))",
    "CREATE TABLE IF NOT EXISTS probe_values (item_key TEXT NOT NULL, model TEXT, probe TEXT, "
    "name TEXT NOT NULL, value REAL, dprobe_version TEXT, PRIMARY KEY (item_key, name))",
    "CREATE TABLE IF NOT EXISTS artifacts (item_key TEXT NOT NULL, name TEXT NOT NULL, "
    "media_type TEXT, data BLOB, PRIMARY KEY (item_key, name))",
)
#: Tables added to schema 1 later: created when missing, in old stores too.
_ADDED_TABLES = (
    "CREATE TABLE IF NOT EXISTS failures (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "settings TEXT NOT NULL, error TEXT NOT NULL, worker TEXT, run_id INTEGER, time REAL)",
    "CREATE TABLE IF NOT EXISTS plan (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "samples INTEGER NOT NULL)",
)


@dataclass
class ItemResult:
    """What one work item produced: attack sample ``rows`` (dicts with ``ATTACK_COLUMNS``
    keys but ``item_key``), probe ``values`` (dotted name -> number), ``artifacts``
    ``(name, media type, bytes)``, the wall-clock ``seconds`` and ``cpu_seconds`` of its
    computation, the ``worker`` that ran it and its dprobe ``version``; ``error`` (one line)
    where its computation failed (then it has nothing else)."""

    key: str
    kind: str
    settings: dict
    rows: list[dict] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)
    artifacts: list[tuple[str, str, bytes]] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    worker: str = ""
    version: str = ""
    error: str = ""


@dataclass
class KindProgress:
    """Where the items of one kind stand: ``done`` / ``failed`` / ``pending`` items (pending:
    planned by the latest run, neither done nor failed), ``samples_done`` and
    ``samples_pending`` (an attack item's frames; a probe item counts one) and the compute
    ``seconds`` of the done items (wall-clock, on their workers)."""

    done: int = 0
    failed: int = 0
    pending: int = 0
    samples_done: int = 0
    samples_pending: int = 0
    seconds: float = 0.0

    @property
    def samples_per_second(self) -> float | None:
        """Samples per second of one worker, from the stored timings (None without any)."""
        return self.samples_done / self.seconds if self.seconds > 0 else None

    @property
    def pending_seconds(self) -> float | None:
        """One worker's seconds for the pending samples at ``samples_per_second`` (None
        without timings; 0 with nothing pending)."""
        if not self.samples_pending:
            return 0.0
        rate = self.samples_per_second
        return self.samples_pending / rate if rate else None


def one_line(error: BaseException) -> str:
    """An exception as one line: its type and its message's first line."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def flatten_numbers(numbers: object, prefix: str = "") -> dict[str, float]:
    """Every number (int, float, bool) in nested dicts / lists, by dotted path; None skipped."""
    out: dict[str, float] = {}
    if isinstance(numbers, dict):
        for k, v in numbers.items():
            out.update(flatten_numbers(v, f"{prefix}{k}."))
    elif isinstance(numbers, (list, tuple)):
        for i, v in enumerate(numbers):
            out.update(flatten_numbers(v, f"{prefix}{i}."))
    elif isinstance(numbers, (int, float)):
        out[prefix[:-1]] = float(numbers)
    return out


def item_samples(kind: str, settings: dict) -> int:
    """An item's samples: an attack item's frames; a probe item counts one."""
    return int(settings.get("frames", 1)) if kind == "attack" else 1


def _corrupt(path: Path, why: str) -> DprobeError:
    return DprobeError(f"results database {path} is corrupt or not a dprobe results store "
                       f"({why}); give another --db")


class ResultsStore:
    """An open results database (see the module doc); ``seconds`` is the time spent writing."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path, self.db, self.seconds = path, connection, 0.0

    @classmethod
    def open(cls, path: str | Path, create: bool = True) -> ResultsStore:
        """Open (or, with ``create``, create) the store at ``path``; a file that is not a
        dprobe results store, or fails SQLite's integrity check, is refused untouched."""
        path = Path(path)
        exists = path.is_file() and path.stat().st_size > 0
        if not exists and not create:
            raise DprobeError(f"results database {path} does not exist")
        if path.exists() and not path.is_file():
            raise DprobeError(f"results database {path} is not a file")
        if exists:
            with open(path, "rb") as f:
                if f.read(16) != b"SQLite format 3\x00":
                    raise _corrupt(path, "not an SQLite file")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(path, timeout=60, isolation_level=None)
        except sqlite3.Error as e:
            raise DprobeError(f"cannot open results database {path}: {e}") from None
        try:
            if exists:
                cls._check(path, db)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master")}
            if not exists or not {"failures", "plan"} <= tables:
                db.execute("BEGIN IMMEDIATE")
                for statement in (_TABLES if not exists else ()) + _ADDED_TABLES:
                    db.execute(statement)
                db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)",
                               [("format", FORMAT), ("schema", str(SCHEMA))])
                db.execute("COMMIT")
            columns = {row[1] for row in db.execute("PRAGMA table_info(attack_samples)")}
            missing = [(n, t) for n, t in ATTACK_COLUMNS if n in ADDED_ATTACK_COLUMNS
                       and n not in columns]
            if missing:
                db.execute("BEGIN IMMEDIATE")
                for name, kind in missing:
                    db.execute(f"ALTER TABLE attack_samples ADD COLUMN {name} {kind}")
                db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            db.close()
            raise _corrupt(path, str(e)) from None
        except BaseException:
            db.close()
            raise
        return cls(path, db)

    @staticmethod
    def _check(path: Path, db: sqlite3.Connection) -> None:
        try:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise _corrupt(path, f"integrity check: {check}")
            meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
        except sqlite3.DatabaseError as e:
            db.close()
            raise _corrupt(path, str(e)) from None
        except DprobeError:
            db.close()
            raise
        if meta.get("format") != FORMAT:
            db.close()
            raise _corrupt(path, "no dprobe-results format mark")
        if meta.get("schema") != str(SCHEMA):
            db.close()
            raise DprobeError(f"results database {path} has schema {meta.get('schema')}; this "
                              f"dprobe reads schema {SCHEMA}")

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        self.db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- writing --------------------------------------------------------------------------
    def finished_keys(self) -> set[str]:
        """Keys of the items already finished."""
        return {k for (k,) in self.db.execute("SELECT key FROM items")}

    def set_plan(self, plan: Iterable[tuple[str, str, int]]) -> None:
        """Replace the planned items by ``(key, kind, samples)`` (the latest run's spec)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM plan")
            self.db.executemany("INSERT OR IGNORE INTO plan VALUES (?, ?, ?)", list(plan))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def begin_run(self, spec_name: str, spec_text: str, command: str, backend: str,
                  workers: int, versions: dict) -> int:
        """Record the start of a run; returns its id."""
        cur = self.db.execute(
            "INSERT INTO runs (spec_name, spec_text, command, backend, workers, versions, "
            "started) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (spec_name, spec_text, command, backend, workers, json.dumps(versions), time.time()))
        return int(cur.lastrowid)

    def end_run(self, run_id: int) -> None:
        """Record the end of a run."""
        self.db.execute("UPDATE runs SET finished = ? WHERE id = ?", (time.time(), run_id))

    def write_chunk(self, results: Sequence[ItemResult], run_id: int | None = None) -> int:
        """Write finished items and their rows in one transaction; an item already in the
        store is skipped with its rows. Returns the number of items written."""
        started = time.perf_counter()
        written = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for r in results:
                if self.db.execute("SELECT 1 FROM items WHERE key = ?", (r.key,)).fetchone():
                    continue
                if r.error:
                    self.db.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?, ?)",
                                    (r.key, r.kind, json.dumps(r.settings, sort_keys=True),
                                     r.error, r.worker, run_id, time.time()))
                    continue
                self.db.execute("DELETE FROM failures WHERE key = ?", (r.key,))
                self.db.execute("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)",
                                (r.key, r.kind, json.dumps(r.settings, sort_keys=True),
                                 r.seconds, r.cpu_seconds, r.worker, run_id))
                self.db.executemany(
                    f"INSERT INTO attack_samples VALUES ({', '.join('?' * len(_ATTACK_NAMES))})",
                    [(r.key, *(row[n] for n in _ATTACK_NAMES[1:])) for row in r.rows])
                if r.values:
                    self.db.executemany(
                        "INSERT INTO probe_values VALUES (?, ?, ?, ?, ?, ?)",
                        [(r.key, r.settings.get("model"), r.settings.get("probe"), name, value,
                          r.version) for name, value in sorted(r.values.items())])
                self.db.executemany("INSERT INTO artifacts VALUES (?, ?, ?, ?)",
                                    [(r.key, *a) for a in r.artifacts])
                written += 1
            if run_id is not None:
                self.db.execute("UPDATE runs SET items_done = items_done + ? WHERE id = ?",
                                (written, run_id))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.seconds += time.perf_counter() - started
        return written

    # ---- reading --------------------------------------------------------------------------
    def _query(self, sql: str, params: Iterable = ()) -> list[dict]:
        """Rows of a SELECT as dicts."""
        cur = self.db.execute(sql, tuple(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def attack_samples(self) -> list[dict]:
        """Every attack sample row, ordered by item key and sample."""
        return self._query("SELECT * FROM attack_samples ORDER BY item_key, sample")

    def items(self, kind: str | None = None) -> list[dict]:
        """Finished items (``settings`` parsed), ordered by key."""
        rows = self._query("SELECT * FROM items" + (" WHERE kind = ?" if kind else "")
                          + " ORDER BY key", (kind,) if kind else ())
        for row in rows:
            row["settings"] = json.loads(row["settings"])
        return rows

    def probe_values(self) -> dict[str, dict[str, float]]:
        """Every probe number: model -> ``probe.name`` -> value (``swap.featured.leak``)."""
        values: dict[str, dict[str, float]] = {}
        for model, probe, name, value in self.db.execute(
                "SELECT model, probe, name, value FROM probe_values"):
            values.setdefault(model, {})[f"{probe}.{name}"] = value
        return values

    def artifact(self, key: str, name: str) -> bytes | None:
        """The bytes of one artifact, or None."""
        row = self.db.execute("SELECT data FROM artifacts WHERE item_key = ? AND name = ?",
                              (key, name)).fetchone()
        return None if row is None else bytes(row[0])

    def artifact_names(self, key: str) -> list[str]:
        """The names of an item's artifacts, sorted."""
        return [n for (n,) in self.db.execute(
            "SELECT name FROM artifacts WHERE item_key = ? ORDER BY name", (key,))]

    def failures(self) -> list[dict]:
        """Items whose last computation failed (``settings`` parsed), ordered by key."""
        rows = self._query("SELECT * FROM failures ORDER BY key")
        for row in rows:
            row["settings"] = json.loads(row["settings"])
        return rows

    def progress(self) -> dict[str, KindProgress]:
        """Done / failed / pending items, samples and compute seconds per kind (see
        ``KindProgress``); pending counts the plan of the latest run."""
        out: dict[str, KindProgress] = {}
        for key, kind, settings, seconds in self.db.execute(
                "SELECT key, kind, settings, seconds FROM items"):
            k = out.setdefault(kind, KindProgress())
            k.done += 1
            k.samples_done += item_samples(kind, json.loads(settings))
            k.seconds += seconds or 0.0
        for (kind,) in self.db.execute("SELECT kind FROM failures"):
            out.setdefault(kind, KindProgress()).failed += 1
        for kind, samples in self.db.execute(
                "SELECT kind, samples FROM plan WHERE key NOT IN (SELECT key FROM items) "
                "AND key NOT IN (SELECT key FROM failures)"):
            k = out.setdefault(kind, KindProgress())
            k.pending += 1
            k.samples_pending += samples
        return dict(sorted(out.items()))

    def runs(self) -> list[dict]:
        """Every run, oldest first (``versions`` parsed)."""
        rows = self._query("SELECT * FROM runs ORDER BY id")
        for row in rows:
            row["versions"] = json.loads(row["versions"] or "{}")
        return rows
