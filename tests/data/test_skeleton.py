import torch

from dprobe.data.motion import ACTION_NAMES, Style, perform
from dprobe.data.skeleton import (
    JOINT_LIMITS,
    BodyShape,
    bone_lengths,
    clamp_to_limits,
    forward_kinematics,
)


def test_bone_lengths_constant_within_each_sequence(tiny):
    bl = bone_lengths(tiny.joints3d_world)
    for seq in tiny.sequence.unique():
        lengths = bl[tiny.sequence == seq]
        assert (lengths - lengths[0]).abs().max() < 0.1


def test_all_joints_above_the_floor(tiny):
    assert tiny.joints3d_world[..., 2].min() > 0


def test_at_least_eight_actions_and_every_one_moves():
    assert len(ACTION_NAMES) >= 8
    g = torch.Generator().manual_seed(0)
    t = torch.arange(30, dtype=torch.float64) / 12.5
    for action in ACTION_NAMES:
        j = perform(action, BodyShape(), Style(noise=0.0), t, g)
        rel = j - j[:, :1]
        assert (rel - rel[0]).norm(dim=-1).max() > 50, action  # limbs move by > 5 cm


def test_walking_moves_on_the_floor_and_turning_turns():
    g = torch.Generator().manual_seed(0)
    t = torch.arange(50, dtype=torch.float64) / 12.5
    walk = perform("walking", BodyShape(), Style(), t, g)
    assert (walk[-1, 0, :2] - walk[0, 0, :2]).norm() > 1000
    turn = perform("turning", BodyShape(), Style(), t, g)
    hips = turn[:, 4, :2] - turn[:, 1, :2]
    angle = torch.atan2(hips[:, 1], hips[:, 0])
    assert (angle - angle[0]).abs().max() > 1.0


def test_joint_limits_are_enforced():
    wild = torch.full((1, 17, 3), 10.0)
    clamped = clamp_to_limits(wild)
    assert torch.all(clamped <= JOINT_LIMITS[..., 1]) and torch.all(clamped >= JOINT_LIMITS[..., 0])
    assert clamped[0, 1].abs().sum() == 0  # rigid hip bone does not rotate


def test_height_scales_the_skeleton():
    zero = torch.zeros(1, 17, 3, dtype=torch.float64)
    root = torch.tensor([[0.0, 0, 1000]], dtype=torch.float64)
    short = forward_kinematics(zero, BodyShape(0.9).offsets().double(), root, torch.zeros(1))
    tall = forward_kinematics(zero, BodyShape(1.1).offsets().double(), root, torch.zeros(1))
    assert (tall[0, 10, 2] - tall[0, 3, 2]) / (short[0, 10, 2] - short[0, 3, 2]) > 1.2
