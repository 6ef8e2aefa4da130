"""Body regions of a crop (dprobe.metrics.body_regions): geometry, and agreement with the
studio renderer's limbs."""
import math

import pytest
import torch

from dprobe.data.render import render
from dprobe.geometry import project_world
from dprobe.metrics.body_regions import (
    REGIONS,
    body_regions,
    capsule_cover,
    crop_coordinates,
    pixels_per_mm,
    region_psnr,
)


def test_crop_coordinates_put_the_box_centre_and_corner_where_the_crop_has_them():
    boxes = torch.tensor([[100.0, 50.0, 40.0]])
    joints = torch.tensor([[[100.0, 50.0], [80.0, 30.0], [120.0, 70.0]]])
    coords = crop_coordinates(joints, boxes, 64)
    assert torch.allclose(coords, torch.tensor([[[31.5, 31.5], [-0.5, -0.5], [63.5, 63.5]]]))


def test_pixels_per_mm_is_the_scale_of_a_bone_parallel_to_the_image():
    gen = torch.Generator().manual_seed(0)
    joints3d = torch.randn(3, 17, 3, generator=gen) * 300
    joints3d[:, 1, 2] = joints3d[:, 0, 2]          # pelvis -> r_hip parallel to the image plane
    scale = torch.tensor([0.1, 0.3, 2.0])
    joints2d = joints3d[..., :2] * scale[:, None, None] + 50     # orthographic projection
    assert torch.allclose(pixels_per_mm(joints2d, joints3d), scale, rtol=1e-5)


def test_a_capsule_covers_the_pixels_within_its_radius_of_the_segment():
    points = torch.zeros(1, 17, 2, dtype=torch.float64)
    points[0, 0], points[0, 1] = torch.tensor([10.0, 32.0]), torch.tensor([50.0, 32.0])
    cover = capsule_cover(points, ((0, 1, 0.0),), torch.tensor([[2.0]], dtype=torch.float64), 64)
    row = cover[0, 0]
    assert row[34, 30] == 1 and row[35, 30] == 0 and row[30, 30] == 1 and row[29, 30] == 0
    assert row[32, 52] == 1 and row[32, 53] == 0 and row[32, 8] == 1 and row[32, 7] == 0
    assert int(row.sum()) == 41 * 5 + 2 * (3 + 1)    # the band plus two half discs past its ends


def test_a_forearm_runs_on_past_the_wrist_for_the_hand():
    points = torch.zeros(1, 17, 2, dtype=torch.float64)
    points[0, 12], points[0, 13] = torch.tensor([10.0, 32.0]), torch.tensor([30.0, 32.0])
    cover = capsule_cover(points, ((12, 13, 0.0),), torch.tensor([[1.0]], dtype=torch.float64), 64)
    assert cover[0, 0, 32, 39] == 1 and cover[0, 0, 32, 41] == 0     # 30 + 0.45 x 20 + 1


def test_regions_are_exclusive_and_unknown_joints_belong_to_none(tiny):
    rows = torch.arange(6)
    joints2d = tiny.joints2d[rows].clone()
    joints2d[5, 3] = float("nan")
    regions = body_regions(joints2d, tiny.pose(rows), tiny.boxes[rows], tiny.crop_size)
    assert tuple(regions) == REGIONS
    total = sum(regions.values())
    assert torch.equal(total[:5], torch.ones_like(total[:5]))
    assert torch.equal(total[5], torch.zeros_like(total[5]))
    assert all(float(r[:5].sum()) > 0 for r in regions.values())


def test_regions_refuse_wrong_shapes_and_empty_boxes():
    joints2d, joints3d, boxes = torch.zeros(2, 17, 2), torch.zeros(2, 17, 3), torch.ones(2, 3)
    with pytest.raises(ValueError, match="joints2d"):
        body_regions(joints2d[:, :16], joints3d, boxes, 64)
    with pytest.raises(ValueError, match="boxes"):
        body_regions(joints2d, joints3d, boxes[:1], 64)
    with pytest.raises(ValueError, match="positive size"):
        body_regions(joints2d, joints3d, torch.zeros(2, 3), 64)


def test_region_psnr_is_nan_where_the_region_is_empty():
    x, y = torch.zeros(2, 3, 8, 8), torch.full((2, 3, 8, 8), 0.1)
    weights = torch.zeros(2, 1, 8, 8)
    weights[0, :, :2] = 1
    value = region_psnr(x, y, weights)
    assert value[0].item() == pytest.approx(20.0) and math.isnan(value[1].item())


def _moved(joints: torch.Tensor, limb: str) -> torch.Tensor:
    """The world joints with both arms raised (elbows and wrists 250 / 450 mm higher) or both
    knees bent forward (250 mm along world x; the ankles, hence the feet, which belong to no
    limb, stay)."""
    moved = joints.clone()
    if limb == "arms":
        moved[:, [12, 15], 2] += 250
        moved[:, [13, 16], 2] += 450
    else:
        moved[:, [2, 5], 0] += 250
    return moved


@pytest.mark.parametrize("limb", ["arms", "legs"])
def test_the_pixels_a_limb_move_changes_lie_in_that_limbs_regions(tiny, limb):
    """Render one frame, move only the arms (or legs), render again: the silhouette pixels that
    change lie in the limb's region before or after the move (the radii and the scale match the
    renderer's), and they are not a handful."""
    rows = torch.arange(0, len(tiny.subject), max(1, len(tiny.subject) // 6))[:6]
    cam = tiny.camera[rows]
    R, t, K = tiny.cameras["R"][cam], tiny.cameras["t"][cam], tiny.cameras["K"][cam]
    joints = tiny.joints3d_world[rows]
    assert torch.allclose(project_world(joints, R, t, K), tiny.joints2d[rows], atol=1e-2)
    boxes = tiny.boxes[rows]
    covered = []
    for pose in (joints, _moved(joints, limb)):
        covered.append(render(pose, tiny.appearance[rows], (R, t, K), box=boxes,
                              crop_size=tiny.crop_size, frame_hw=tiny.frame_hw).mask)
        regions = body_regions(project_world(pose, R, t, K), pose, boxes, tiny.crop_size)
        covered.append(regions["arms"] + (regions["legs"] if limb == "legs" else 0))
    changed = (covered[0] - covered[2]).abs() > 0.5
    inside = (covered[1] + covered[3]) > 0
    assert int(changed.sum()) > 20 * len(rows)
    assert float((changed & inside).sum() / changed.sum()) > 0.97
