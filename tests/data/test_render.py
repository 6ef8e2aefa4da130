import h5py
import numpy as np
import pytest
import torch

from dprobe.data import appearance as A
from dprobe.data.build import build_studio
from dprobe.data.render import render_crop, render_frame
from dprobe.data.subjects import NAMED_SUBJECTS


def _cam(studio, idx):
    c = studio.camera[idx]
    return studio.cameras["R"][c], studio.cameras["t"][c], studio.cameras["K"][c]


def test_same_seed_gives_identical_bytes(tiny_path, tmp_path):
    again = tmp_path / "again.h5"
    build_studio("tiny", again, seed=0, progress=False)
    with h5py.File(tiny_path) as a, h5py.File(again) as b:
        for key in ("crops", "masks", "boxes", "joints3d_world", "backgrounds", "appearance"):
            assert np.array_equal(a[key][()], b[key][()]), key


def test_different_seed_gives_different_capture(tiny_path, tmp_path):
    other = tmp_path / "other.h5"
    build_studio("tiny", other, seed=1, progress=False)
    with h5py.File(tiny_path) as a, h5py.File(other) as b:
        assert not np.array_equal(a["joints3d_world"][()], b["joints3d_world"][()])


def test_mask_covers_the_projected_joints(tiny):
    c = tiny.crop_size
    H, W = tiny.frame_hw
    cx, cy, size = tiny.boxes.unbind(-1)
    u = (tiny.joints2d[..., 0] - (cx - size / 2)[:, None]) * c / size[:, None]
    v = (tiny.joints2d[..., 1] - (cy - size / 2)[:, None]) * c / size[:, None]
    inside = ((tiny.joints2d[..., 0] > 0) & (tiny.joints2d[..., 0] < W)
              & (tiny.joints2d[..., 1] > 0) & (tiny.joints2d[..., 1] < H))
    # coverage within one crop pixel of the joint (the mask's edge is one pixel soft)
    near = torch.nn.functional.max_pool2d(tiny.masks[:, None].float(), 3, 1, 1)[:, 0]
    col, row = u.long().clamp(0, c - 1), v.long().clamp(0, c - 1)
    n = torch.arange(tiny.n)[:, None].expand_as(col)
    covered = near[n, row, col] > 127
    assert inside.float().mean() > 0.9
    assert covered[inside].all()


def test_person_inside_crop_box(tiny):
    """The box holds the whole person: the crop border is (nearly) background."""
    m = tiny.masks.float() / 255
    border = torch.cat((m[:, 0], m[:, -1], m[:, :, 0], m[:, :, -1]), dim=1)
    assert border.mean() < 0.01


def test_stored_crop_is_person_over_background(tiny):
    outside = tiny.masks == 0
    diff = (tiny.crops.int() - tiny.bg_crops.int()).abs().amax(-1)
    assert diff[outside].max() <= 1


def test_appearance_swap_changes_pixels_only_inside_the_masks(tiny):
    idx = torch.arange(0, tiny.n, 97)
    R, t, K = _cam(tiny, idx)
    bgs = tiny.backgrounds[tiny.camera[idx]].permute(0, 3, 1, 2).float() / 255
    joints = tiny.joints3d_world[idx]
    s7 = A.SUBJECT_APPEARANCE["S7"].expand(len(idx), -1)
    s8 = A.SUBJECT_APPEARANCE["S8"].expand(len(idx), -1)
    a = render_crop(joints, s7, R, t, K, tiny.boxes[idx], 64, bgs)
    b = render_crop(joints, s8, R, t, K, tiny.boxes[idx], 64, bgs)
    changed = (a.image - b.image).abs().amax(1, keepdim=True) > 1e-6
    in_mask = (a.mask > 0) | (b.mask > 0)
    assert changed.any()
    assert not (changed & ~in_mask).any()
    # Same body shape: the silhouette is the same, only the colours inside change.
    s8_on_s7_body = s8.clone()
    s8_on_s7_body[:, [A.HEIGHT, A.BUILD]] = s7[:, [A.HEIGHT, A.BUILD]]
    c = render_crop(joints, s8_on_s7_body, R, t, K, tiny.boxes[idx], 64, bgs)
    assert torch.allclose(a.mask, c.mask)


