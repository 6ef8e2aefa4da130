"""Held-out evaluation figures (dprobe.probes.evaluate) on the tiny studio."""
from dataclasses import replace

import pytest
import torch

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


def test_reconstruction_psnr_per_body_region_and_left_out_without_joints(tiny):
    """PSNR in the arms, legs and rest of the mask; left out when no frame's joints are known
    (H36M's root-relative labels)."""
    model = load("cssl")
    figures = evaluate_model(model, tiny, subjects=("S9",), max_frames=8)["all"]
    for key in ("psnr_arms", "psnr_legs", "psnr_rest"):
        assert 5 < figures[key] < 60
    unknown = replace(tiny, joints2d=torch.full_like(tiny.joints2d, float("nan")))
    figures = evaluate_model(model, unknown, subjects=("S9",), max_frames=8)["all"]
    assert not {"psnr_arms", "psnr_legs", "psnr_rest"} & set(figures)
    assert figures["psnr_mask"] > 5


def test_every_figure_has_an_interval_over_poses(tiny):
    """Each figure carries its interval; the unit is a pose (all its views), so n counts the
    poses, fewer than the frames when a pose is seen by several cameras."""
    result = evaluate_model(load("nsd"), tiny, subjects=("S9",), max_frames=None)
    figures = result["all"]
    intervals = figures["intervals"]
    for key in ("mpjpe", "psnr", "ssim_mask", "reconstruction_shift", "code_variance_p",
                "per_joint_mpjpe.head", "novel_view_psnr"):
        i = intervals[key]
        value = (figures["per_joint_mpjpe"]["head"] if key.startswith("per_joint")
                 else figures[key])
        assert i["value"] == pytest.approx(value)
        assert i["low"] <= value <= i["high"]
    poses = len(set(tiny.pose_units(tiny.select(subjects=["S9"]))))
    assert intervals["mpjpe"]["n"] == poses < result["subjects"]["S9"]["frames"]
    assert intervals["mpjpe"]["unit"] == "pose" and intervals["mpjpe"]["seed"] == 0
