"""``dprobe data h36m-prepare`` on a tiny raw-layout release rendered from known poses and
cameras (tests/data/h36m_fixture.py): what it recovers against the truth, and its refusals."""
import math
import shutil

import h5py
import numpy as np
import pytest
import torch

from dprobe.cli import main
from dprobe.data import h36m_raw
from dprobe.data.appearance import SUBJECT_APPEARANCE
from dprobe.data.h36m_cameras import CAMERA_IDS, PUBLISHED, subject_cameras
from dprobe.data.h36m_raw import BOX_MARGIN, prepare_h36m
from dprobe.data.render import render_frame
from dprobe.data.studio import Studio
from dprobe.errors import DprobeError
from dprobe.geometry import box_from_points, box_to_theta, crop_at, project_world
from tests.data.h36m_fixture import FRAMES, SEQUENCES, SUBJECTS, write_release

EVERY = 5


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_release(tmp_path_factory.mktemp("h36m") / "raw")


@pytest.fixture(scope="module")
def prepared(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "h36m.h5"
    stats = prepare_h36m(release.root, out, every=EVERY, cameras=release.cameras_json,
                         progress=False)
    return out, stats


def test_layout_and_labels_match_the_truth(release, prepared):
    out, stats = prepared
    s = Studio.open(out)
    per_view = math.ceil(FRAMES / EVERY)
    assert s.n == stats["rows"] == len(SUBJECTS) * len(SEQUENCES) * 4 * per_view
    assert s.subject_names == list(SUBJECTS) and s.fps == 50 / EVERY
    assert s.action_names == sorted({n.rstrip(" 0123456789") for n in SEQUENCES})
    assert not s.renderable and s.appearance.shape == (s.n, 0)
    assert s.cameras["R"].shape == (4 * len(SUBJECTS), 3, 3)
    with h5py.File(out) as f:
        assert "estimated" in f.attrs["masks"]
        source_frame = torch.from_numpy(f["source_frame"][()]).long()
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["sequence_names"]]
    for row in range(s.n):
        subject = s.subject_names[int(s.subject[row])]
        seq = names[int(s.sequence[row])].split("/", 1)[1]
        assert int(source_frame[row]) == EVERY * int(s.frame[row])
        truth = release.joints[subject, seq][source_frame[row]]
        torch.testing.assert_close(s.joints3d_world[row], truth, atol=0.01, rtol=0)
        k = int(s.camera[row]) % 4
        R, t, K = (a[k] for a in release.cameras[subject])
        uv = project_world(truth[None], R[None], t[None], K[None])
        torch.testing.assert_close(s.joints2d[row], uv[0], atol=0.01, rtol=0)
        torch.testing.assert_close(s.boxes[row], box_from_points(uv, BOX_MARGIN)[0],
                                   atol=0.01, rtol=0)
        torch.testing.assert_close(s.joints3d_cam[row], truth @ R.T + t, atol=0.05, rtol=0)


