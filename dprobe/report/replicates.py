"""Figures of retrained replicates: the same framework trained again with other seeds.

A replicates folder (``experiments/replicates.sh`` writes one) holds one run folder per
framework and seed, ``<model>-s<seed>/``, each with the outputs of the standard commands:
``figures.json`` (``dprobe evaluate``), ``probes/<name>/<probe>.json`` (``dprobe probe``) and
``attack/samples.jsonl`` (``dprobe attack`` through the model's own decoder). ``read_replicates``
gathers them as model -> figure name -> one value per seed (every seed found in the folder, in
order; None where that run lacks the figure, so lists of two models pair by seed), the names
those of
the report's rows: ``evaluate.<figure>``, ``<probe>.<dotted key>`` (as a sweep stores probe
values) and ``attack.<figure>`` (``dprobe.probes.attack.attack_summary``), each figure's
within-run interval under ``<source>.intervals.<figure>.{value,low,high,n,seed}``
(``dprobe.report.paper_claims.stored_interval`` reads it). A run that lacks
one of the outputs is left out of its figures, and its folder is named in ``missing``.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

from dprobe.errors import DprobeError
from dprobe.probes.attack import attack_summary
from dprobe.sweep.store import flatten_numbers

__all__ = ["RUN_NAME", "read_replicates"]

#: A replicate run's folder name: the model and the seed.
RUN_NAME = re.compile(r"^(?P<model>.+)-s(?P<seed>\d+)$")

def _run_figures(run: Path) -> tuple[dict[str, float], list[str]]:
    """One run's figures by name, and the outputs it lacks."""
    figures: dict[str, float] = {}
    missing = []
    evaluate = run / "figures.json"
    if evaluate.is_file():
        figures.update(flatten_numbers(json.loads(evaluate.read_text())["all"], "evaluate."))
    else:
        missing.append("figures.json")
    probes = sorted((run / "probes").glob("*/*.json"))
    for path in probes:
        numbers = json.loads(path.read_text())
        if "probe" not in numbers:
            continue
        kept = {k: v for k, v in numbers.items() if k not in ("settings", "model_source")}
        figures.update(flatten_numbers(kept, f"{numbers['probe']}."))
    if not probes:
        missing.append("probes/")
    samples = run / "attack" / "samples.jsonl"
    if samples.is_file():
        rows = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()]
        figures.update(flatten_numbers(attack_summary(rows), "attack."))
    else:
        missing.append("attack/samples.jsonl")
    return figures, missing


def read_replicates(folder: str | Path) -> tuple[dict[str, dict[str, list[float]]], list[str]]:
    """``(replicates, missing)``: model -> figure name -> values in seed order, and one line
    per run folder that lacks an output (see the module doc). A folder without any run is
    refused in one line."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DprobeError(f"replicates folder {folder} does not exist")
    runs = sorted(((m["model"], int(m["seed"]), p) for p in folder.iterdir()
                   if p.is_dir() and (m := RUN_NAME.match(p.name))), key=lambda r: r[:2])
    if not runs:
        raise DprobeError(f"{folder} holds no replicate runs (folders named MODEL-sSEED)")
    seeds = sorted({seed for _, seed, _ in runs})
    by_seed: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    missing = []
    for model, seed, path in runs:
        figures, lacks = _run_figures(path)
        if lacks:
            missing.append(f"{path.name}: no {', '.join(lacks)}")
        for name, value in figures.items():
            by_seed[model][name][seed] = value
    return ({m: {name: [values.get(s) for s in seeds] for name, values in figures.items()}
             for m, figures in by_seed.items()}, missing)
