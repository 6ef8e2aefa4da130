"""The training loop shared by every framework: steps, validation log, checkpoints, resume.

``run_training`` drives a ``Framework`` for ``settings.steps`` steps (or fewer if a
``settings.minutes`` budget is given: after ``CALIBRATION_STEPS`` steps the measured speed fixes
the schedule length so the cosine decay ends within the budget). Every ``val_every`` steps it
validates and appends a JSON line to ``log.jsonl``; every ``checkpoint_minutes`` it saves the
training state atomically. Resuming restores that state, drops log lines written after it, and
continues; with a fixed step count the result equals the uninterrupted run's.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset
from tqdm import tqdm

from dprobe.data.batches import sample_batch
from dprobe.files import atomic_write_bytes
from dprobe.frameworks.base import Framework
from dprobe.models.checkpoint import save_checkpoint
from dprobe.train.rundir import LOG, STATE
from dprobe.train.state import load_state, save_state

__all__ = ["CALIBRATION_STEPS", "RunSettings", "run_training"]

CALIBRATION_STEPS = 20


@dataclass(frozen=True)
class RunSettings:
    """How long and how to train; recorded in the model's meta."""

    steps: int = 3000
    batch_size: int = 32
    seed: int = 0
    minutes: float | None = None
    val_every: int = 200
    checkpoint_minutes: float = 3.0


class _Log:
    """``log.jsonl``: one JSON object per line, each with a ``step``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate_after(self, step: int) -> None:
        """Drop the lines of steps after ``step`` (written after the last saved state)."""
        if not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= step]
        atomic_write_bytes(self.path, "".join(line + "\n" for line in kept).encode())

    def append(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def _calibrated_total(steps_done: int, seconds: float, budget_s: float, max_steps: int) -> int:
    rate = steps_done / max(seconds, 1e-9)
    return min(max_steps, max(steps_done + 1, int(rate * budget_s)))


def run_training(
    framework: Framework,
    dataset: Dataset,
    out: Path,
    settings: RunSettings,
    *,
    val_batch: dict[str, Any] | None,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> dict:
    """Train ``framework`` and write the model checkpoint into ``out``; returns a summary.

    ``on_step(step, losses)`` is called after each step (``step`` counts completed steps).
    """
    state_path, log = out / STATE, _Log(out / LOG)
    elapsed, calibrated = 0.0, settings.minutes is None
    if resume:
        state = load_state(state_path)
        framework.load_state_dict(state["framework"])
        elapsed, calibrated = float(state["elapsed"]), bool(state["calibrated"])
        log.truncate_after(framework.step)
    else:
        framework.total_steps = settings.steps

    def save() -> None:
        save_state({"framework": framework.state_dict(), "elapsed": elapsed,
                    "calibrated": calibrated}, state_path)

    budget_s = settings.minutes * 60 if settings.minutes is not None else float("inf")
    sums: dict[str, float] = {}
    n_sum, last_save, validation = 0, time.monotonic(), {}

    def validate_and_log() -> dict[str, float]:
        nonlocal sums, n_sum
        result = framework.validate(val_batch) if val_batch is not None else {}
        log.append({"step": framework.step, "elapsed_s": round(elapsed, 2),
                    **{k: v / max(n_sum, 1) for k, v in sums.items()}, **result})
        sums, n_sum = {}, 0
        return result

    bar = tqdm(total=framework.total_steps, initial=framework.step, disable=not progress,
               desc=framework.name, unit="step", dynamic_ncols=True)
    while framework.step < framework.total_steps and elapsed < budget_s:
        t0 = time.monotonic()
        batch = sample_batch(dataset, settings.batch_size, settings.seed, framework.step)
        losses = framework.training_step(batch)
        elapsed += time.monotonic() - t0
        step = framework.step
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v
        n_sum += 1
        # With a time budget the schedule length follows the measured speed: first after
        # CALIBRATION_STEPS, then again at every validation (a machine busy during the first
        # steps must not cut the whole run short).
        if settings.minutes is not None and step >= CALIBRATION_STEPS and (
                not calibrated or step % settings.val_every == 0):
            framework.total_steps = _calibrated_total(step, elapsed, budget_s, settings.steps)
            calibrated = True
            bar.total = framework.total_steps
        bar.update(1)
        bar.set_postfix(loss=f"{losses['total']:.4f}")
        if step % settings.val_every == 0:
            validation = validate_and_log()
        if time.monotonic() - last_save >= settings.checkpoint_minutes * 60:
            save()
            last_save = time.monotonic()
        if on_step is not None:
            on_step(step, losses)
    bar.close()
    if n_sum or not validation:
        validation = validate_and_log()
    save()
    framework.model.meta.setdefault("training", {}).update(
        {**asdict(settings), "steps_done": framework.step, "seconds": round(elapsed, 1),
         "steps_per_s": round(framework.step / max(elapsed, 1e-9), 3), **validation}
    )
    save_checkpoint(framework.model, out)
    return {"steps": framework.step, "seconds": elapsed, **validation}
