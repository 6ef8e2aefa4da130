"""Metrics: pose errors (mm), image similarity on [0, 1] images, body regions of a crop (where
inside the person an image error lies), disentanglement measures."""
