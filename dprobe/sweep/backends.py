"""Run work items on a backend into a results store, with a progress bar; resume after a kill.

``run_items(items, setup, store, backend=..., workers=..., batch_size=...)`` packs the items into
work units (``dprobe.sweep.items.plan_batches``: attack batches of up to ``batch_size``
samples, planned over all the items so that a resumed run batches as the first did), skips the
items the store has already finished, sends the units in chunks of ``chunk`` units to the
workers, and writes each chunk's results in one transaction as it comes back. ``setup`` is a
picklable callable that returns a worker's item function (``Item -> ItemResult``; one with a
``batch(items) -> results`` method computes a unit of several items in one call); it is called
once per worker, so a worker loads its studio and models once. The progress bar counts samples
(an attack item's frames; a probe item counts one) and shows their rate.

Faults: a unit whose computation raises is stored as failed, each of its items with the
error's one line (``ResultsStore.failures``), and the run goes on; the next run computes the
failed items again. A local worker process that dies (killed, out of memory) costs only the
chunk it was computing: a new process computes it again, and a chunk that a worker dies on twice
is stored as failed.

Backends:

- ``local``: ``workers == 1`` runs in this process; more start that many processes (spawned),
  each fed one chunk at a time through its own pipe. A setup holding a studio in shared memory
  (``WorkerSetup.shared``) hands the workers that one copy (torch passes shared tensors to
  spawned processes by handle), so a worker adds its models and working memory, not a studio.
- ``ray``: one actor per worker (1 CPU each) on the Ray cluster at ``address``, or on a local
  cluster of ``workers`` CPUs when no address is given; chunks go to whichever actor is free.
  The studio goes once into Ray's object store (``WorkerSetup.in_object_store``); every actor
  reads its arrays in place from its node's store, one copy per node. An actor whose process dies is
  replaced by a new one and its chunk computed again (a chunk an actor dies on twice is
  stored as failed), as for local workers.

Every worker runs the same code with the same torch thread count, so an item's rows do not depend
on the backend or on which worker ran it (on machines with the same CPU and libraries).
"""
from __future__ import annotations

import collections
import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from dprobe.errors import DprobeError
from dprobe.sweep.items import plan_batches
from dprobe.sweep.spec import Item
from dprobe.sweep.store import ItemResult, ResultsStore, item_samples, one_line

__all__ = ["BACKENDS", "RunStats", "run_items"]

BACKENDS = ("local", "ray")

Setup = Callable[[], Callable[[Item], ItemResult]]
Unit = list[Item]


@dataclass
class RunStats:
    """What a run did: items in the sweep, skipped (already finished), computed, failed;
    samples written; wall-clock ``seconds``; ``store_seconds`` spent writing to SQLite."""

    items: int
    skipped: int
    computed: int
    samples: int
    seconds: float
    store_seconds: float
    failed: int = 0

    @property
    def store_share(self) -> float:
        """The fraction of the run's wall-clock time spent in SQLite."""
        return self.store_seconds / self.seconds if self.seconds > 0 else 0.0


def _chunks(units: list[Unit], size: int) -> list[list[Unit]]:
    return [units[i: i + size] for i in range(0, len(units), size)]


def _failed(unit: Unit, error: str, worker: str = "") -> list[ItemResult]:
    return [ItemResult(i.key, i.kind, i.settings, worker=worker, error=error) for i in unit]


def _compute(function: Callable[[Item], ItemResult], chunk: list[Unit]) -> list[ItemResult]:
    """The results of a chunk's units: each unit in one call of ``function.batch`` where the
    function has it, item by item otherwise; a unit that raises gives failed results. A unit's
    wall-clock and CPU seconds are shared among its items by their samples."""
    batch = getattr(function, "batch", None)
    out = []
    for unit in chunk:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            results = batch(unit) if batch is not None else [function(item) for item in unit]
        except Exception as e:  # the item's fault, recorded; the run goes on
            out.extend(_failed(unit, one_line(e), getattr(function, "name", "")))
            continue
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        shares = [item_samples(item.kind, item.settings) for item in unit]
        for share, result in zip(shares, results):
            result.seconds = seconds * share / sum(shares)
            result.cpu_seconds = cpu_seconds * share / sum(shares)
        out.extend(results)
    return out


# ---- local -----------------------------------------------------------------------------------
def _process_main(setup: Setup, connection: Connection) -> None:
    """A local worker process: computes each chunk it receives until it receives None."""
    try:
        function = setup()
    except Exception as e:
        connection.send(("setup failed", one_line(e)))
        return
    while (chunk := connection.recv()) is not None:
        connection.send(("done", _compute(function, chunk)))


