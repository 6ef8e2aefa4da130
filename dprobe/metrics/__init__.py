"""Metrics: pose errors (mm), image similarity on [0, 1] images, disentanglement measures."""
