"""Held-out evaluation figures (dprobe.probes.evaluate) on the tiny studio."""
import pytest

from dprobe.models import load
from dprobe.probes.evaluate import evaluate_model


def test_code_variances_follow_the_scale_of_the_codes(tiny):
    """A code scaled by s has s^2 its variance: the figure that shows a collapsed code."""
    model = load("nsd")
    plain = evaluate_model(model, tiny, subjects=("S9",), max_frames=8)["all"]
    encode = model.encode
    model.encode = lambda crop: tuple(c * s for c, s in zip(encode(crop), (0.1, 3.0)))
    scaled = evaluate_model(model, tiny, subjects=("S9",), max_frames=8)["all"]
    assert plain["code_variance_a"] > 0 and plain["code_variance_p"] > 0
    assert scaled["code_variance_a"] == pytest.approx(0.01 * plain["code_variance_a"], rel=1e-4)
    assert scaled["code_variance_p"] == pytest.approx(9.0 * plain["code_variance_p"], rel=1e-4)
    assert {"reconstruction_shift", "per_joint_mpjpe", "per_action_mpjpe"} <= set(plain)
