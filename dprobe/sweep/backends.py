"""Run work items on a backend into a results store, with a progress bar; resume after a kill.

``run_items(items, setup, store, backend=..., workers=...)`` skips the items the store has
already finished, sends the others in chunks of ``chunk`` items to the workers, and writes each
chunk's results in one transaction as it comes back. ``setup`` is a picklable callable that
returns a worker's item function (``Item -> ItemResult``); it is called once per worker, so a
worker loads its studio and models once.

Backends:

- ``local``: ``workers == 1`` runs in this process; more start that many processes (spawned).
- ``ray``: one actor per worker (1 CPU each) on the Ray cluster at ``address``, or on a local
  cluster of ``workers`` CPUs when no address is given; chunks go to whichever actor is free.

Every worker runs the same code with the same torch thread count, so an item's rows do not depend
on the backend or on which worker ran it (on machines with the same CPU and libraries).
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dprobe.errors import DprobeError
from dprobe.sweep.spec import Item
from dprobe.sweep.store import ItemResult, ResultsStore

__all__ = ["BACKENDS", "RunStats", "run_items"]

BACKENDS = ("local", "ray")

Setup = Callable[[], Callable[[Item], ItemResult]]


@dataclass
class RunStats:
    """What a run did: items in the sweep, skipped (already finished), computed; samples
    written; wall-clock ``seconds``; ``store_seconds`` spent writing to SQLite."""

    items: int
    skipped: int
    computed: int
    samples: int
    seconds: float
    store_seconds: float

    @property
    def store_share(self) -> float:
        """The fraction of the run's wall-clock time spent in SQLite."""
        return self.store_seconds / self.seconds if self.seconds > 0 else 0.0


def _chunks(items: list[Item], size: int) -> list[list[Item]]:
    return [items[i: i + size] for i in range(0, len(items), size)]


# ---- local -----------------------------------------------------------------------------------
_PROCESS_FUNCTION: Callable[[Item], ItemResult] | None = None


def _process_init(setup: Setup) -> None:
    global _PROCESS_FUNCTION
    _PROCESS_FUNCTION = setup()


def _process_chunk(chunk: list[Item]) -> list[ItemResult]:
    assert _PROCESS_FUNCTION is not None
    return [_PROCESS_FUNCTION(item) for item in chunk]


def _local(chunks: list[list[Item]], setup: Setup, workers: int
           ) -> Iterator[list[ItemResult]]:
    if workers == 1:
        function = setup()
        for chunk in chunks:
            yield [function(item) for item in chunk]
        return
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_process_init,
                                initargs=(setup,)) as pool:
        futures = [pool.submit(_process_chunk, chunk) for chunk in chunks]
        try:
            for future in cf.as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


# ---- ray -------------------------------------------------------------------------------------
def _import_ray():
    try:
        import ray
    except ImportError:
        raise DprobeError("the ray backend needs ray: pip install 'dprobe[ray]'") from None
    return ray


class _RayWorker:
    """A Ray actor holding one worker's item function."""

    def __init__(self, setup: Setup) -> None:
        self.function = setup()

    def run(self, chunk: list[Item]) -> list[ItemResult]:
        return [self.function(item) for item in chunk]


def _ray(chunks: list[list[Item]], setup: Setup, workers: int, address: str | None
         ) -> Iterator[list[ItemResult]]:
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        portable = getattr(setup, "portable", None)
        setup_ref = ray.put(portable() if portable and address else setup)
        actor = ray.remote(num_cpus=1)(_RayWorker)
        actors = [actor.remote(setup_ref) for _ in range(workers)]
        pending = list(reversed(chunks))
        running = {}
        for a in actors:
            if pending:
                running[a.run.remote(pending.pop())] = a
        while running:
            (done,), _ = ray.wait(list(running), num_returns=1)
            a = running.pop(done)
            if pending:
                running[a.run.remote(pending.pop())] = a
            yield ray.get(done)
        for a in actors:
            ray.kill(a)
    finally:
        if started_here:
            ray.shutdown()


# ---- the progress bar ------------------------------------------------------------------------
@contextlib.contextmanager
def _ticking(bar, seconds: float = 1.0) -> Iterator[None]:
    """Redraw ``bar`` every ``seconds`` from a thread, so its clock runs during long items."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(seconds):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    if not bar.disable:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()


# ---- the loop --------------------------------------------------------------------------------
def run_items(items: list[Item], setup: Setup, store: ResultsStore, *, backend: str = "local",
              workers: int = 1, address: str | None = None, chunk: int = 1,
              run_id: int | None = None, progress: bool = True) -> RunStats:
    """Compute the ``items`` the store has not finished and write them (see the module doc)."""
    from tqdm import tqdm

    if backend not in BACKENDS:
        raise DprobeError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if workers < 1 or chunk < 1:
        raise DprobeError("workers and chunk must be at least 1")
    if address and backend != "ray":
        raise DprobeError("--address is for the ray backend (add --backend ray)")
    started = time.perf_counter()
    store_before = store.seconds
    finished = store.finished_keys()
    todo = [item for item in items if item.key not in finished]
    chunks = _chunks(todo, chunk)
    stats = RunStats(len(items), len(items) - len(todo), 0, 0, 0.0, 0.0)
    if backend == "ray" and todo:
        results = _ray(chunks, setup, workers, address)
    else:
        results = _local(chunks, setup, min(workers, max(len(chunks), 1)))
    with tqdm(total=len(items), initial=stats.skipped, unit="item", disable=not progress,
              desc="sweep", dynamic_ncols=True, smoothing=0.1) as bar, _ticking(bar):
        for chunk_results in results:
            store.write_chunk(chunk_results, run_id)
            stats.computed += len(chunk_results)
            stats.samples += sum(max(len(r.rows), 1) for r in chunk_results)
            bar.update(len(chunk_results))
            bar.set_postfix(samples=stats.samples, refresh=False)
    stats.seconds = time.perf_counter() - started
    stats.store_seconds = store.seconds - store_before
    return stats
