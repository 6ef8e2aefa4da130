"""Probes of pose/appearance disentanglement, and the held-out evaluation of a model.

Probes take any ``PoseAppearanceModel`` (``dprobe.models.protocol``) and a studio; they sit
above models and never import training code. Each probe declares itself in its module
(``base.Probe``); ``registry`` lists them by name and runs them.
"""
