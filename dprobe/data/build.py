"""The synthetic capture studio: calibrated cameras, subjects performing actions, and its build.

``build_studio(preset, out)`` renders every (subject, action, sequence, frame, camera) of a
preset into one HDF5 file whose layout is a contract (see ``dprobe.data.studio``). The named
subjects S1, S5, S6, S7, S8 (train) and S9, S11 (test) keep their roles; the ``standard``
preset adds unlabelled "crowd" subjects (C000, C001, ...) with sampled appearances and builds
for self-supervised training only.
"""
from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, replace

import h5py
import numpy as np
import torch
from torch import Tensor

from dprobe.data import appearance as A
from dprobe.data.motion import ACTION_NAMES, Style, perform
from dprobe.data.render import body_points, render_crop, render_room
from dprobe.data.studio import Studio, check_crop_size
from dprobe.data.subjects import NAMED_SUBJECTS
from dprobe.errors import DprobeError
from dprobe.files import atomic_output, check_writable
from dprobe.geometry import box_from_points, look_at, project_world, world_to_camera

FORMAT_VERSION = 1
FPS = 12.5


@dataclass(frozen=True)
class Preset:
    """How much a studio build renders."""

    sequences_per_action: int   # sequences of each named subject and action
    frames: int                 # frames per named-subject sequence
    crowd_subjects: int         # extra unlabelled subjects
    crowd_frames: int           # frames per crowd sequence (one sequence per action)
    frame_size: tuple[int, int] = (256, 256)   # (H, W)
    crop_size: int = 64


PRESETS = {
    "tiny": Preset(sequences_per_action=1, frames=6, crowd_subjects=2, crowd_frames=4),
    "standard": Preset(sequences_per_action=2, frames=48, crowd_subjects=40, crowd_frames=24),
}


@dataclass(frozen=True)
class Cameras:
    """Calibrated cameras: ``R (n, 3, 3)`` world->camera, ``t (n, 3)`` mm, ``K (n, 3, 3)`` px."""

    R: Tensor
    t: Tensor
    K: Tensor

    def __len__(self) -> int:
        return self.R.shape[0]


def studio_cameras(frame_hw: tuple[int, int], gen: torch.Generator) -> Cameras:
    """Four cameras on the room's diagonals, 4.6-5.0 m from its centre, 1.2-1.8 m high.

    The focal length (about 1.05 x the frame width) frames a person walking within 1.8 m of
    the centre; each camera has slightly different intrinsics, as calibrated real ones do.
    """
    H, W = frame_hw
    Rs, ts, Ks = [], [], []
    for i in range(4):
        azimuth = math.radians(45 + 90 * i) + 0.15 * (float(torch.rand(1, generator=gen)) - 0.5)
        dist = 4600 + 400 * float(torch.rand(1, generator=gen))
        height = 1200 + 600 * float(torch.rand(1, generator=gen))
        pos = torch.tensor([dist * math.cos(azimuth), dist * math.sin(azimuth), height])
        target = torch.tensor([0.0, 0.0, 900.0])
        R, t = look_at(pos, target)
        f = W * (1.02 + 0.06 * float(torch.rand(1, generator=gen)))
        K = torch.tensor([[f, 0, W / 2 + 3 * (i - 1.5)], [0, f * 1.002, H / 2 - 2 * (i - 1.5)],
                          [0, 0, 1]], dtype=torch.float64)
        Rs.append(R), ts.append(t), Ks.append(K)
    return Cameras(torch.stack(Rs).float(), torch.stack(ts).float(), torch.stack(Ks).float())


def person_boxes(joints: Tensor, R: Tensor, t: Tensor, K: Tensor,
                 appearance: Tensor) -> Tensor:
    """Square boxes ``(B, 3)`` px that hold the whole drawn body with a margin."""
    pts, _, _ = body_points(joints)
    uv = project_world(pts, R, t, K)
    depth = world_to_camera(joints[:, :1], R, t)[:, 0, 2]
    pad = K[:, 0, 0] * 140.0 * appearance[:, A.HEIGHT] * appearance[:, A.BUILD] / depth
    box = box_from_points(uv, margin=1.08)
    box[:, 2] = box[:, 2] + 2 * pad
    return box


