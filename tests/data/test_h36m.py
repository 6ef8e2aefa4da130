"""Human3.6M in Rhodin et al.'s layout, on a small file written here in that layout."""
import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from dprobe.data.datasets import LabelledFrames, MultiViewPairs, TemporalPairs
from dprobe.data.h36m import image_path, load_h36m
from dprobe.errors import DprobeError


def _write_layout(root, tiny, rows, absolute=True):
    """Write `rows` of the tiny studio as preprocessed H36M: labels.h5 + PNG crops."""
    c = tiny.crop_size
    box = tiny.boxes[rows]
    xyxy = torch.cat((box[:, :2] - box[:, 2:] / 2, box[:, :2] + box[:, 2:] / 2), 1)
    # crop intrinsics: the full-frame K mapped into the crop's pixel grid
    K = tiny.cameras["K"][tiny.camera[rows]].clone()
    scale = c / box[:, 2]
    K[:, 0, 0] *= scale
    K[:, 1, 1] *= scale
    K[:, 0, 2] = (K[:, 0, 2] - xyxy[:, 0]) * scale
    K[:, 1, 2] = (K[:, 1, 2] - xyxy[:, 1]) * scale
    pose = tiny.joints3d_cam[rows] if absolute else tiny.pose(rows)
    R = tiny.cameras["R"][tiny.camera[rows]]
    with h5py.File(root / "labels.h5", "w") as f:
        f["frame"] = tiny.frame[rows].numpy()
        f["cam"] = tiny.camera[rows].numpy()
        f["seq"] = tiny.sequence[rows].numpy()
        f["subj"] = np.array([int(tiny.subject_names[s][1:]) for s in tiny.subject[rows]])
        f["3D"] = pose.reshape(-1, 51).numpy()
        f["bounding_box_cam"] = xyxy.numpy()
        f["intrinsic_crop"] = K.numpy()
        f["extrinsic_rot"] = R.numpy()
        f["extrinsic_rot_inv"] = R.transpose(1, 2).numpy()
        f["pose_mean"] = np.zeros((len(rows), 51))
        f["pose_std"] = np.ones((len(rows), 51))
    for k, i in enumerate(rows.tolist()):
        key = (int(tiny.sequence[i]), int(tiny.camera[i]), int(tiny.frame[i]))
        for kind, img in (("img_crop", tiny.crops[i]), ("bg_crop", tiny.bg_crops[i])):
            p = image_path(root, kind, *key)
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.numpy()).save(p)


@pytest.fixture
def h36m_rows(tiny):
    return tiny.select(subjects=["S1", "S9"], actions=["walking", "boxing"])


def test_loads_into_the_same_datasets(tiny, tmp_path, h36m_rows):
    _write_layout(tmp_path, tiny, h36m_rows)
    h = load_h36m(tmp_path, frame_hw=tiny.frame_hw)
    assert h.n == len(h36m_rows) and h.subject_names == ["S1", "S9"]
    assert torch.equal(h.crops, tiny.crops[h36m_rows])
    assert torch.allclose(h.pose(slice(None)), tiny.pose(h36m_rows), atol=1e-3)
    assert torch.allclose(h.boxes, tiny.boxes[h36m_rows], atol=1e-3)
    assert (h.joints2d - tiny.joints2d[h36m_rows]).abs().max() < 0.05
    assert torch.equal(h.rotation(3), tiny.cameras["R"][tiny.camera[h36m_rows[3]]])
    # the estimated mask agrees with the true one on most pixels
    agree = ((h.masks > 127) == (tiny.masks[h36m_rows] > 127)).float().mean()
    assert agree > 0.95
    assert len(LabelledFrames(h, subjects=("S9",))) > 0
    assert len(TemporalPairs(h, max_gap=3)) == h.n
    item = MultiViewPairs(h)[0]
    assert item["crop_i"].shape == (3, 64, 64)


def test_root_relative_labels_leave_2d_unknown(tiny, tmp_path, h36m_rows):
    _write_layout(tmp_path, tiny, h36m_rows, absolute=False)
    h = load_h36m(tmp_path, frame_hw=tiny.frame_hw)
    assert torch.isnan(h.joints2d).all()
    assert torch.allclose(h.pose(slice(None)), tiny.pose(h36m_rows), atol=1e-3)
    with pytest.raises(DprobeError, match="full-frame backgrounds"):
        h.full_frame([0])


def test_missing_pieces_are_clear_errors(tiny, tmp_path, h36m_rows):
    with pytest.raises(DprobeError, match="labels.h5 does not exist"):
        load_h36m(tmp_path)
    _write_layout(tmp_path, tiny, h36m_rows)
    victim = image_path(tmp_path, "bg_crop", int(tiny.sequence[h36m_rows[0]]),
                        int(tiny.camera[h36m_rows[0]]), int(tiny.frame[h36m_rows[0]]))
    victim.unlink()
    with pytest.raises(DprobeError, match="missing image .*bg_crop"):
        load_h36m(tmp_path)
    with h5py.File(tmp_path / "labels.h5", "a") as f:
        del f["intrinsic_crop"]
    with pytest.raises(DprobeError, match="lacks intrinsic_crop"):
        load_h36m(tmp_path)
