"""Human3.6M's raw release converted into a studio HDF5 file (``dprobe data h36m-prepare``).

Input layout (the release as downloaded, one folder per subject):

- ``S<n>/MyPoseFeatures/D3_Positions/<sequence>.cdf``: variable ``Pose``, ``(1, T, 96)``: 32
  joints x 3, world mm, 50 Hz;
- ``S<n>/Videos/<sequence>.<camera id>.mp4``: the same sequence seen by the four cameras
  (``h36m_cameras.CAMERA_IDS``), about 1000 x 1000 px, 50 Hz.

Output: the studio contract (``dprobe.data.studio``), with these choices:

- joints: the 17 protocol joints of the 32 (``h36m_cameras.JOINTS_17_OF_32``), world and camera
  frame (mm), projected through the published pinhole calibration (px; lens distortion ignored);
- frames: every ``every``-th frame (default ``EVERY`` = 5: 10 Hz); ``frame`` counts the kept
  frames of a sequence, ``source_frame`` is the 50 Hz frame number in the video and CDF;
  frames beyond the shortest of the CDF and the four videos are dropped;
- boxes: square, centred on the extent of the projected joints, ``BOX_MARGIN`` times its larger
  side; crops at ``crop_size`` px sampled bilinearly from the decoded frame (the sampling
  ``Studio`` uses for its background crops, so the two match pixel for pixel);
- cameras: one calibration per (subject, camera), since the release calibrates each subject's
  session: camera index ``4 * subject index + k`` for the k-th camera id (attribute
  ``camera_names``, e.g. ``S1/54138969``); backgrounds likewise per (subject, camera): the
  per-pixel median of ``BACKGROUND_SAMPLES`` frames of each sequence, then the per-pixel median
  of those over the subject's sequences. Frames of different sizes (1000 x 1000 and 1002 x 1000)
  share the largest size, the smaller padded with black at the bottom and right;
- masks: an estimate, not a segmentation: the pixels whose colour differs from the background
  crop by more than ``MASK_THRESHOLD`` (sum of RGB differences, 0-255 scale);
- ``appearance`` has width 0: no renderer knows these people, so crops at other sizes are
  resampled from the stored ones (``Studio.renderable`` is false).

Videos are decoded as a stream (PyAV), one frame held at a time beside a few background samples.
Each finished sequence is kept in a work folder beside the output (``<out>.work``), reused when
the command is run again with the same settings, and removed once the output is written
(atomically, ``dprobe.files``).
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from dprobe.data.build import FORMAT_VERSION
from dprobe.data.h36m import MASK_THRESHOLD
from dprobe.data.h36m_cameras import (
    CAMERA_IDS,
    JOINTS_17_OF_32,
    CameraTable,
    load_camera_table,
    subject_cameras,
)
from dprobe.data.studio import check_crop_size
from dprobe.errors import DprobeError
from dprobe.files import atomic_output, check_writable
from dprobe.geometry import box_from_points, box_to_theta, crop_at, project, world_to_camera

__all__ = ["BACKGROUND_SAMPLES", "BOX_MARGIN", "EVERY", "SOURCE_FPS", "RawSequence",
           "find_sequences", "prepare_h36m", "read_pose"]

#: Frame rate of the release's videos and poses, Hz.
SOURCE_FPS = 50.0
#: Default subsampling: every 5th frame, 10 Hz.
EVERY = 5
#: Box side / larger extent of the projected 17 joints (room for hands, feet and the skull).
BOX_MARGIN = 1.3
#: Frames per sequence and camera whose per-pixel median estimates the background.
BACKGROUND_SAMPLES = 16

_MASK_NOTE = (f"estimated: pixels differing from the background crop by more than "
              f"{MASK_THRESHOLD} (sum of RGB differences, 0-255)")
_BACKGROUND_NOTE = (f"per (subject, camera): per-pixel median over the subject's sequences of "
                    f"each sequence's per-pixel median of {BACKGROUND_SAMPLES} evenly spaced "
                    f"frames")


@dataclass(frozen=True)
class RawSequence:
    """One recorded sequence: its pose file and its four videos (``CAMERA_IDS`` order)."""

    subject: str
    name: str                    # the file stem, e.g. "Directions 1"
    pose: Path
    videos: tuple[Path, ...]

    @property
    def action(self) -> str:
        """The action, the name without its repetition number ("Directions 1" -> "Directions")."""
        return re.sub(r"\s*\d+$", "", self.name) or self.name


def _subject_key(name: str) -> int:
    return int(name[1:]) if name[1:].isdigit() else 10**6


def find_sequences(raw_dir: str | Path, subjects: list[str] | None = None) -> list[RawSequence]:
    """The sequences of ``subjects`` (default: every ``S<n>`` folder) under ``raw_dir``.

    Refuses a missing subject, a subject without pose files, and a sequence without exactly
    one video per camera of ``CAMERA_IDS``.
    """
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise DprobeError(f"{raw} is not a folder (expected the Human3.6M release: S1/, S5/, ...)")
    if subjects is None:
        subjects = sorted((p.name for p in raw.iterdir() if re.fullmatch(r"S\d+", p.name)),
                          key=_subject_key)
        if not subjects:
            raise DprobeError(f"{raw} holds no subject folder (S1, S5, ...)")
    seqs = []
    for subject in dict.fromkeys(subjects):
        poses = raw / subject / "MyPoseFeatures" / "D3_Positions"
        videos = raw / subject / "Videos"
        if not (raw / subject).is_dir():
            raise DprobeError(f"subject {subject} is missing: no folder {raw / subject}")
        cdfs = sorted(p for p in poses.glob("*.cdf") if not p.name.startswith("_"))
        if not cdfs:
            raise DprobeError(f"subject {subject} has no pose files {poses}/*.cdf")
        by_name: dict[str, dict[str, Path]] = {}
        for v in videos.glob("*.mp4"):
            stem, _, cam = v.stem.rpartition(".")
            by_name.setdefault(stem, {})[cam] = v
        for cdf in cdfs:
            found = by_name.get(cdf.stem, {})
            if sorted(found) != sorted(CAMERA_IDS):
                raise DprobeError(
                    f"{subject} {cdf.stem!r}: {len(found)} camera videos "
                    f"({', '.join(sorted(found)) or 'none'}) in {videos}; Human3.6M has 4 "
                    f"({', '.join(CAMERA_IDS)})")
            seqs.append(RawSequence(subject, cdf.stem, cdf,
                                    tuple(found[c] for c in CAMERA_IDS)))
    return seqs


def read_pose(path: Path) -> np.ndarray:
    """The 17 protocol joints ``(T, 17, 3)`` float32, world mm, of one ``D3_Positions`` CDF."""
    import cdflib

    try:
        pose = np.asarray(cdflib.CDF(str(path)).varget("Pose"), dtype=np.float32)
    except Exception as e:  # cdflib raises OSError, ValueError, KeyError... on a damaged file
        raise DprobeError(f"cannot read {path} as a Human3.6M pose CDF (corrupt?): {e}") from None
    if pose.size == 0 or pose.size % 96:
        raise DprobeError(f"{path}: 'Pose' has {pose.size} values, not T x 96 (32 joints x 3)")
    return pose.reshape(-1, 32, 3)[:, list(JOINTS_17_OF_32)]


def _open_video(path: Path):
    import av

    try:
        container = av.open(str(path))
        stream = container.streams.video[0]
    except (av.error.FFmpegError, OSError, IndexError) as e:
        raise DprobeError(f"cannot read video {path} (corrupt?): {e}") from None
    stream.thread_type = "AUTO"
    return container, stream


def video_size(path: Path) -> tuple[int, int]:
    """``(H, W)`` px of a video (its header only)."""
    container, stream = _open_video(path)
    with container:
        return int(stream.codec_context.height), int(stream.codec_context.width)


def _frames(path: Path, wanted: set[int]) -> Iterator[tuple[int, np.ndarray | None]]:
    """The video's frames, decoded one at a time: ``(index, (H, W, 3) uint8 RGB)`` for the
    indices in ``wanted``, ``(index, None)`` for the others (decoded, never converted)."""
    import av

    container, stream = _open_video(path)
    with container:
        try:
            for i, frame in enumerate(container.decode(stream)):
                yield i, frame.to_ndarray(format="rgb24") if i in wanted else None
        except av.error.FFmpegError as e:
            raise DprobeError(f"cannot decode video {path} (corrupt?): {e}") from None


def _prepare_sequence(seq: RawSequence, cams: tuple, every: int, crop_size: int,
                      tick) -> dict[str, np.ndarray]:
    """One sequence's rows for its four cameras: labels, crops and its background estimate."""
    pose = torch.from_numpy(read_pose(seq.pose))               # (T, 17, 3) world mm
    T = pose.shape[0]
    R, t, K = cams
    samples = set(np.linspace(0, T - 1, BACKGROUND_SAMPLES).round().astype(int).tolist())
    kept = list(range(0, T, every))
    crops, backgrounds, lengths, boxes = [], [], [], []
    for k in range(len(CAMERA_IDS)):
        joints2d = project(world_to_camera(pose[kept], R[k], t[k]), K[k])
        box = box_from_points(joints2d, margin=BOX_MARGIN)
        wanted = dict(zip(kept, range(len(kept))))
        out = np.zeros((len(kept), crop_size, crop_size, 3), np.uint8)
        sampled, n = [], 0
        for i, frame in _frames(seq.videos[k], samples | set(kept)):
            if i >= T:
                break
            n = i + 1
            if i in samples:
                sampled.append(frame)
            if i in wanted:
                image = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
                row = wanted[i]
                theta = box_to_theta(box[row:row + 1], frame.shape[:2])
                crop = crop_at(image, theta, crop_size)[0].permute(1, 2, 0)
                out[row] = (crop.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
            tick(1)
        if not sampled:
            raise DprobeError(f"video {seq.videos[k]} has no frames")
        crops.append(out)
        boxes.append(box.numpy())
        lengths.append(n)
        backgrounds.append(np.median(np.stack(sampled), axis=0).round().astype(np.uint8))
    F = len([i for i in kept if i < min(lengths)])              # instants every view has
    return {"source_frame": np.array(kept[:F], np.int32), "joints": pose[kept[:F]].numpy(),
            "boxes": np.stack(boxes)[:, :F].astype(np.float32),
            "crops": np.stack(crops)[:, :F],
            **{f"background{k}": b for k, b in enumerate(backgrounds)}}


def _settings(seq: RawSequence, cams: tuple, every: int, crop_size: int) -> str:
    """What a sequence's partial result depends on, as a digest."""
    h = hashlib.sha256(json.dumps([seq.subject, seq.name, every, crop_size,
                                   BOX_MARGIN, BACKGROUND_SAMPLES]).encode())
    for a in cams:
        h.update(a.numpy().tobytes())
    for p in (seq.pose, *seq.videos):
        st = p.stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _load_part(path: Path, settings: str) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        with np.load(path) as part:
            if str(part["settings"]) != settings:
                return None
            return {k: part[k] for k in part.files if k != "settings"}
    except (OSError, ValueError, KeyError):
        return None     # a damaged partial result is made again


def _save_part(path: Path, part: dict[str, np.ndarray], settings: str) -> None:
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, settings=np.array(settings), **part)


