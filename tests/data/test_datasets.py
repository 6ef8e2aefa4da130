import pytest
import torch
from torch.utils.data import DataLoader

from dprobe.data.datasets import (
    EvalFrames,
    LabelledFrames,
    MultiViewPairs,
    TemporalPairs,
    TemporalQuads,
)
from dprobe.errors import DprobeError


def test_multiview_pairs_show_one_instant_from_two_cameras(tiny):
    ds = MultiViewPairs(tiny)
    for k in (0, 7, len(ds) - 1):
        item = ds[k]
        seq, frame, ci, cj = ds.pairs[k].tolist()
        assert ci != cj
        assert torch.equal(item["R_i"], tiny.cameras["R"][ci])
        assert torch.equal(item["R_j"], tiny.cameras["R"][cj])
        i = ds.index.at(seq, ci, frame)
        j = ds.index.at(seq, cj, frame)
        assert torch.equal(tiny.joints3d_world[i], tiny.joints3d_world[j])
        assert torch.equal(item["crop_i"], tiny.image(i)) and torch.equal(item["bg_j"],
                                                                          tiny.background(j))
        assert item["subject"] == tiny.subject[i]
    # every ordered camera pair of every instant
    instants = len({(s, f) for s, f in zip(tiny.sequence.tolist(), tiny.frame.tolist())})
    assert len(ds) == instants * 12


def test_multiview_appearance_comes_from_another_instant(tiny):
    ds = MultiViewPairs(tiny, subjects=["S7"])
    item = ds[3]
    assert not torch.equal(item["app_j"], item["crop_j"])
    assert item["subject"] == tiny.subject_id("S7")


def test_temporal_pairs_respect_the_gap(tiny):
    ds = TemporalPairs(tiny, max_gap=2)
    gaps = torch.stack([ds[k]["gap"] for k in range(len(ds))])
    assert gaps.max() <= 2 and gaps.min() >= 0 and (gaps > 0).any()
    item = ds[5]
    assert item["crop_1"].shape == (3, 64, 64) and item["bg_2"].shape == (3, 64, 64)


def test_temporal_quads_are_one_sequence_and_camera(tiny):
    ds = TemporalQuads(tiny, max_gap=5, subjects=["S1", "S9"])
    item = ds[4]
    assert item["crops"].shape == (4, 3, 64, 64) and item["bgs"].shape == (4, 3, 64, 64)
    assert tiny.subject_names[int(item["subject"])] in ("S1", "S9")


def test_datasets_are_deterministic(tiny):
    a, b = TemporalPairs(tiny, seed=4), TemporalPairs(tiny, seed=4)
    assert all(torch.equal(a[k]["crop_2"], b[k]["crop_2"]) for k in range(0, len(a), 50))


def test_labelled_frames_give_root_relative_camera_poses(tiny):
    ds = LabelledFrames(tiny, subjects=("S1",), with_frame=True)
    item = ds[2]
    assert torch.all(item["pose"][0] == 0)
    i = int(ds.rows[2])
    expected = tiny.joints3d_cam[i] - tiny.joints3d_cam[i, :1]
    assert torch.allclose(item["pose"], expected)
    assert item["frame"].shape == (3, 256, 256)
    assert torch.allclose(item["theta"], tiny.theta(i)[0])
    assert all(tiny.subject_names[int(s)] == "S1" for s in tiny.subject[ds.rows])


def test_fraction_keeps_a_seeded_subset(tiny):
    full = LabelledFrames(tiny, subjects=("S1", "S5"))
    half = LabelledFrames(tiny, subjects=("S1", "S5"), fraction=0.5, seed=1)
    assert len(half) == round(len(full) / 2)
    assert torch.equal(half.rows, LabelledFrames(tiny, ("S1", "S5"), 0.5, seed=1).rows)
    with pytest.raises(DprobeError, match="fraction"):
        LabelledFrames(tiny, fraction=0)


def test_eval_frames_and_loader_batches(tiny):
    ds = EvalFrames(tiny, "S11")
    batch = next(iter(DataLoader(ds, batch_size=8)))
    assert batch["crop"].shape == (8, 3, 64, 64) and batch["pose"].shape == (8, 17, 3)


def test_unknown_subject_is_a_clear_error(tiny):
    with pytest.raises(DprobeError, match="unknown subject 'S99'"):
        EvalFrames(tiny, "S99")


def test_set_epoch_draws_fresh_partners(tiny):
    ds = TemporalPairs(tiny, max_gap=5)
    first = [float(ds[k]["gap"]) for k in range(0, 200, 5)]
    ds.set_epoch(1)
    second = [float(ds[k]["gap"]) for k in range(0, 200, 5)]
    ds.set_epoch(0)
    assert first != second
    assert first == [float(ds[k]["gap"]) for k in range(0, 200, 5)]