def test_backgrounds_crops_and_masks_are_close_to_the_truth(release, prepared):
    """Video compression (H.264, 4:2:0) makes pixels approximate: mean errors are bounded."""
    out, _ = prepared
    s = Studio.open(out)
    for i, subject in enumerate(SUBJECTS):
        truth = release.backgrounds[subject] * 255
        got = s.backgrounds[4 * i: 4 * i + 4].float()
        error = (got - truth).abs()
        assert float(error.mean()) < 4, "background: mean error over 4 / 255"
        assert float((error.amax(-1) > 40).float().mean()) < 0.01
    # crops: the person where the truth renders it (the mask estimate covers the drawn body)
    crops, bg = s.image(slice(None)), s.background(slice(None))
    assert float((crops - bg).abs().sum(1).gt(40 / 255).float().mean()) > 0.05
    masks = s.mask(slice(None))
    person = (crops - bg).abs().sum(1, keepdim=True) > 80 / 255
    assert float(masks[person].mean()) > 0.95
    # the estimated masks against the rendered silhouettes: mean IoU 0.76 measured
    cams = s.camera % 4
    R, t, K = (torch.stack([release.cameras[n][i] for n in s.subject_names])[s.subject, cams]
               for i in range(3))
    apps = torch.stack([SUBJECT_APPEARANCE[n] for n in s.subject_names])[s.subject]
    alpha = render_frame(s.joints3d_world, apps, R, t, K, s.frame_hw).mask
    silhouette = crop_at(alpha, box_to_theta(s.boxes, s.frame_hw), s.crop_size) > 0.5
    estimate = masks > 0.5
    iou = (estimate & silhouette).sum((1, 2, 3)) / (estimate | silhouette).sum((1, 2, 3))
    assert float(iou.mean()) > 0.65 and float(iou.min()) > 0.4
    # the stored crops are the frames' crops at the boxes: compare with the fixture's frames
    theta = box_to_theta(s.boxes, s.frame_hw)
    bg_truth = torch.stack([release.backgrounds[s.subject_names[int(s.subject[r])]][
        int(s.camera[r]) % 4] for r in range(s.n)]).permute(0, 3, 1, 2)
    expected_bg = crop_at(bg_truth, theta, s.crop_size)
    outside = masks == 0
    assert float((bg - expected_bg).abs().mean()) < 6 / 255
    assert float((crops - expected_bg).abs()[outside.expand_as(crops)].mean()) < 8 / 255


def test_a_rerun_reuses_the_finished_sequences(release, tmp_path, monkeypatch):
    out = tmp_path / "h36m.h5"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(h36m_raw, "_write", interrupted)
        with pytest.raises(KeyboardInterrupt):
            prepare_h36m(release.root, out, every=EVERY, cameras=release.cameras_json,
                         subjects=["S1"], progress=False)
    assert not out.exists() and len(list((tmp_path / "h36m.h5.work").iterdir())) == 2
    stats = prepare_h36m(release.root, out, every=EVERY, cameras=release.cameras_json,
                         subjects=["S1"], progress=False)
    assert stats["reused"] == 2 and Studio.open(out).subject_names == ["S1"]
    assert not (tmp_path / "h36m.h5.work").exists()


def _copy(release, tmp_path):
    root = tmp_path / "raw"
    shutil.copytree(release.root, root)
    return root


@pytest.mark.parametrize("damage, message", [
    ("missing subject", "subject S9 is missing"),
    ("corrupt cdf", "cannot read"),
    ("corrupt video", "cannot read video"),
    ("three cameras", "3 camera videos"),
])
def test_refusals_are_one_line_and_leave_nothing(release, tmp_path, damage, message):
    root = _copy(release, tmp_path)
    subjects = ["S1", "S9"] if damage == "missing subject" else None
    if damage == "corrupt cdf":
        (root / "S5" / "MyPoseFeatures" / "D3_Positions" / "Waiting.cdf").write_bytes(b"x" * 64)
    elif damage == "corrupt video":
        (root / "S1" / "Videos" / f"Waiting.{CAMERA_IDS[2]}.mp4").write_bytes(b"x" * 64)
    elif damage == "three cameras":
        (root / "S1" / "Videos" / f"Waiting.{CAMERA_IDS[0]}.mp4").unlink()
    out = tmp_path / "h36m.h5"
    with pytest.raises(DprobeError, match=message) as e:
        prepare_h36m(root, out, subjects=subjects, cameras=release.cameras_json, progress=False)
    assert "\n" not in str(e.value)
    assert not out.exists() and not (tmp_path / "h36m.h5.work").exists()


def test_the_command_line(release, tmp_path, capsys):
    out = tmp_path / "h36m.h5"
    args = ["data", "h36m-prepare", str(release.root), "--out", str(out), "--every", "8",
            "--crop-size", "32", "--subjects", "S5", "--cameras", str(release.cameras_json),
            "--quiet"]
    assert main(args) == 0
    s = Studio.open(out)
    assert s.crop_size == 32 and s.subject_names == ["S5"] and s.fps == 50 / 8
    assert "wrote" in capsys.readouterr().out
    assert main(args) == 2                                   # exists, no --force
    assert "--force" in capsys.readouterr().err
    assert main([*args[:3], "--out", str(tmp_path / "x.h5"), "--subjects", "S2"]) == 2
    assert "subject S2 is missing" in capsys.readouterr().err


