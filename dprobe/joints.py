"""The joints every pose in dprobe has: the 17 joints of the Human3.6M protocol, in its order.

``JOINT_NAMES[j]`` names joint ``j``; ``PARENTS[j]`` is the joint its bone starts from (-1 for
the root, the pelvis). Poses are ``(..., 17, 3)`` in millimetres (docs/conventions.md).
"""
from __future__ import annotations

__all__ = ["JOINT_NAMES", "N_JOINTS", "PARENTS"]

JOINT_NAMES = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax",
    "neck_nose", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
)
N_JOINTS = 17
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