@dataclass
class Sequence:
    """One performance: subject, action and its world joints ``(T, 17, 3)`` mm."""

    subject: int
    action: int
    joints: Tensor


def subject_table(preset: Preset, gen: torch.Generator) -> tuple[list[str], Tensor]:
    """Names and appearance vectors ``(S, 25)`` of the named then the crowd subjects."""
    names = list(NAMED_SUBJECTS)
    apps = [A.SUBJECT_APPEARANCE[n] for n in names]
    crowd = A.sample_appearances(preset.crowd_subjects, gen)
    names += [f"C{i:03d}" for i in range(preset.crowd_subjects)]
    return names, torch.cat((torch.stack(apps), crowd)) if preset.crowd_subjects else torch.stack(
        apps)


def subject_style(gen: torch.Generator) -> Style:
    """A subject's way of moving: tempo, amplitude, noise level and phase."""
    r = torch.rand(4, generator=gen)
    return Style(tempo=0.8 + 0.4 * float(r[0]), amplitude=0.8 + 0.35 * float(r[1]),
                 noise=0.04 + 0.05 * float(r[2]), phase=2 * math.pi * float(r[3]))


def make_sequences(names: list[str], apps: Tensor, preset: Preset,
                   gen: torch.Generator) -> list[Sequence]:
    """Every sequence of the preset: per subject, per action, per repetition."""
    seqs = []
    for s, name in enumerate(names):
        crowd = name.startswith("C")
        shape = A.body_shape(apps[s])
        style = subject_style(gen)
        reps = 1 if crowd else preset.sequences_per_action
        n_frames = preset.crowd_frames if crowd else preset.frames
        for a, action in enumerate(ACTION_NAMES):
            for _ in range(reps):
                start = 20.0 * float(torch.rand(1, generator=gen))
                times = start + torch.arange(n_frames, dtype=torch.float64) / FPS
                jitter = Style(tempo=style.tempo * (0.93 + 0.14 * float(torch.rand(1, generator=gen))),
                               amplitude=style.amplitude, noise=style.noise,
                               phase=style.phase + float(torch.rand(1, generator=gen)))
                seqs.append(Sequence(s, a, perform(action, shape, jitter, times, gen).float()))
    return seqs