def prepare_h36m(raw_dir: str | Path, out: str | Path, subjects: list[str] | None = None,
                 every: int = EVERY, crop_size: int = 64, cameras: str | Path | None = None,
                 force: bool = False, progress: bool = True) -> dict:
    """Convert the raw release under ``raw_dir`` into the studio file ``out`` (module doc).

    ``cameras`` is a camera-parameters JSON file (``h36m_cameras.load_camera_table``), default
    the published calibration. Returns statistics: rows, sequences, seconds, bytes, reused
    partial results.
    """
    out = check_writable(out, force)
    check_crop_size(crop_size)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise DprobeError(f"--every must be a whole number >= 1, got {every!r}")
    table: CameraTable = load_camera_table(cameras)
    t0 = time.perf_counter()
    seqs = find_sequences(raw_dir, subjects)
    names = list(dict.fromkeys(s.subject for s in seqs))
    cams = {s: subject_cameras(table, s) for s in names}
    lengths = [read_pose(s.pose).shape[0] for s in seqs]        # checks every CDF first
    sizes = [[video_size(v) for v in s.videos] for s in seqs]   # and every video's header
    frame_hw = tuple(int(max(hw[i] for row in sizes for hw in row)) for i in (0, 1))

    work = out.with_name(out.name + ".work")
    work.mkdir(exist_ok=True)
    from tqdm import tqdm

    bar = tqdm(total=4 * sum(lengths), desc="decoding Human3.6M", unit="frame",
               disable=not progress)
    parts, reused = [], 0
    with bar:
        for seq, T in zip(seqs, lengths):
            path = work / f"{seq.subject}_{seq.name}.npz"
            settings = _settings(seq, cams[seq.subject], every, crop_size)
            part = _load_part(path, settings)
            if part is None:
                part = _prepare_sequence(seq, cams[seq.subject], every, crop_size, bar.update)
                _save_part(path, part, settings)
            else:
                reused += 1
                bar.update(4 * T)
            parts.append((path, len(part["source_frame"])))
    stats = _write(out, seqs, parts, names, cams, frame_hw, every, crop_size,
                   "published (h36m_cameras)" if cameras is None else str(cameras))
    shutil.rmtree(work, ignore_errors=True)
    return {**stats, "sequences": len(seqs), "reused": reused,
            "seconds": time.perf_counter() - t0, "bytes": out.stat().st_size}