def test_unshaded_render_is_flat_part_colours_on_the_same_silhouette(tiny):
    idx = torch.arange(0, tiny.n, 97)
    R, t, K = _cam(tiny, idx)
    s7 = A.SUBJECT_APPEARANCE["S7"].expand(len(idx), -1)  # solid red shirt, short sleeves
    shaded = render_crop(tiny.joints3d_world[idx], s7, R, t, K, tiny.boxes[idx], 64)
    flat = render_crop(tiny.joints3d_world[idx], s7, R, t, K, tiny.boxes[idx], 64, ambient=1.0)
    assert torch.equal(shaded.mask, flat.mask)
    parts = torch.stack([s7[0, sl] for sl in (A.SKIN, A.HAIR, A.SHIRT, A.TROUSERS, A.SHOES)])
    inside = flat.mask[:, 0] > 0.999                        # fully covered pixels: no edge mix

    def share_in_part_colours(render) -> float:
        colours = render.layer.color.permute(0, 2, 3, 1)[inside]
        return float((torch.cdist(colours, parts).min(1).values < 2e-3).float().mean())

    # Unshaded, a pixel is its part's colour (but where the head's hair blends in); shaded,
    # almost none is.
    assert share_in_part_colours(flat) > 0.85
    assert share_in_part_colours(shaded) < 0.2
    with pytest.raises(ValueError, match="ambient"):
        render_crop(tiny.joints3d_world[idx], s7, R, t, K, tiny.boxes[idx], 64, ambient=1.5)


def test_full_frame_render_agrees_with_crop_render(tiny):
    i = torch.tensor([10])
    R, t, K = _cam(tiny, i)
    frame = render_frame(tiny.joints3d_world[i], tiny.appearance[i], R, t, K, tiny.frame_hw)
    crop = render_crop(tiny.joints3d_world[i], tiny.appearance[i], R, t, K, tiny.boxes[i], 64)
    area_frame = frame.mask.sum()
    area_crop = crop.mask.sum() * (tiny.boxes[i, 2] / 64) ** 2
    assert abs(area_frame - area_crop) / area_crop < 0.1


def test_named_subjects_look_different():
    apps = torch.stack([A.SUBJECT_APPEARANCE[s] for s in NAMED_SUBJECTS])
    shirts = apps[:, A.SHIRT]
    assert torch.cdist(shirts, shirts).add(torch.eye(7) * 9).min() > 0.15
    assert torch.allclose(A.SUBJECT_APPEARANCE["S7"][A.SHIRT], torch.tensor([0.85, 0.1, 0.1]))


def test_sampler_draws_valid_varied_appearances():
    g = torch.Generator().manual_seed(3)
    apps = A.sample_appearances(200, g)
    assert apps.shape == (200, A.APPEARANCE_DIM)
    colours = torch.cat([apps[:, s] for s in (A.SKIN, A.HAIR, A.SHIRT, A.TROUSERS, A.SHOES)], 1)
    assert colours.min() >= 0 and colours.max() <= 1
    assert torch.all(apps[:, A.PATTERN].sum(1) == 1)
    assert len(set(apps[:, A.PATTERN].argmax(1).tolist())) == 3
    assert apps[:, A.SHIRT].std(0).min() > 0.2


def test_render_any_pose_with_any_appearance_reproduces_the_studio(tiny):
    from dprobe.data.render import render

    i = torch.tensor([4, 40])
    cam = (tiny.cameras["R"][tiny.camera[i]], tiny.cameras["t"][tiny.camera[i]],
           tiny.cameras["K"][tiny.camera[i]])
    bgs = tiny.backgrounds[tiny.camera[i]].permute(0, 3, 1, 2).float() / 255
    out = render(tiny.joints3d_world[i], tiny.appearance[i], cam, box=tiny.boxes[i],
                 background=bgs)
    stored = tiny.image(i)
    assert (out.image - stored).abs().max() <= 1 / 255 + 1e-6
    frame = render(tiny.joints3d_world[i[:1]], tiny.appearance[i[:1]],
                   tuple(c[0] for c in cam))
    assert frame.image.shape == (1, 3, 256, 256)


def test_render_rejects_bad_input():
    import pytest

    from dprobe.data.render import render

    cam = (torch.eye(3), torch.tensor([0.0, 0, 5000]), torch.eye(3))
    with pytest.raises(ValueError, match="pose3d"):
        render(torch.zeros(2, 16, 3), torch.zeros(2, 25), cam)
    with pytest.raises(ValueError, match="NaN"):
        render(torch.full((1, 17, 3), float("nan")), torch.zeros(1, 25), cam)
    with pytest.raises(ValueError, match="appearance"):
        render(torch.zeros(1, 17, 3), torch.zeros(1, 3), cam)