def build_studio(preset_name: str, out: str | os.PathLike, seed: int = 0, force: bool = False,
                 chunk: int = 96, progress: bool = True, crop_size: int | None = None) -> dict:
    """Render a studio preset into ``out`` (HDF5); returns build statistics.

    ``crop_size`` (px, default the preset's 64) is the size of the stored crops; everything
    else (subjects, poses, cameras, boxes) depends only on the preset and ``seed``.

    The file is written to a temporary name and moved into place only when complete, so an
    existing file is never left half-written; without ``force`` an existing ``out`` is refused.
    """
    if preset_name not in PRESETS:
        raise DprobeError(f"unknown studio preset {preset_name!r}; choose one of "
                          f"{', '.join(PRESETS)}")
    out = check_writable(out, force)
    preset = PRESETS[preset_name]
    if crop_size is not None:
        preset = replace(preset, crop_size=check_crop_size(crop_size))
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    cams = studio_cameras(preset.frame_size, gen)
    backgrounds = torch.stack([render_room(cams.R[c], cams.t[c], cams.K[c], preset.frame_size, gen)
                               for c in range(len(cams))])
    names, apps = subject_table(preset, gen)
    seqs = make_sequences(names, apps, preset, gen)

    # One row per (sequence, camera, frame).
    rows_seq, rows_cam, rows_frame = [], [], []
    for q, seq in enumerate(seqs):
        T = seq.joints.shape[0]
        for c in range(len(cams)):
            rows_seq += [q] * T
            rows_cam += [c] * T
            rows_frame += list(range(T))
    seq_idx = torch.tensor(rows_seq)
    cam_idx = torch.tensor(rows_cam)
    frame_idx = torch.tensor(rows_frame)
    all_joints = torch.cat([s.joints for s in seqs])          # (sum T, 17, 3)
    offsets = torch.tensor([0] + [s.joints.shape[0] for s in seqs]).cumsum(0)
    joints_w = all_joints[offsets[seq_idx] + frame_idx]
    subj = torch.tensor([seqs[q].subject for q in rows_seq])
    action = torch.tensor([seqs[q].action for q in rows_seq])
    app = apps[subj]
    R, t, K = cams.R[cam_idx], cams.t[cam_idx], cams.K[cam_idx]
    joints_c = world_to_camera(joints_w, R, t)
    joints_2d = project_world(joints_w, R, t, K)
    boxes = person_boxes(joints_w, R, t, K, app)

    N, c = len(rows_seq), preset.crop_size
    bg_frames = backgrounds  # (n_cam, 3, H, W)
    with atomic_output(out) as tmp, h5py.File(tmp, "w") as f:
        comp = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
        crops = f.create_dataset("crops", (N, c, c, 3), np.uint8, chunks=(64, c, c, 3), **comp)
        masks = f.create_dataset("masks", (N, c, c), np.uint8, chunks=(64, c, c), **comp)
        started = time.perf_counter()
        steps = range(0, N, chunk)
        if progress:
            from tqdm import tqdm
            steps = tqdm(steps, desc=f"rendering {N} crops", unit="batch")
        for lo in steps:
            hi = min(lo + chunk, N)
            r = render_crop(joints_w[lo:hi], app[lo:hi], R[lo:hi], t[lo:hi], K[lo:hi],
                            boxes[lo:hi], c, bg_frames[cam_idx[lo:hi]])
            crops[lo:hi] = to_uint8(r.image.permute(0, 2, 3, 1))
            masks[lo:hi] = to_uint8(r.mask[:, 0])
        render_seconds = time.perf_counter() - started
        small = {"compression": "gzip", "compression_opts": 4}
        f.create_dataset("boxes", data=boxes.numpy().astype(np.float32), **small)
        f.create_dataset("joints2d", data=joints_2d.numpy().astype(np.float32), **small)
        f.create_dataset("joints3d_world", data=joints_w.numpy().astype(np.float32), **small)
        f.create_dataset("joints3d_cam", data=joints_c.numpy().astype(np.float32), **small)
        for key, val in (("camera", cam_idx), ("subject", subj), ("action", action),
                         ("sequence", seq_idx), ("frame", frame_idx)):
            f.create_dataset(key, data=val.numpy().astype(np.int32), **small)
        f.create_dataset("appearance", data=app.numpy().astype(np.float32), **small)
        f.create_dataset("backgrounds", data=to_uint8(bg_frames.permute(0, 2, 3, 1)), **small)
        f.create_dataset("cameras/R", data=cams.R.numpy())
        f.create_dataset("cameras/t", data=cams.t.numpy())
        f.create_dataset("cameras/K", data=cams.K.numpy())
        f.attrs["subject_names"] = np.array(names, dtype=h5py.string_dtype())
        f.attrs["action_names"] = np.array(ACTION_NAMES, dtype=h5py.string_dtype())
        f.attrs["fps"] = FPS
        f.attrs["frame_size"] = np.array(preset.frame_size, dtype=np.int32)
        f.attrs["crop_size"] = c
        f.attrs["preset"] = preset_name
        f.attrs["seed"] = seed
        f.attrs["version"] = FORMAT_VERSION
    total = time.perf_counter() - t0
    return {"crops": N, "seconds": total, "render_seconds": render_seconds,
            "crops_per_second": N / render_seconds, "bytes": out.stat().st_size,
            "subjects": len(names), "sequences": len(seqs)}


def to_uint8(x: Tensor) -> np.ndarray:
    """Images in [0, 1] as rounded uint8 numpy arrays."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def open_or_build_tiny(path: str | os.PathLike | None) -> Studio:
    """The studio at ``path`` opened in memory, or, for None, the ``tiny`` preset (seed 0) built
    into a temporary folder and opened (the file is deleted once read)."""
    if path is not None:
        return Studio.open(path)
    with tempfile.TemporaryDirectory() as tmp:
        built = os.path.join(tmp, "tiny.h5")
        build_studio("tiny", built, seed=0, progress=False)
        return Studio.open(built)


__all__ = [
    "FORMAT_VERSION",
    "FPS",
    "PRESETS",
    "Cameras",
    "Preset",
    "Studio",
    "build_studio",
    "open_or_build_tiny",
    "person_boxes",
    "studio_cameras",
]
