"""The published calibration of Human3.6M's four cameras, and the 17-of-32 joint subset.

The raw release ships no camera file: the field's code carries the calibration as constants.
The values below are those published with Pavllo et al.'s VideoPose3D
(facebookresearch/VideoPose3D, ``common/h36m_dataset.py``: ``h36m_cameras_intrinsic_params``
and ``h36m_cameras_extrinsic_params``), rounded to 0.01 px / 0.01 mm / 1e-6, written here as
data. Per camera (shared by all subjects): focal lengths and principal point in pixels. Per
subject and camera: the orientation, a unit quaternion ``(w, x, y, z)`` that rotates camera-frame
directions into the world, and the camera's position in the world, mm. The world is z up, mm,
the floor near z = 0 (as dprobe's). The radial and tangential distortion published beside them
is not used: dprobe's camera model is a pinhole (docs/h36m.md says what that costs).

Only plausibility can be checked without the data (tests/data/test_h36m_prepare.py): every camera
stands 4.4-5.9 m from a point 1 m above the room's centre, 1.4-1.7 m high, upright, and its
optical axis passes within 12 degrees of that point.

``CameraTable`` is the form the converter reads: the published table (``PUBLISHED``) or a JSON
file of the same shape (``load_camera_table``), which is how a test passes its own cameras.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from dprobe.errors import DprobeError

__all__ = ["CAMERA_IDS", "JOINTS_17_OF_32", "PUBLISHED", "CameraTable", "load_camera_table",
           "quaternion_to_matrix"]

#: The four cameras of the release, in the order of the published tables.
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")

#: Indices of the 17 protocol joints among the 32 of ``D3_Positions`` (``Pose``), in dprobe's
#: joint order (``dprobe.joints.JOINT_NAMES``): pelvis, r_hip, r_knee, r_ankle, l_hip, l_knee,
#: l_ankle, spine, thorax, neck_nose, head, l_shoulder, l_elbow, l_wrist, r_shoulder, r_elbow,
#: r_wrist. The field's 17-joint order is dprobe's, so the subset needs no reordering.
JOINTS_17_OF_32 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

#: A camera table: ``intrinsics`` camera id -> ``[fx, fy, cx, cy]`` px; ``extrinsics`` subject ->
#: camera id -> ``[qw, qx, qy, qz, x, y, z]`` (camera-to-world quaternion, position mm).
CameraTable = dict

# Source: facebookresearch/VideoPose3D, common/h36m_dataset.py (published H36M calibration).
PUBLISHED: CameraTable = {
    "intrinsics": {
        "54138969": [1145.05, 1143.78, 512.54, 515.45],
        "55011271": [1149.68, 1147.59, 508.85, 508.06],
        "58860488": [1149.14, 1148.80, 519.82, 501.40],
        "60457274": [1145.51, 1144.77, 514.97, 501.88],
    },
    "extrinsics": {
        "S1": {
            "54138969": [0.140706, -0.150070, -0.755241, 0.622328, 1841.11, 4955.28, 1563.45],
            "55011271": [0.615719, -0.764836, -0.148338, 0.117947, 1761.28, -5078.01, 1606.27],
            "58860488": [0.146515, -0.146479, 0.765302, -0.609418, -1846.78, 5215.05, 1491.97],
            "60457274": [0.583401, -0.785316, 0.145488, -0.147496, -1794.79, -3722.70, 1574.89],
        },
        "S5": {
            "54138969": [0.146738, -0.162371, -0.755189, 0.617894, 2097.39, 4880.94, 1605.73],
            "55011271": [0.615976, -0.762679, -0.157282, 0.118982, 2031.70, -5167.93, 1612.92],
            "58860488": [0.142914, -0.129078, 0.767838, -0.611014, -1620.59, 5171.66, 1496.44],
            "60457274": [0.592048, -0.781422, 0.127475, -0.150364, -1637.17, -3867.32, 1547.03],
        },
        "S6": {
            "54138969": [0.133790, -0.156924, -0.757109, 0.619888, 1935.45, 4950.25, 1618.08],
            "55011271": [0.614720, -0.762881, -0.161748, 0.118192, 1969.80, -5128.74, 1632.78],
            "58860488": [0.152995, -0.135291, 0.764610, -0.611278, -1769.60, 5185.36, 1476.99],
            "60457274": [0.591610, -0.780477, 0.128323, -0.156159, -1721.67, -3884.13, 1540.49],
        },
        "S7": {
            "54138969": [0.143524, -0.163134, -0.754833, 0.618882, 1974.51, 4926.35, 1597.83],
            "55011271": [0.614167, -0.763826, -0.159665, 0.117793, 1937.06, -5119.79, 1631.57],
            "58860488": [0.145501, -0.128748, 0.766052, -0.612714, -1741.81, 5208.25, 1464.82],
            "60457274": [0.591285, -0.782176, 0.124455, -0.151965, -1734.71, -3832.42, 1548.58],
        },
        "S8": {
            "54138969": [0.141106, -0.155899, -0.756192, 0.619644, 2150.65, 4896.16, 1611.90],
            "55011271": [0.616960, -0.764767, -0.148464, 0.111582, 2219.97, -5148.45, 1613.04],
            "58860488": [0.147144, -0.133771, 0.767013, -0.610037, -1571.22, 5137.02, 1498.18],
            "60457274": [0.592782, -0.782587, 0.121478, -0.146320, -1476.91, -3896.74, 1547.97],
        },
        "S9": {
            "54138969": [0.155406, -0.155482, -0.753210, 0.619959, 2044.46, 4935.12, 1481.23],
            "55011271": [0.618784, -0.763474, -0.141322, 0.119340, 1990.96, -5123.81, 1568.80],
            "58860488": [0.133578, -0.136710, 0.768945, -0.610074, -1670.99, 5211.99, 1528.39],
            "60457274": [0.587940, -0.782341, 0.142761, -0.147949, -1696.04, -3827.10, 1591.41],
        },
        "S11": {
            "54138969": [0.152325, -0.154423, -0.754756, 0.619107, 2098.44, 4926.55, 1500.28],
            "55011271": [0.618945, -0.760092, -0.153006, 0.125526, 2083.18, -4912.17, 1561.08],
            "58860488": [0.149432, -0.156502, 0.768123, -0.602630, -1609.82, 5177.34, 1537.90],
            "60457274": [0.589425, -0.781888, 0.139912, -0.147154, -1590.74, -3854.17, 1578.02],
        },
    },
}


def quaternion_to_matrix(q: Tensor) -> Tensor:
    """Rotation matrices ``(..., 3, 3)`` of quaternions ``(..., 4)`` ``(w, x, y, z)`` (normalised
    here)."""
    w, x, y, z = (q / q.norm(dim=-1, keepdim=True)).unbind(-1)
    rows = (
        (1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
        (2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
        (2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)),
    )
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def subject_cameras(table: CameraTable, subject: str) -> tuple[Tensor, Tensor, Tensor]:
    """``R (4, 3, 3)`` world->camera, ``t (4, 3)`` mm and ``K (4, 3, 3)`` px of one subject's
    cameras, in ``CAMERA_IDS`` order (``X_cam = R @ X_world + t``)."""
    if subject not in table["extrinsics"]:
        raise DprobeError(f"no camera calibration for subject {subject}; the table has "
                          f"{', '.join(table['extrinsics'])}")
    ext = torch.tensor([table["extrinsics"][subject][c] for c in CAMERA_IDS], dtype=torch.float64)
    R = quaternion_to_matrix(ext[:, :4]).transpose(1, 2)     # camera->world, transposed
    t = -torch.einsum("nij,nj->ni", R, ext[:, 4:])
    K = torch.zeros(4, 3, 3, dtype=torch.float64)
    for i, cam in enumerate(CAMERA_IDS):
        fx, fy, cx, cy = table["intrinsics"][cam]
        K[i] = torch.tensor([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=torch.float64)
    return R.float(), t.float(), K.float()


def load_camera_table(path: str | Path | None) -> CameraTable:
    """The published table (``None``) or a JSON file of the same shape, checked."""
    if path is None:
        return PUBLISHED
    path = Path(path)
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DprobeError(f"cannot read camera parameters {path}: {e}") from None
    try:
        bad = [c for c in CAMERA_IDS if len(table["intrinsics"][c]) != 4]
        bad += [f"{s}/{c}" for s, cams in table["extrinsics"].items() for c in CAMERA_IDS
                if len(cams[c]) != 7]
    except (KeyError, TypeError) as e:
        raise DprobeError(f"camera parameters {path} lack {e} (need 'intrinsics' and "
                          f"'extrinsics' for cameras {', '.join(CAMERA_IDS)})") from None
    if bad:
        raise DprobeError(f"camera parameters {path}: wrong number of values for "
                          f"{', '.join(bad)}")
    return table
