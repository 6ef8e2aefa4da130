import math

import pytest
import torch
import torch.nn.functional as F

from dprobe import geometry as G


def test_projection_of_stored_joints_matches_joints2d(tiny):
    cams = tiny.cameras
    R, t, K = cams["R"][tiny.camera], cams["t"][tiny.camera], cams["K"][tiny.camera]
    uv = G.project_world(tiny.joints3d_world, R, t, K)
    assert (uv - tiny.joints2d).abs().max() < 0.5


def test_camera_joints_are_R_world_plus_t(tiny):
    cams = tiny.cameras
    R, t = cams["R"][tiny.camera], cams["t"][tiny.camera]
    expected = torch.einsum("nij,nkj->nki", R, tiny.joints3d_world) + t[:, None]
    assert torch.allclose(tiny.joints3d_cam, expected, atol=0.05)


def test_box_theta_round_trip():
    g = torch.Generator().manual_seed(1)
    boxes = torch.rand(50, 3, generator=g, dtype=torch.float64) * torch.tensor([300, 200, 150])
    boxes[:, 2] += 4
    hw = (200, 300)
    back = G.theta_to_box(G.box_to_theta(boxes, hw), hw)
    assert torch.allclose(back, boxes, atol=1e-9)


def test_theta_agrees_with_affine_grid():
    boxes = torch.tensor([[100.0, 80.0, 64.0], [10.0, 250.0, 90.0]], dtype=torch.float64)
    H, W, c = 256, 320, 16
    theta = G.box_to_theta(boxes, (H, W))
    grid = F.affine_grid(theta, [2, 3, c, c], align_corners=False)
    pixels = torch.stack(((grid[..., 0] + 1) * W / 2, (grid[..., 1] + 1) * H / 2), dim=-1)
    assert torch.allclose(pixels, G.crop_pixel_centres(boxes, c), atol=1e-9)


def test_one_image_with_many_boxes_equals_the_image_repeated():
    g = torch.Generator().manual_seed(2)
    image = torch.rand(1, 3, 40, 56, generator=g)
    theta = torch.randn(5, 2, 3, generator=g) * 0.4
    one = G.crop_at(image, theta, (8, 12))
    assert one.shape == (5, 3, 8, 12)
    assert torch.equal(one, G.crop_at(image.expand(5, -1, -1, -1).contiguous(), theta, (8, 12)))


def test_theta_to_box_rejects_rotated_theta():
    theta = torch.tensor([[[0.5, 0.1, 0.0], [-0.1, 0.5, 0.0]]])
    with pytest.raises(ValueError, match="axis-aligned"):
        G.theta_to_box(theta, (100, 100))


@pytest.mark.parametrize("bad", [[[1.0, 2.0, 0.0]], [[1.0, 2.0, -3.0]], [[float("nan"), 1, 4]]])
def test_degenerate_boxes_are_refused(bad):
    with pytest.raises(ValueError, match="box"):
        G.box_to_theta(torch.tensor(bad), (64, 64))


def test_invert_theta_composes_to_identity():
    theta = torch.tensor([[[0.3, 0.1, 0.2], [-0.05, 0.4, -0.3]]], dtype=torch.float64)
    inv = G.invert_theta(theta)
    def full(m):
        return torch.cat((m[0], torch.tensor([[0.0, 0, 1]], dtype=m.dtype)))
    assert torch.allclose(full(inv) @ full(theta), torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="singular"):
        G.invert_theta(torch.zeros(1, 2, 3))


def test_look_at_points_the_optical_axis_at_the_target():
    R, t = G.look_at(torch.tensor([3000.0, 0, 1500]), torch.tensor([0.0, 0, 1000]))
    target_cam = R @ torch.tensor([0.0, 0, 1000], dtype=torch.float64) + t
    assert target_cam[0].abs() < 1e-9 and target_cam[1].abs() < 1e-9 and target_cam[2] > 0
    up_cam = R @ torch.tensor([0.0, 0, 1], dtype=torch.float64)
    assert up_cam[1] < 0  # world up is image up (camera y points down)
    assert torch.allclose(R @ R.T, torch.eye(3, dtype=torch.float64), atol=1e-12)


def test_rotations():
    assert torch.allclose(G.rotation_z(math.pi / 2) @ torch.tensor([1.0, 0, 0]),
                          torch.tensor([0.0, 1, 0]), atol=1e-6)
    ang = torch.tensor([0.3, -0.2, 1.1])
    R = G.euler_xyz_to_matrix(ang)
    assert torch.allclose(R, G.rotation_z(1.1) @ G.rotation_y(-0.2) @ G.rotation_x(0.3))
    assert torch.isclose(G.rotation_angle(G.rotation_x(0.7)), torch.tensor(0.7), atol=1e-5)


def test_project_refuses_points_behind_the_camera():
    with pytest.raises(ValueError, match="behind"):
        G.project(torch.tensor([[0.0, 0.0, -5.0]]), torch.eye(3))
