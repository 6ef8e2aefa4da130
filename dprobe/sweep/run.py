"""One sweep from spec to database: find or build its studio, plan its items, run them.

``run_sweep`` is what ``dprobe sweep run`` and ``dprobe demo`` call; it attacks in batches of up
to ``BATCH_SIZE`` samples by default (the attack items that share their settings; see
``dprobe.sweep.items.plan_batches``). The studio of a spec with
``studio.preset`` is built once next to the database (``studio-<preset>-seed<seed>.h5``) and
reused by later runs.
"""
from __future__ import annotations

import contextlib
import os
import platform
from importlib import metadata
from pathlib import Path

from dprobe import __version__
from dprobe.data.studio import Studio
from dprobe.sweep.backends import RunStats, run_items
from dprobe.sweep.items import FigureWriter, WorkerSetup, check_studio
from dprobe.sweep.spec import Item, SweepSpec, plan_items, studio_identity
from dprobe.sweep.store import ResultsStore, item_samples

__all__ = ["BATCH_SIZE", "run_sweep", "spec_items", "studio_path", "versions"]

#: Attack samples per attack batch by default (the batch of ``dprobe attack``).
BATCH_SIZE = 32


def versions() -> dict:
    """The versions a result depends on: dprobe, torch, numpy, Python, the platform, CPUs, and
    ray where installed."""
    import numpy
    import torch

    out = {"dprobe": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
           "python": platform.python_version(), "platform": platform.platform(),
           "cpus": os.cpu_count()}
    with contextlib.suppress(metadata.PackageNotFoundError):
        out["ray"] = metadata.version("ray")
    return out


def studio_path(spec: SweepSpec, db: Path, override: str | None = None,
                progress: bool = True) -> Path:
    """The studio file of a sweep: ``override``, the spec's ``studio.path``, or its preset built
    next to ``db`` (once; reused afterwards)."""
    if override is not None:
        return Path(override)
    if spec.studio_path is not None:
        return spec.studio_path
    from dprobe.data.build import build_studio

    path = db.parent / f"studio-{spec.studio_preset}-seed{spec.studio_seed}.h5"
    if not path.is_file():
        print(f"building the {spec.studio_preset} studio into {path}", flush=True)
        build_studio(spec.studio_preset, path, seed=spec.studio_seed, progress=progress)
    return path


def spec_items(spec: SweepSpec, studio: Studio) -> list[Item]:
    """The spec's work items on ``studio``, checked against its subjects and cameras."""
    items = plan_items(spec, studio_identity(studio.attrs, studio.n))
    check_studio(items, studio)
    return items


def run_sweep(spec: SweepSpec, db: str | Path, studio: str | Path, *, backend: str = "local",
              workers: int = 1, address: str | None = None, threads: int = 1, chunk: int = 1,
              batch_size: int = BATCH_SIZE, figures: FigureWriter | None = None, command: str = "",
              progress: bool = True, share_studio: bool = True) -> RunStats:
    """Run every unfinished item of ``spec`` on the studio file ``studio`` into the results
    store ``db`` (created if missing); ``threads`` torch threads per worker, attack batches of
    up to ``batch_size`` samples. The spec's items are stored as the plan that
    ``ResultsStore.progress`` counts pending items against. With ``share_studio`` the studio
    is read once, into shared memory, and every local worker maps that copy (False: each
    worker reads the file into its own memory, as Ray actors do)."""
    opened = Studio.open(studio)
    items = spec_items(spec, opened)
    setup = WorkerSetup(str(studio), threads=threads, figures=figures,
                        shared=opened.share_memory() if share_studio else None)
    with ResultsStore.open(db) as store:
        run_id = store.begin_run(spec.name, spec.text, command, backend, workers, versions())
        store.set_plan((i.key, i.kind, item_samples(i.kind, i.settings)) for i in items)
        stats = run_items(items, setup, store, backend=backend, workers=workers,
                          address=address, chunk=chunk, batch_size=batch_size,
                          run_id=run_id, progress=progress)
        store.end_run(run_id)
    return stats
