"""The 17-joint Human3.6M skeleton, per-subject bone lengths, joint limits and forward kinematics.

Body frame (also the world frame at zero heading): x forward, y left, z up, millimetres.
Each non-root joint ``j`` carries a local rotation ``R_j`` (Euler angles ``(rx, ry, rz)``, applied
as ``Rz @ Ry @ Rx``) that turns the bone ending at ``j`` and everything below it:
``F_j = F_parent @ R_j`` and ``P_j = P_parent + F_j @ offset_j``. The root frame is
``Rz(heading) @ R_pelvis``. Sign conventions of the raw angles: ``ry < 0`` swings a downward
bone (thigh, upper arm, forearm) forward; ``ry > 0`` bends a knee backward and bends the spine
forward; ``rx > 0`` moves a downward bone towards +y (left).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dprobe.geometry import euler_xyz_to_matrix, rotation_z
from dprobe.joints import N_JOINTS, PARENTS

# Rest offsets (mm) of a reference subject (height scale 1, build 1), in the parent's frame.
_REST = torch.tensor([
    [0.0, 0.0, 0.0],        # pelvis (root)
    [0.0, -130.0, 0.0],     # r_hip from pelvis
    [0.0, 0.0, -445.0],     # r_knee (thigh)
    [0.0, 0.0, -440.0],     # r_ankle (shin)
    [0.0, 130.0, 0.0],      # l_hip
    [0.0, 0.0, -445.0],     # l_knee
    [0.0, 0.0, -440.0],     # l_ankle
    [0.0, 0.0, 235.0],      # spine
    [0.0, 0.0, 250.0],      # thorax
    [45.0, 0.0, 115.0],     # neck/nose
    [-35.0, 0.0, 120.0],    # head top
    [0.0, 150.0, -15.0],    # l_shoulder from thorax
    [0.0, 0.0, -280.0],     # l_elbow (upper arm)
    [0.0, 0.0, -250.0],     # l_wrist (forearm)
    [0.0, -150.0, -15.0],   # r_shoulder
    [0.0, 0.0, -280.0],     # r_elbow
    [0.0, 0.0, -250.0],     # r_wrist
])
_WIDTH_JOINTS = (1, 4, 11, 14)  # offsets scaled by the build (hip and shoulder width)

#: Height of the ankle joint above the floor (mm) for a subject of height scale 1.
ANKLE_HEIGHT = 75.0

# Joint limits of the raw Euler angles (rad): (min, max) for (rx, ry, rz) of each joint.
_LIMITS = torch.zeros(N_JOINTS, 3, 2)
_LIMITS[0] = torch.tensor([[-0.35, 0.35], [-0.5, 1.2], [-0.4, 0.4]])     # pelvis tilt
_LIMITS[2] = torch.tensor([[-0.9, 0.3], [-2.1, 0.55], [-0.6, 0.6]])      # right thigh
_LIMITS[5] = torch.tensor([[-0.3, 0.9], [-2.1, 0.55], [-0.6, 0.6]])      # left thigh
_LIMITS[3] = torch.tensor([[-0.05, 0.05], [0.0, 2.4], [-0.1, 0.1]])      # right knee
_LIMITS[6] = _LIMITS[3]                                                  # left knee
_LIMITS[7] = torch.tensor([[-0.45, 0.45], [-0.35, 0.9], [-0.7, 0.7]])    # lower back
_LIMITS[8] = torch.tensor([[-0.3, 0.3], [-0.3, 0.5], [-0.5, 0.5]])      # upper back
_LIMITS[9] = torch.tensor([[-0.3, 0.3], [-0.4, 0.5], [-0.8, 0.8]])      # neck
_LIMITS[10] = torch.tensor([[-0.2, 0.2], [-0.3, 0.3], [-0.3, 0.3]])     # head
_LIMITS[12] = torch.tensor([[-0.4, 3.0], [-3.1, 1.0], [-1.2, 1.2]])     # left upper arm
_LIMITS[15] = torch.tensor([[-3.0, 0.4], [-3.1, 1.0], [-1.2, 1.2]])     # right upper arm
_LIMITS[13] = torch.tensor([[-0.05, 0.05], [-2.6, 0.0], [-1.0, 1.0]])   # left elbow
_LIMITS[16] = _LIMITS[13]                                               # right elbow
JOINT_LIMITS = _LIMITS


@dataclass(frozen=True)
class BodyShape:
    """A subject's skeleton proportions: overall height scale and build (width) scale."""

    height: float = 1.0
    build: float = 1.0

    def offsets(self) -> Tensor:
        """Bone offsets (17, 3) in mm of this subject, in each parent's frame."""
        off = _REST * self.height
        width = torch.ones(N_JOINTS, 1)
        width[list(_WIDTH_JOINTS)] = self.build
        return off * width

    def standing_pelvis_height(self) -> float:
        """Pelvis height (mm) above the floor when standing straight."""
        return float(-(self.offsets()[2, 2] + self.offsets()[3, 2])) + ANKLE_HEIGHT * self.height


def clamp_to_limits(angles: Tensor) -> Tensor:
    """Angles ``(..., 17, 3)`` clamped to the joint limits; rigid joints set to zero."""
    lo, hi = JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1]
    return torch.maximum(torch.minimum(angles, hi), lo)


def forward_kinematics(angles: Tensor, offsets: Tensor, root: Tensor, heading: Tensor) -> Tensor:
    """World joint positions ``(T, 17, 3)`` mm.

    ``angles (T, 17, 3)`` raw Euler angles (rad), ``offsets (17, 3)`` mm, ``root (T, 3)`` pelvis
    position mm, ``heading (T,)`` rotation about the world z axis (rad).
    """
    rot = euler_xyz_to_matrix(angles)  # (T, 17, 3, 3)
    frames: list[Tensor] = [rotation_z(heading).to(angles.dtype) @ rot[:, 0]]
    positions: list[Tensor] = [root]
    for j in range(1, N_JOINTS):
        p = PARENTS[j]
        frame = frames[p] @ rot[:, j]
        frames.append(frame)
        positions.append(positions[p] + frame @ offsets[j].to(angles.dtype))
    return torch.stack(positions, dim=1)


def ground(joints: Tensor, height_scale: float = 1.0) -> Tensor:
    """Joints ``(T, 17, 3)`` shifted in z so that the lowest ankle stands on the floor."""
    ankles = joints[:, [3, 6], 2].amin(dim=1)
    lowest = joints[..., 2].amin(dim=1)
    shift = ANKLE_HEIGHT * height_scale - torch.minimum(ankles, lowest)
    out = joints.clone()
    out[..., 2] += shift.unsqueeze(-1)
    return out


def bone_lengths(joints: Tensor) -> Tensor:
    """Lengths (mm) ``(..., 16)`` of the bones from each non-root joint to its parent."""
    child = joints[..., 1:, :]
    parent = joints[..., list(PARENTS[1:]), :]
    return (child - parent).norm(dim=-1)
