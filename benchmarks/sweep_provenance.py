"""Where the figures of a sweep's results database come from: the sweep's command, machine and
day, as the record of a table read from it needs them (``attack_tables``, ``probe_tables``)."""
from __future__ import annotations

import datetime

from dprobe.sweep.store import ResultsStore

__all__ = ["sweep_provenance"]


def sweep_provenance(store: ResultsStore, reader: str) -> dict[str, str]:
    """``command`` (the last sweep run recorded in ``store``, then ``reader``, the command
    that reads the tables), ``host`` (its platform, CPUs, workers and torch version) and
    ``date`` (the day it started)."""
    runs = store.runs()
    if not runs:
        raise ValueError("the results database records no sweep run")
    last = runs[-1]
    v = last["versions"]
    host = (f"{v.get('platform', 'platform not recorded')}, {v.get('cpus', '?')} CPUs; "
            f"{last['workers']} {last['backend']} workers; torch {v.get('torch', '?')}")
    return {"command": f"{last['command']}; {reader}", "host": host,
            "date": datetime.date.fromtimestamp(last["started"]).isoformat()}
