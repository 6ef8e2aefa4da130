"""Actions as joint-angle trajectories, with per-subject timing, amplitude and noise.

An action maps time (s) to raw joint angles ``(T, 17, 3)`` (see ``skeleton`` for the sign
conventions) and a floor trajectory (pelvis x, y in mm and heading in rad). ``perform`` runs the
kinematics and returns world joints that stand on the floor.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from dprobe.data.skeleton import BodyShape, clamp_to_limits, forward_kinematics, ground
from dprobe.joints import N_JOINTS

ACTION_NAMES = (
    "walking", "waving", "pointing", "sitting", "squatting", "boxing", "stretching", "turning",
    "jumping_jacks",
)

# Joint indices driven by each anatomical rotation (the bone that ends at the index).
R_THIGH, R_KNEE, L_THIGH, L_KNEE = 2, 3, 5, 6
LOW_BACK, UP_BACK, NECK, HEAD = 7, 8, 9, 10
L_UPPER_ARM, L_ELBOW, R_UPPER_ARM, R_ELBOW = 12, 13, 15, 16
X, Y, Z = 0, 1, 2


@dataclass(frozen=True)
class Style:
    """How one subject performs: tempo (x speed), amplitude (x range), noise (rad), phase (rad)."""

    tempo: float = 1.0
    amplitude: float = 1.0
    noise: float = 0.05
    phase: float = 0.0


@dataclass
class Trajectory:
    """Raw joint angles ``(T, 17, 3)`` rad, pelvis floor position ``(T, 2)`` mm, heading (T,)."""

    angles: Tensor
    floor_xy: Tensor
    heading: Tensor


ActionFn = Callable[[Tensor, Style, torch.Generator], Trajectory]


def _empty(t: Tensor) -> Tensor:
    return torch.zeros(t.shape[0], N_JOINTS, 3, dtype=t.dtype)


def _wander(t: Tensor, gen: torch.Generator, radius: float = 350.0) -> tuple[Tensor, Tensor]:
    """A slow drift on the floor (mm) and a slowly changing heading (rad)."""
    a = torch.rand(4, generator=gen, dtype=t.dtype) * 2 * math.pi
    f = 0.08 + 0.06 * torch.rand(2, generator=gen, dtype=t.dtype)
    xy = torch.stack((radius * torch.sin(2 * math.pi * f[0] * t + a[0]),
                      radius * torch.sin(2 * math.pi * f[1] * t + a[1])), dim=-1)
    heading = a[2] + 0.7 * torch.sin(2 * math.pi * 0.05 * t + a[3])
    return xy, heading


def _walking(t: Tensor, s: Style, gen: torch.Generator) -> Trajectory:
    ang = _empty(t)
    phi = 2 * math.pi * 0.9 * s.tempo * t + s.phase
    A = s.amplitude
    swing = torch.sin(phi)
    ang[:, R_THIGH, Y] = -0.45 * A * swing
    ang[:, L_THIGH, Y] = 0.45 * A * swing
    ang[:, R_KNEE, Y] = 0.15 + 0.55 * A * torch.relu(torch.sin(phi + math.pi / 2))
    ang[:, L_KNEE, Y] = 0.15 + 0.55 * A * torch.relu(torch.sin(phi - math.pi / 2))
    ang[:, R_UPPER_ARM, Y] = 0.4 * A * swing
    ang[:, L_UPPER_ARM, Y] = -0.4 * A * swing
    ang[:, R_UPPER_ARM, X] = -0.12
    ang[:, L_UPPER_ARM, X] = 0.12
    ang[:, R_ELBOW, Y] = -0.35 - 0.2 * A * torch.relu(swing)
    ang[:, L_ELBOW, Y] = -0.35 - 0.2 * A * torch.relu(-swing)
    ang[:, LOW_BACK, Z] = 0.12 * A * swing
    ang[:, LOW_BACK, Y] = 0.06
    # Walk along a circle of radius 1.4 m at about 1.1 m/s.
    r = 1400.0
    omega = 1100.0 * s.tempo / r
    theta = omega * t + torch.rand(1, generator=gen, dtype=t.dtype) * 2 * math.pi
    xy = torch.stack((r * torch.cos(theta), r * torch.sin(theta)), dim=-1)
    return Trajectory(ang, xy, theta + math.pi / 2)


def _waving(t: Tensor, s: Style, gen: torch.Generator) -> Trajectory:
    ang = _empty(t)
    phi = 2 * math.pi * 1.4 * s.tempo * t + s.phase
    A = s.amplitude
    raise_ = 0.5 - 0.5 * torch.cos(2 * math.pi * 0.2 * s.tempo * t)  # raise and lower the arm
    ang[:, R_UPPER_ARM, X] = -2.4 * raise_
    ang[:, R_UPPER_ARM, Y] = -0.3 * raise_
    ang[:, R_ELBOW, Y] = -(0.3 + 0.5 * A * (0.5 + 0.5 * torch.sin(phi))) * raise_
    ang[:, R_ELBOW, Z] = 0.4 * A * torch.sin(phi) * raise_
    ang[:, LOW_BACK, X] = 0.08 * A * torch.sin(phi)
    ang[:, L_UPPER_ARM, X] = 0.1
    ang[:, L_ELBOW, Y] = -0.2
    xy, heading = _wander(t, gen)
    return Trajectory(ang, xy, heading)


def _pointing(t: Tensor, s: Style, gen: torch.Generator) -> Trajectory:
    ang = _empty(t)
    cycle = 2 * math.pi * 0.25 * s.tempo * t + s.phase
    right = (torch.sin(cycle) > 0).to(t.dtype)  # alternate arms
    lift = torch.sin(cycle).abs().pow(0.5) * s.amplitude
    sweep = 0.5 * torch.sin(2 * math.pi * 0.4 * s.tempo * t)
    ang[:, R_UPPER_ARM, Y] = -1.5 * lift * right
    ang[:, R_UPPER_ARM, X] = -0.5 * lift * right
    ang[:, L_UPPER_ARM, Y] = -1.5 * lift * (1 - right)
    ang[:, L_UPPER_ARM, X] = 0.5 * lift * (1 - right)
    ang[:, R_ELBOW, Y] = -0.1 - 0.3 * (1 - right)
    ang[:, L_ELBOW, Y] = -0.1 - 0.3 * right
    ang[:, LOW_BACK, Z] = sweep
    ang[:, NECK, Z] = 0.6 * sweep
    xy, heading = _wander(t, gen)
    return Trajectory(ang, xy, heading)


def _sit_like(t: Tensor, s: Style, gen: torch.Generator, depth: float, arms: float) -> Trajectory:
    ang = _empty(t)
    down = 0.5 - 0.5 * torch.cos(2 * math.pi * 0.22 * s.tempo * t + s.phase)
    d = down * min(1.0, s.amplitude)
    ang[:, R_THIGH, Y] = -1.0 * depth * d
    ang[:, L_THIGH, Y] = -1.0 * depth * d
    ang[:, R_THIGH, X] = -0.15 * d
    ang[:, L_THIGH, X] = 0.15 * d
    ang[:, R_KNEE, Y] = 1.15 * depth * d
    ang[:, L_KNEE, Y] = 1.15 * depth * d
    ang[:, 0, Y] = 0.35 * depth * d  # pelvis tilts forward
    ang[:, LOW_BACK, Y] = 0.1 * d
    ang[:, R_UPPER_ARM, Y] = -arms * d
    ang[:, L_UPPER_ARM, Y] = -arms * d
    ang[:, R_ELBOW, Y] = -0.6 * d
    ang[:, L_ELBOW, Y] = -0.6 * d
    xy, heading = _wander(t, gen, radius=150.0)
    return Trajectory(ang, xy, heading)


def _sitting(t: Tensor, s: Style, gen: torch.Generator) -> Trajectory:
    return _sit_like(t, s, gen, depth=1.45, arms=0.5)


def _squatting(t: Tensor, s: Style, gen: torch.Generator) -> Trajectory:
    return _sit_like(t, s, gen, depth=1.8, arms=1.4)


def _boxing(t: Tensor, s: Style, gen: torch.Generator) -> Trajectory:
    ang = _empty(t)
    phi = 2 * math.pi * 1.1 * s.tempo * t + s.phase
    A = s.amplitude
    punch_r = torch.relu(torch.sin(phi)).pow(2) * A
    punch_l = torch.relu(-torch.sin(phi)).pow(2) * A
    for arm, elbow, side, punch in ((R_UPPER_ARM, R_ELBOW, -1, punch_r),
                                    (L_UPPER_ARM, L_ELBOW, 1, punch_l)):
        ang[:, arm, Y] = -0.8 - 0.7 * punch
        ang[:, arm, X] = side * 0.35
        ang[:, elbow, Y] = -2.1 + 2.0 * punch
    ang[:, LOW_BACK, Z] = 0.3 * (punch_r - punch_l)
    ang[:, LOW_BACK, Y] = 0.15
    ang[:, R_THIGH, Y] = -0.25
    ang[:, L_THIGH, Y] = 0.1
    ang[:, R_KNEE, Y] = 0.35
    ang[:, L_KNEE, Y] = 0.25
    xy, heading = _wander(t, gen, radius=250.0)
    return Trajectory(ang, xy, heading)


def _stretching(t: Tensor, s: Style, gen: torch.Generator) -> Trajectory:
    ang = _empty(t)
    cycle = 2 * math.pi * 0.15 * s.tempo * t + s.phase
    up = torch.relu(torch.sin(cycle))        # arms overhead, bending sideways
    bend = torch.relu(-torch.sin(cycle))     # bending forward towards the toes
    side = torch.sin(2 * math.pi * 0.3 * s.tempo * t)
    A = s.amplitude
    ang[:, R_UPPER_ARM, X] = -2.8 * up
    ang[:, L_UPPER_ARM, X] = 2.8 * up
    ang[:, R_UPPER_ARM, Y] = -1.2 * bend
    ang[:, L_UPPER_ARM, Y] = -1.2 * bend
    ang[:, LOW_BACK, X] = 0.35 * A * side * up
    ang[:, LOW_BACK, Y] = 0.85 * A * bend
    ang[:, UP_BACK, Y] = 0.4 * A * bend
    ang[:, 0, Y] = 0.5 * A * bend
    xy, heading = _wander(t, gen, radius=150.0)
    return Trajectory(ang, xy, heading)


def _turning(t: Tensor, s: Style, gen: torch.Generator) -> Trajectory:
    ang = _empty(t)
    phi = 2 * math.pi * 1.2 * s.tempo * t + s.phase
    step = torch.sin(phi)
    ang[:, R_THIGH, Y] = -0.2 * s.amplitude * torch.relu(step)
    ang[:, L_THIGH, Y] = -0.2 * s.amplitude * torch.relu(-step)
    ang[:, R_KNEE, Y] = 0.4 * s.amplitude * torch.relu(step)
    ang[:, L_KNEE, Y] = 0.4 * s.amplitude * torch.relu(-step)
    ang[:, R_UPPER_ARM, X] = -0.3
    ang[:, L_UPPER_ARM, X] = 0.3
    ang[:, R_ELBOW, Y] = -0.9
    ang[:, L_ELBOW, Y] = -0.9
    xy, _ = _wander(t, gen, radius=100.0)
    start = torch.rand(1, generator=gen, dtype=t.dtype) * 2 * math.pi
    heading = start + 2 * math.pi * 0.22 * s.tempo * t
    return Trajectory(ang, xy, heading)


def _jumping_jacks(t: Tensor, s: Style, gen: torch.Generator) -> Trajectory:
    ang = _empty(t)
    open_ = 0.5 - 0.5 * torch.cos(2 * math.pi * 0.9 * s.tempo * t + s.phase)
    A = s.amplitude
    ang[:, R_UPPER_ARM, X] = -2.7 * A * open_
    ang[:, L_UPPER_ARM, X] = 2.7 * A * open_
    ang[:, R_THIGH, X] = -0.35 * A * open_
    ang[:, L_THIGH, X] = 0.35 * A * open_
    ang[:, R_KNEE, Y] = 0.2 * open_
    ang[:, L_KNEE, Y] = 0.2 * open_
    xy, heading = _wander(t, gen, radius=100.0)
    return Trajectory(ang, xy, heading)


ACTIONS: dict[str, ActionFn] = {
    "walking": _walking, "waving": _waving, "pointing": _pointing, "sitting": _sitting,
    "squatting": _squatting, "boxing": _boxing, "stretching": _stretching,
    "turning": _turning, "jumping_jacks": _jumping_jacks,
}


def smooth_noise(t: Tensor, scale: float, gen: torch.Generator) -> Tensor:
    """Smooth per-joint angle noise ``(T, 17, 3)`` rad: three random sinusoids per angle."""
    n = 3
    freq = 0.15 + 0.9 * torch.rand(n, N_JOINTS, 3, generator=gen, dtype=t.dtype)
    phase = 2 * math.pi * torch.rand(n, N_JOINTS, 3, generator=gen, dtype=t.dtype)
    amp = scale * torch.rand(n, N_JOINTS, 3, generator=gen, dtype=t.dtype)
    wave = torch.sin(2 * math.pi * freq[None] * t[:, None, None, None] + phase[None])
    return (amp[None] * wave).sum(dim=1) / math.sqrt(n)


def perform(action: str, shape: BodyShape, style: Style, times: Tensor,
            gen: torch.Generator) -> Tensor:
    """World joints ``(T, 17, 3)`` mm of a subject doing ``action`` at ``times`` (s).

    The joint angles get smooth per-subject noise, are clamped to the joint limits, and the
    body is placed on the floor (lowest ankle at ankle height).
    """
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}; known: {', '.join(ACTION_NAMES)}")
    traj = ACTIONS[action](times, style, gen)
    angles = clamp_to_limits(traj.angles + smooth_noise(times, style.noise, gen))
    root = torch.cat((traj.floor_xy, torch.full_like(traj.floor_xy[:, :1],
                                                     shape.standing_pelvis_height())), dim=-1)
    joints = forward_kinematics(angles, shape.offsets().to(times.dtype), root, traj.heading)
    return ground(joints, shape.height)