def _median_backgrounds(parts: list, part_subjects: list[str], names: list[str],
                        frame_hw: tuple[int, int]) -> np.ndarray:
    """``(4 * subjects, H, W, 3) uint8``: per (subject, camera), the per-pixel median of its
    sequences' backgrounds, padded with black to ``frame_hw``."""
    H, W = frame_hw
    out = np.zeros((4 * len(names), H, W, 3), np.uint8)
    for s, name in enumerate(names):
        paths = [p for (p, _), subj in zip(parts, part_subjects) if subj == name]
        for k in range(len(CAMERA_IDS)):
            stack = []
            for p in paths:
                with np.load(p) as part:
                    stack.append(part[f"background{k}"])
            bg = np.median(np.stack(stack), axis=0).round().astype(np.uint8)
            out[4 * s + k, :bg.shape[0], :bg.shape[1]] = bg
    return out


def _write(out: Path, seqs: list[RawSequence], parts: list, names: list[str], cams: dict,
           frame_hw: tuple[int, int], every: int, crop_size: int, calibration: str) -> dict:
    """Assemble the partial results into the studio file ``out`` (atomically)."""
    actions = sorted({s.action for s in seqs})
    backgrounds = _median_backgrounds(parts, [s.subject for s in seqs], names, frame_hw)
    N = 4 * sum(n for _, n in parts)
    c = crop_size
    R = torch.cat([cams[s][0] for s in names])
    t = torch.cat([cams[s][1] for s in names])
    K = torch.cat([cams[s][2] for s in names])
    with atomic_output(out) as tmp, h5py.File(tmp, "w") as f:
        comp = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
        small = {"compression": "gzip", "compression_opts": 4}
        chunk = max(1, min(64, N))
        sets = {
            "crops": f.create_dataset("crops", (N, c, c, 3), np.uint8, chunks=(chunk, c, c, 3),
                                      **comp),
            "masks": f.create_dataset("masks", (N, c, c), np.uint8, chunks=(chunk, c, c), **comp),
            **{k: f.create_dataset(k, (N, *shape), np.float32, **small) for k, shape in (
                ("boxes", (3,)), ("joints2d", (17, 2)), ("joints3d_world", (17, 3)),
                ("joints3d_cam", (17, 3)))},
            **{k: f.create_dataset(k, (N,), np.int32, **small) for k in (
                "camera", "subject", "action", "sequence", "frame", "source_frame")},
        }
        f.create_dataset("appearance", (N, 0), np.float32)
        lo = 0
        for q, (seq, (path, n)) in enumerate(zip(seqs, parts)):
            with np.load(path) as part:
                p = {k: part[k] for k in part.files}
            s = names.index(seq.subject)
            joints = torch.from_numpy(p["joints"])
            for k in range(len(CAMERA_IDS)):
                cam = 4 * s + k
                hi = lo + n
                box = torch.from_numpy(p["boxes"][k])
                jc = world_to_camera(joints, R[cam], t[cam])
                crops = p["crops"][k]
                sets["crops"][lo:hi] = crops
                sets["masks"][lo:hi] = _estimate_masks(crops, backgrounds[cam], box, frame_hw)
                sets["boxes"][lo:hi] = box.numpy()
                sets["joints2d"][lo:hi] = project(jc, K[cam]).numpy()
                sets["joints3d_world"][lo:hi] = joints.numpy()
                sets["joints3d_cam"][lo:hi] = jc.numpy()
                for key, value in (("camera", cam), ("subject", s),
                                   ("action", actions.index(seq.action)), ("sequence", q)):
                    sets[key][lo:hi] = value
                sets["frame"][lo:hi] = np.arange(n)
                sets["source_frame"][lo:hi] = p["source_frame"]
                lo = hi
        f.create_dataset("backgrounds", data=backgrounds, **small)
        f.create_dataset("cameras/R", data=R.numpy())
        f.create_dataset("cameras/t", data=t.numpy())
        f.create_dataset("cameras/K", data=K.numpy())
        text = h5py.string_dtype()
        f.attrs["subject_names"] = np.array(names, dtype=text)
        f.attrs["action_names"] = np.array(actions, dtype=text)
        f.attrs["sequence_names"] = np.array([f"{s.subject}/{s.name}" for s in seqs], dtype=text)
        f.attrs["camera_names"] = np.array([f"{s}/{c_}" for s in names for c_ in CAMERA_IDS],
                                           dtype=text)
        f.attrs["fps"] = SOURCE_FPS / every
        f.attrs["every"] = every
        f.attrs["frame_size"] = np.array(frame_hw, dtype=np.int32)
        f.attrs["crop_size"] = c
        f.attrs["preset"] = "h36m"
        f.attrs["version"] = FORMAT_VERSION
        f.attrs["source"] = "Human3.6M raw release (dprobe data h36m-prepare)"
        f.attrs["calibration"] = calibration
        f.attrs["box_margin"] = BOX_MARGIN
        f.attrs["masks"] = _MASK_NOTE
        f.attrs["backgrounds"] = _BACKGROUND_NOTE
    return {"rows": N, "frame_size": frame_hw}


def _estimate_masks(crops: np.ndarray, background: np.ndarray, boxes: torch.Tensor,
                    frame_hw: tuple[int, int]) -> np.ndarray:
    """``(n, c, c) uint8`` 0 or 255: crop pixels whose colour differs from the background crop
    (sampled as ``Studio`` samples it) by more than ``MASK_THRESHOLD``."""
    c = crops.shape[1]
    bg = torch.from_numpy(background).permute(2, 0, 1)[None].float() / 255
    bg_crops = crop_at(bg, box_to_theta(boxes, frame_hw), c)
    bg_crops = (bg_crops.clamp(0, 1) * 255).round().permute(0, 2, 3, 1)
    diff = (torch.from_numpy(crops).float() - bg_crops).abs().sum(-1)
    return ((diff > MASK_THRESHOLD).to(torch.uint8) * 255).numpy()
