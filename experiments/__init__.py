"""Experiments behind the shipped models: the training recipe (``train_models.sh``) and the
ablations that chose it (reconstruction options, decoder capacity, where the reconstruction
fails). Not benchmarks: they train networks for minutes to hours and answer one question each;
their findings are written up under docs/notes/.

Run from the repository root as modules, e.g. ``python -m experiments.mask_error --help``;
``bash experiments/train_models.sh`` for the recipe.
"""
