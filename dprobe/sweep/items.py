"""What one work item computes, on one worker: an attack batch or one probe of one model.

``WorkerSetup`` is what a backend ships to each worker (picklable): the studio file (or its
bytes, for workers on other machines), the torch thread count, and how probe figures are drawn
(a function the command line passes in: nothing here imports the report). Calling it returns
a ``Worker`` that opens the studio once and loads each model once, on first use.

An attack item attacks the ``frames`` evenly spaced studio rows of one subject and camera, on
its engine. ``plan_batches`` packs attack items that share everything but subject and camera
(target, generator, engine, attack settings) into attack batches of up to ``batch_size``
samples, which ``Worker.batch`` attacks in one call of the attack loop (a finished sample leaves
the loop's active batch: per-sample stopping); each item's rows and artifacts are those of the
item attacked alone (the same iterations and successes; the floats equal up to the rounding of
convolutions, which depends on the batch size: tests/sweep/test_sweep_batches.py). Engines:
``eager`` runs ``dprobe.probes.attack``, ``cpp`` the C++ attack
(``dprobe.engines.pipeline.CppAttack``) over the target's TorchScript export, written once per
worker into a temporary folder (named by the model's key) that goes with the worker. Its rows
are the per-sample results plus the item's settings; its artifacts show the first sample:
``example.png`` the target's crop of the frame, the generator's initial synthesis and the
attacked image, side by side, and ``example_poses.json`` its poses (``EXAMPLE_POSE_KEYS``: the
ground truth and the target's predictions on the frame, the initial synthesis and the attacked
image; lists of 17 x 3 numbers, mm, root-relative, camera frame). A probe item runs
``dprobe.probes.registry.run_probe``; its values are every number of the probe's result, its
artifacts ``numbers.json`` and the probe's figures.
"""
from __future__ import annotations

import io
import json
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch
from torch import Tensor

from dprobe import __version__
from dprobe.data.batches import evenly_spaced
from dprobe.data.studio import Studio
from dprobe.errors import DprobeError
from dprobe.sweep.spec import Item, item_key, probe_settings
from dprobe.sweep.store import (
    ADDED_ATTACK_COLUMNS,
    EXAMPLE_POSES,
    ItemResult,
    flatten_numbers,
)

__all__ = ["EXAMPLE_POSE_KEYS", "FigureWriter", "Worker", "WorkerSetup", "attack_studio_rows",
           "check_studio", "plan_batches", "png_bytes"]

#: The poses of an attack example (``dprobe.probes.attack.result_rows`` keys, mm).
EXAMPLE_POSE_KEYS = ("truth_mm", "q_mm", "initial_pred_mm", "final_pred_mm")

#: ``(probe, result, folder, model) -> file names``: draws a probe's figures into ``folder``.
FigureWriter = Callable[[str, object, Path, str], list]


@dataclass(frozen=True)
class WorkerSetup:
    """How to start a worker: the ``studio`` file's path, torch ``threads``, the probe
    ``figures`` writer (or None), and where the studio's memory comes from instead of the file:
    ``shared``, the studio already in shared memory (``Studio.share_memory``: local workers
    map it), or ``stored``, a Ray object reference to ``Studio.to_arrays()`` (Ray actors read it
    in place from their node's object store: one copy per node)."""

    studio: str
    threads: int = 1
    figures: FigureWriter | None = None
    shared: Studio | None = None
    stored: object | None = None

    def in_object_store(self, ray) -> WorkerSetup:
        """The same setup with the studio put once into ``ray``'s object store (for Ray actors
        on any node, which cannot map this process's shared memory)."""
        studio = self.shared if self.shared is not None else Studio.open(self.studio)
        return replace(self, shared=None, stored=ray.put(studio.to_arrays()))

    def __call__(self) -> Worker:
        return Worker(self)