@pytest.mark.parametrize("subject", list(PUBLISHED["extrinsics"]))
def test_published_cameras_are_plausible(subject):
    """The constants cannot be checked against data here, only for plausibility: every camera
    stands around the room, 1.4-1.7 m high, upright, looking at the room's centre."""
    R, t, K = subject_cameras(PUBLISHED, subject)
    position = -torch.einsum("nji,nj->ni", R, t)
    centre = torch.tensor([0.0, 0.0, 1000.0])
    to_centre = (centre - position) / (centre - position).norm(dim=1, keepdim=True)
    assert bool(((position - centre).norm(dim=1) - 5000).abs().lt(1000).all())
    assert bool(position[:, 2].gt(1400).all() and position[:, 2].lt(1700).all())
    assert bool((R[:, 2] * to_centre).sum(1).gt(math.cos(math.radians(15))).all())
    assert bool(R[:, 1, 2].lt(-0.9).all())                # image "down" points down the world
    uv = project_world(centre.expand(4, 1, 3), R, t, K)[:, 0]
    assert bool(((uv - 500).abs() < 200).all())           # in the central 60 % of the frame
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(4, 3, 3), atol=1e-5)
    azimuths = torch.atan2(position[:, 1], position[:, 0])
    assert len({int(a // (math.pi / 2)) for a in azimuths.tolist()}) == 4   # one per quadrant
    assert np.isfinite(K.numpy()).all()


def test_a_prepared_capture_runs_what_needs_no_renderer(tiny, capsys, tmp_path):
    """On a capture without a renderer (appearance width 0, as h36m-prepare writes it): the
    embedding probe runs with its appearance regressions undefined, the channel probe through
    nearest-pose pairs; the probes and the generator that need counterfactual renders are
    refused in one line."""
    import dataclasses

    from dprobe.errors import DprobeError
    from dprobe.probes.base import UNDEFINED, ProbeSettings
    from dprobe.probes.counterfactual import Scene
    from dprobe.probes.generator_registry import make_generator
    from dprobe.probes.registry import run_probe
    from dprobe.report.probe_figures import write_probe_figures
    from dprobe.sources import load_model

    real = dataclasses.replace(tiny, appearance=torch.zeros(tiny.n, 0), _sized={})
    model = load_model("nsd")
    settings = ProbeSettings(per_camera=1, embed_per_camera=2)
    embed = run_probe("embed", model, Scene(real), settings).checked_numbers()
    assert embed["r2_from_h_p"]["shirt"] is None and "real capture" in embed[UNDEFINED]["r2_from_h_p"]
    assert embed["subject_from_h_p"]["accuracy"] is not None
    for name in ("swap", "zero"):
        with pytest.raises(DprobeError, match=f"probe {name} needs counterfactual renders"):
            run_probe(name, model, Scene(real), settings)
    # the channels probe pairs frames by nearest pose and scores the K-sweep by the regressor
    channels = run_probe("channels", model, Scene(real), settings)
    found = channels.checked_numbers()
    assert found["settings"]["pairing"] == "nearest pose"
    assert found["settings"]["pair_distance_mm"] > 0
    assert found["curves"]["lowest_pose_b_regressor"] is not None
    assert found["flips"]["highest_first_appearance_flip_k"] is None
    assert "no renderer" in found[UNDEFINED]["flips.highest_first_appearance_flip_k"]
    assert abs(float(channels.probability.sum()) - 1) < 1e-5
    write_probe_figures("channels", channels, tmp_path, "nsd")  # draws without the projection
    with pytest.raises(DprobeError, match="renderer generator needs the synthetic studio"):
        make_generator("renderer", model, real, load_model)