class _Pool:
    """Local worker processes, each computing one chunk at a time (see the module doc)."""

    def __init__(self, setup: Setup, chunks: list[list[Unit]]) -> None:
        self.setup = setup
        self.context = multiprocessing.get_context("spawn")
        self.todo = collections.deque(enumerate(chunks))
        self.deaths: collections.Counter = collections.Counter()
        #: connection -> [process, its (index, chunk) or None once told to stop]
        self.workers: dict[Connection, list] = {}

    def start(self) -> None:
        """Start a worker process and hand it a chunk."""
        ours, theirs = self.context.Pipe()
        process = self.context.Process(target=_process_main, args=(self.setup, theirs),
                                       daemon=True)
        process.start()
        theirs.close()
        self.workers[ours] = [process, None]
        self.feed(ours)

    def feed(self, connection: Connection) -> None:
        """Hand the worker the next chunk, or tell it to stop."""
        task = self.todo.popleft() if self.todo else None
        self.workers[connection][1] = task
        with contextlib.suppress(OSError):  # a dead worker: found by its sentinel
            connection.send(None if task is None else task[1])

    def results(self) -> Iterator[list[ItemResult]]:
        """The chunks' results as they come back."""
        while any(task is not None for _, task in self.workers.values()):
            ready = wait([*self.workers, *(p.sentinel for p, _ in self.workers.values())])
            for connection in list(self.workers):
                process, task = self.workers[connection]
                status = message = None
                if connection in ready:
                    with contextlib.suppress(EOFError, OSError):  # died: its sentinel says so
                        status, message = connection.recv()
                if status == "setup failed":
                    raise DprobeError(f"a sweep worker could not start: {message}")
                if status == "done":
                    yield message
                    self.feed(connection)
                    continue
                if process.is_alive():
                    continue
                del self.workers[connection]
                connection.close()
                if task is None:
                    continue  # stopped as told
                index, chunk = task
                self.deaths[index] += 1
                if self.deaths[index] < 2:
                    self.todo.appendleft(task)
                else:
                    yield [r for unit in chunk for r in _failed(
                        unit, f"the worker process died (exit code {process.exitcode}) "
                              "computing it, twice")]
                if self.todo:
                    self.start()

    def close(self) -> None:
        """Stop idle workers, end busy ones (an interrupted run), and wait for all."""
        for connection, (process, task) in self.workers.items():
            if task is not None:
                process.terminate()
            connection.close()
        for process, _ in self.workers.values():
            process.join()


def _local(chunks: list[list[Unit]], setup: Setup, workers: int
           ) -> Iterator[list[ItemResult]]:
    if workers == 1:
        function = setup()
        for chunk in chunks:
            yield _compute(function, chunk)
        return
    pool = _Pool(setup, chunks)
    try:
        for _ in range(workers):
            pool.start()
        yield from pool.results()
    finally:
        pool.close()


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

    def run(self, chunk: list[Unit]) -> list[ItemResult]:
        return _compute(self.function, chunk)


def _ray(chunks: list[list[Unit]], setup: Setup, workers: int, address: str | None
         ) -> Iterator[list[ItemResult]]:
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        in_object_store = getattr(setup, "in_object_store", None)
        setup_ref = ray.put(in_object_store(ray) if in_object_store else setup)
        actor = ray.remote(num_cpus=1)(_RayWorker)
        actors = [actor.remote(setup_ref) for _ in range(workers)]
        pending = list(reversed(range(len(chunks))))
        deaths: collections.Counter = collections.Counter()
        running = {}
        for a in actors:
            if pending:
                index = pending.pop()
                running[a.run.remote(chunks[index])] = (a, index)
        while running:
            (done,), _ = ray.wait(list(running), num_returns=1)
            a, index = running.pop(done)
            try:
                result = ray.get(done)
            except ray.exceptions.RayActorError as e:  # its process died: a new actor
                actors.remove(a)
                a = actor.remote(setup_ref)
                actors.append(a)
                deaths[index] += 1
                if deaths[index] < 2:
                    pending.append(index)
                else:
                    yield [r for unit in chunks[index] for r in _failed(
                        unit, f"the Ray actor died computing it, twice: {one_line(e)}")]
            else:
                yield result
            if pending:
                index = pending.pop()
                running[a.run.remote(chunks[index])] = (a, index)
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
              batch_size: int = 1, run_id: int | None = None, progress: bool = True
              ) -> RunStats:
    """Compute the ``items`` the store has not finished and write them (see the module doc)."""
    from tqdm import tqdm

    if backend not in BACKENDS:
        raise DprobeError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if workers < 1 or chunk < 1 or batch_size < 1:
        raise DprobeError("workers, chunk and batch size must be at least 1")
    if address and backend != "ray":
        raise DprobeError("--address is for the ray backend (add --backend ray)")
    started = time.perf_counter()
    store_before = store.seconds
    finished = store.finished_keys()
    units = [[i for i in unit if i.key not in finished]
             for unit in plan_batches(items, batch_size)]
    chunks = _chunks([unit for unit in units if unit], chunk)
    todo = sum(len(unit) for unit in units)
    stats = RunStats(len(items), len(items) - todo, 0, 0, 0.0, 0.0)
    done_samples = sum(item_samples(i.kind, i.settings) for i in items if i.key in finished)
    if backend == "ray" and todo:
        results = _ray(chunks, setup, workers, address)
    else:
        results = _local(chunks, setup, min(workers, max(len(chunks), 1)))
    total = sum(item_samples(i.kind, i.settings) for i in items)
    with tqdm(total=total, initial=done_samples, unit="sample", disable=not progress,
              desc="sweep", dynamic_ncols=True, smoothing=0.1) as bar, _ticking(bar):
        for chunk_results in results:
            store.write_chunk(chunk_results, run_id)
            done = [r for r in chunk_results if not r.error]
            stats.computed += len(done)
            stats.failed += len(chunk_results) - len(done)
            stats.samples += sum(max(len(r.rows), 1) for r in done)
            bar.update(sum(item_samples(r.kind, r.settings) for r in chunk_results))
            bar.set_postfix(items=f"{stats.skipped + stats.computed}/{stats.items}",
                            failed=stats.failed, refresh=False)
    stats.seconds = time.perf_counter() - started
    stats.store_seconds = store.seconds - store_before
    return stats
