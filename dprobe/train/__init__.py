"""Training: the loop, run directories and training states, the detector and the regressor, and
the training jobs set up from plain settings (``setup.py``)."""
