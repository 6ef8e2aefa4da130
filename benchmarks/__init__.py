"""Speed and accuracy benchmarks of what dprobe ships, and the page of their current figures.

Run from the repository root as modules, e.g. ``python -m benchmarks.bench_attack --help``.
Speed: ``bench_studio`` (rendering and building a studio), ``bench_composite_crop`` (the fused
op), ``bench_attack`` (the attack loop), ``bench_training``, ``bench_engines`` (predict per
engine, the C++ attack), ``bench_sweep`` (sweep backends); ``gpu_check.sh`` (the GPU paths).
Accuracy of the shipped models: ``model_table`` (their held-out figures), ``attack_tables`` and
``probe_tables`` (the attack and the probes beside the paper, from a sweep's database).

Each writes its record with ``--json`` (benchmarks/results/<name>.json: ``record``);
``python -m benchmarks.results_page`` turns the records and the shipped models' figures into
benchmarks/RESULTS.md. ``run_all`` runs the quick ones (``make bench``).
"""