def png_bytes(images: Tensor) -> bytes:
    """PNG of images ``(n, 3, h, w)`` in [0, 1] placed side by side (8-bit, deterministic)."""
    from PIL import Image

    strip = torch.cat(list(images.detach().clamp(0, 1)), dim=2)
    array = (strip * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def attack_studio_rows(studio: Studio, subject: str, camera: int, frames: int) -> Tensor:
    """The ``frames`` evenly spaced studio rows of ``subject`` seen by ``camera``."""
    rows = studio.select(subjects=[subject], cameras=[camera])
    return rows[evenly_spaced(rows.numel(), frames)]


def check_studio(items: list[Item], studio: Studio) -> None:
    """Refuse items whose subjects, cameras or probe pair the studio does not have (one line)."""
    n_cameras = int(studio.cameras["R"].shape[0])
    for item in items:
        s = item.settings
        subjects = [s["subject"]] if item.kind == "attack" else s["pair"]
        for name in subjects:
            studio.subject_id(name)
        if item.kind == "attack" and not 0 <= s["camera"] < n_cameras:
            raise DprobeError(f"unknown camera {s['camera']} in the sweep: the studio has "
                              f"cameras 0-{n_cameras - 1}")


def plan_batches(items: list[Item], batch_size: int) -> list[list[Item]]:
    """The work units of ``items``: attack items that share everything but subject and camera,
    in their order, packed into batches of at most ``batch_size`` samples (an item is never
    split: one larger than ``batch_size`` is a batch of its own); every probe item alone.
    Planned over a whole sweep, the batches do not depend on which items are finished."""
    units: list[list[Item]] = []
    groups: dict[str, list[Item]] = {}
    for item in items:
        if item.kind == "attack":
            shared = {k: v for k, v in item.settings.items() if k not in ("subject", "camera")}
            groups.setdefault(item_key(shared), []).append(item)
        else:
            units.append([item])
    for group in groups.values():
        unit: list[Item] = []
        samples = 0
        for item in group:
            if unit and samples + item.settings["frames"] > batch_size:
                units.append(unit)
                unit, samples = [], 0
            unit.append(item)
            samples += item.settings["frames"]
        units.append(unit)
    return units


class Worker:
    """One worker's state: the studio (opened once) and the models (each loaded once)."""

    def __init__(self, setup: WorkerSetup) -> None:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(setup.threads)
        threadpool_limits(setup.threads)  # numpy / scipy BLAS too: they oversubscribe otherwise
        if setup.shared is not None:
            self.studio = setup.shared
        elif setup.stored is not None:
            import ray

            self.studio = Studio.from_arrays(ray.get(setup.stored))
        else:
            self.studio = Studio.open(setup.studio)
        self.figures = setup.figures
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._models: dict = {}
        self._cpp: dict = {}
        self._exports: tempfile.TemporaryDirectory | None = None
        self._scene = None

    def model(self, name: str):
        """The model of source ``name`` (``dprobe.sources``), loaded on first use."""
        if name not in self._models:
            from dprobe.sources import load_model

            self._models[name] = load_model(name)
        return self._models[name]

    def cpp_attack(self, name: str):
        """The C++ attack (``CppAttack``) of model ``name`` over its TorchScript export, written
        on first use into this worker's temporary folder (removed when the worker ends)."""
        if name not in self._cpp:
            from dprobe.engines.pipeline import CppAttack
            from dprobe.export import export_model

            if self._exports is None:
                self._exports = tempfile.TemporaryDirectory(prefix="dprobe-exports-")
            folder = Path(self._exports.name) / item_key({"model": name})
            export_model(name, folder, ["torchscript"])
            self._cpp[name] = CppAttack(folder)
        return self._cpp[name]

    def __call__(self, item: Item) -> ItemResult:
        """Compute ``item``."""
        return self.batch([item])[0]

    def batch(self, items: list[Item]) -> list[ItemResult]:
        """Compute one work unit of ``plan_batches``: an attack batch or one probe item."""
        if items[0].kind == "attack":
            return self._attack(items)
        return [self._probe(item) for item in items]

    def _attack(self, items: list[Item]) -> list[ItemResult]:
        from dprobe.probes.attack import AttackSettings, attack, studio_batch
        from dprobe.probes.generator_registry import make_generator

        s = items[0].settings  # what the batch's items share (``plan_batches``)
        target = self.model(s["target"])
        config = AttackSettings(threshold_mm=s["threshold_mm"], iterations=s["iterations"],
                                lr=s["lr"], eps=s["eps"] or None, boxes=s["boxes"])
        item_rows = [attack_studio_rows(self.studio, i.settings["subject"],
                                        i.settings["camera"], i.settings["frames"])
                     for i in items]
        rows = torch.cat(item_rows)
        batch = studio_batch(self.studio, rows)
        if s["engine"] == "cpp":
            if s["generator"] != "self":
                raise ValueError("the cpp engine attacks only with generator 'self'")
            result = self.cpp_attack(s["target"]).attack(target, batch, config)
        else:
            generator = make_generator(s["generator"], target, self.studio,
                                       load=self.model, settings=config)
            result = attack(target, generator, batch, config)
        out, lo = [], 0
        for item, r in zip(items, item_rows):
            part = slice(lo, lo + r.numel())
            lo = part.stop
            out.append(self._attack_item(item, r, {k: v[part] for k, v in batch.items()},
                                         replace(result, **{f.name: getattr(result, f.name)[part]
                                                            for f in fields(result)})))
        return out

    def _attack_item(self, item: Item, rows: Tensor, batch: dict[str, Tensor], result
                     ) -> ItemResult:
        """The result of one attack item from its samples' part of the batch and its result."""
        from dprobe.probes.attack import result_rows

        s = item.settings
        settings = {"target": s["target"], "generator": s["generator"], "engine": s["engine"],
                    "threshold_mm": s["threshold_mm"], "max_iterations": s["iterations"],
                    "lr": s["lr"], "eps": s["eps"], "boxes": s["boxes"],
                    "dprobe_version": __version__}
        out = []
        records = result_rows(self.studio, rows, batch, result, poses=True)
        for sample, r in enumerate(records):
            out.append({**settings, "sample": sample, "subject": r["subject"],
                        "camera": r["camera"], "action": r["action"], "frame": r["frame"],
                        "studio_row": r["row"], "initial_mpjpe_mm": r["initial_mpjpe_mm"],
                        "final_mpjpe_mm": r["final_mpjpe_mm"], "iterations": r["iterations"],
                        "success": int(r["success"]), "ssim": r["ssim"], "psnr_db": r["psnr_db"],
                        "mse": r["mse"], "q_vs_truth_mpjpe_mm": r["q_vs_truth_mpjpe_mm"],
                        **{k: r[k] for k in ADDED_ATTACK_COLUMNS}})
        example = torch.stack((result.x_input[0], result.x_initial[0], result.x_final[0]))
        poses = json.dumps({k: records[0][k] for k in EXAMPLE_POSE_KEYS}).encode()
        return ItemResult(item.key, item.kind, s, rows=out, worker=self.name,
                          artifacts=[("example.png", "image/png", png_bytes(example)),
                                     (EXAMPLE_POSES, "application/json", poses)],
                          version=__version__)

    def _probe(self, item: Item) -> ItemResult:
        from dprobe.probes.counterfactual import Scene
        from dprobe.probes.registry import run_probe
        from dprobe.sources import parse_source

        s = item.settings
        if self._scene is None:
            self._scene = Scene(self.studio)
        result = run_probe(s["probe"], self.model(s["model"]), self._scene, probe_settings(s))
        source = parse_source(s["model"])
        numbers = {"model_source": source.describe(),
                   "crop_size": self.model(s["model"]).crop_size, **result.checked_numbers()}
        artifacts = [("numbers.json", "application/json",
                      json.dumps(numbers, indent=1, sort_keys=True).encode())]
        if self.figures is not None:
            with tempfile.TemporaryDirectory() as folder:
                for name in self.figures(s["probe"], result, Path(folder), source.label):
                    artifacts.append((name, "image/png", (Path(folder) / name).read_bytes()))
        return ItemResult(item.key, item.kind, s, values=flatten_numbers(numbers),
                          artifacts=artifacts, worker=self.name, version=__version__)
