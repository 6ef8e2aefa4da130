"""A tiny Human3.6M raw release, rendered by dprobe's studio renderer from known poses and
cameras, for the test of ``dprobe data h36m-prepare``.

Layout as the release: ``S<n>/MyPoseFeatures/D3_Positions/<sequence>.cdf`` (``Pose`` of shape
``(1, T, 96)``, the 17 protocol joints at their places among 32, the 15 others copies of the
pelvis) and ``S<n>/Videos/<sequence>.<camera id>.mp4`` (H.264, 96 x 96, 50 Hz). Its own
calibration is written as a camera-parameters JSON of the published table's shape.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from dprobe.data.appearance import SUBJECT_APPEARANCE, body_shape
from dprobe.data.h36m_cameras import CAMERA_IDS, JOINTS_17_OF_32
from dprobe.data.motion import Style, perform
from dprobe.data.render import render_frame, render_room
from dprobe.geometry import look_at

FRAME_HW = (96, 96)
SUBJECTS = ("S1", "S5")
#: Sequence name -> (the studio motion it performs, the direction it crosses the room in).
SEQUENCES = {"Walking 1": ("walking", (1.0, 0.3)), "Waiting": ("waving", (-0.4, 1.0))}
FRAMES = 24


@dataclass
class Release:
    """Where the fixture lies and what it was made from."""

    root: Path
    cameras_json: Path
    joints: dict[tuple[str, str], Tensor]        # (subject, sequence) -> (T, 17, 3) world mm
    cameras: dict[str, tuple[Tensor, Tensor, Tensor]]   # subject -> R, t, K (4 cameras)
    backgrounds: dict[str, Tensor]               # subject -> (4, H, W, 3) float in [0, 1]


def subject_cameras(s: int) -> tuple[Tensor, Tensor, Tensor]:
    """Four cameras on the room's diagonals; each subject's session slightly moved (s)."""
    H, W = FRAME_HW
    Rs, ts, Ks = [], [], []
    for k in range(4):
        azimuth = math.radians(45 + 90 * k + 3 * s)
        pos = torch.tensor([4600 * math.cos(azimuth), 4600 * math.sin(azimuth), 1500 + 40 * s])
        R, t = look_at(pos, torch.tensor([0.0, 0.0, 900.0]))
        f = 1.05 * W + 2 * k
        K = torch.tensor([[f, 0, W / 2 + k], [0, f, H / 2 - k], [0, 0, 1]], dtype=torch.float64)
        Rs.append(R), ts.append(t), Ks.append(K)
    return torch.stack(Rs), torch.stack(ts), torch.stack(Ks)


def matrix_to_quaternion(M: Tensor) -> list[float]:
    """The unit quaternion ``(w, x, y, z)`` of a rotation matrix (w taken positive)."""
    m = M.double()
    w = math.sqrt(max(0.0, 1 + float(m.trace()))) / 2
    x = math.copysign(math.sqrt(max(0.0, 1 + m[0, 0] - m[1, 1] - m[2, 2])) / 2, m[2, 1] - m[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1 - m[0, 0] + m[1, 1] - m[2, 2])) / 2, m[0, 2] - m[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1 - m[0, 0] - m[1, 1] + m[2, 2])) / 2, m[1, 0] - m[0, 1])
    return [w, x, y, z]


def camera_table(cameras: dict[str, tuple[Tensor, Tensor, Tensor]]) -> dict:
    """The fixture's calibration as a camera-parameters table (``h36m_cameras``'s shape)."""
    any_K = next(iter(cameras.values()))[2]
    intrinsics = {c: [float(any_K[k, 0, 0]), float(any_K[k, 1, 1]), float(any_K[k, 0, 2]),
                      float(any_K[k, 1, 2])] for k, c in enumerate(CAMERA_IDS)}
    extrinsics = {}
    for subject, (R, t, _) in cameras.items():
        extrinsics[subject] = {}
        for k, c in enumerate(CAMERA_IDS):
            position = -R[k].T @ t[k]
            extrinsics[subject][c] = matrix_to_quaternion(R[k].T) + position.tolist()
    return {"intrinsics": intrinsics, "extrinsics": extrinsics}


def _poses(subject: int, motion: str, direction: tuple[float, float]) -> Tensor:
    """``(FRAMES, 17, 3)`` world mm: the motion, carried 1.6 m across the room."""
    gen = torch.Generator().manual_seed(100 + subject)
    app = SUBJECT_APPEARANCE[SUBJECTS[subject]]
    times = torch.arange(FRAMES, dtype=torch.float64) / 12.5
    joints = perform(motion, body_shape(app), Style(), times, gen)
    d = torch.tensor([*direction, 0.0], dtype=torch.float64)
    shift = (torch.linspace(-800, 800, FRAMES, dtype=torch.float64)[:, None] * d / d.norm())
    return (joints - joints[:1, :1] * torch.tensor([1.0, 1.0, 0.0]) + shift[:, None]).float()


def write_cdf(path: Path, joints: Tensor) -> None:
    """A ``D3_Positions`` CDF: ``Pose (1, T, 96)`` with the 17 joints among 32."""
    from cdflib.cdfwrite import CDF

    T = joints.shape[0]
    full = joints[:, :1].expand(T, 32, 3).clone()
    full[:, list(JOINTS_17_OF_32)] = joints
    cdf = CDF(str(path))
    cdf.write_var({"Variable": "Pose", "Data_Type": CDF.CDF_DOUBLE, "Num_Elements": 1,
                   "Rec_Vary": True, "Dim_Sizes": [T, 96]},
                  var_data=full.reshape(1, T, 96).double().numpy())
    cdf.close()


def write_video(path: Path, frames: Tensor) -> None:
    """An H.264 MP4 at 50 Hz of ``frames (T, 3, H, W)`` in [0, 1]."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=50)
        stream.height, stream.width = frames.shape[-2:]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12"}
        pixels = (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for image in pixels:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_release(root: Path) -> Release:
    """Write the fixture release under ``root`` (2 subjects x 2 sequences x 4 cameras)."""
    root.mkdir(parents=True, exist_ok=True)
    cameras = {name: tuple(a.float() for a in subject_cameras(s))
               for s, name in enumerate(SUBJECTS)}
    joints, backgrounds = {}, {}
    for s, subject in enumerate(SUBJECTS):
        R, t, K = cameras[subject]
        backgrounds[subject] = torch.stack([
            render_room(R[k], t[k], K[k], FRAME_HW, torch.Generator().manual_seed(7))
            for k in range(4)])
        (root / subject / "MyPoseFeatures" / "D3_Positions").mkdir(parents=True)
        (root / subject / "Videos").mkdir()
        app = SUBJECT_APPEARANCE[subject].expand(FRAMES, -1)
        for name, (motion, direction) in SEQUENCES.items():
            pose = _poses(s, motion, direction)
            joints[subject, name] = pose
            write_cdf(root / subject / "MyPoseFeatures" / "D3_Positions" / f"{name}.cdf", pose)
            for k, cam in enumerate(CAMERA_IDS):
                frames = render_frame(pose, app, R[k].expand(FRAMES, 3, 3),
                                      t[k].expand(FRAMES, 3), K[k].expand(FRAMES, 3, 3),
                                      FRAME_HW, backgrounds[subject][k].expand(FRAMES, 3, -1, -1)
                                      ).image
                write_video(root / subject / "Videos" / f"{name}.{cam}.mp4", frames)
        backgrounds[subject] = backgrounds[subject].permute(0, 2, 3, 1)
    cameras_json = root / "cameras.json"
    cameras_json.write_text(json.dumps(camera_table(cameras)))
    return Release(root, cameras_json, joints, cameras, backgrounds)


__all__ = ["FRAMES", "FRAME_HW", "SEQUENCES", "SUBJECTS", "Release", "write_release"]
