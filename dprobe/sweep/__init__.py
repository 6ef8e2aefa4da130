"""Sweeps: many probe and attack runs from one TOML spec into one SQLite table.

spec.py     the TOML spec, its validation and its work items (each with a stable key)
store.py    the SQLite results store (one row per sample; resumable; never a duplicate row)
items.py    what one work item computes: an attack batch or a probe, on one worker
backends.py the local and Ray backends, the progress bar, resume
run.py      one sweep from spec to database: its studio, its items, run on a backend
specs/      the shipped specs (package data): demo.toml (``dprobe demo``), standard.toml

The main job of ``dprobe demo`` (probes, a small attack sweep, the report) is
``dprobe.report.demo``.
"""
