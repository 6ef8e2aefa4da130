"""Augmentations: the mirror of labelled frames and the labelled-frame augmentation."""
import math

import torch

from dprobe.frameworks.augment import (
    ColourJitter,
    StrongColour,
    augment_labelled,
    hue_rotation,
    make_augment,
    mirror_pose,
)
from dprobe.geometry import project
from dprobe.train.regressor import encode_dataset
from tests.support import Synthetic

R_WRIST, L_WRIST, R_HIP, L_HIP = 16, 13, 1, 4


def _pose(seed: int = 0) -> torch.Tensor:
    pose = torch.randn(17, 3, generator=torch.Generator().manual_seed(seed)) * 300
    pose[:, 2] += 4000  # in front of the camera
    return pose


def test_mirror_pose_is_an_involution_that_exchanges_left_and_right():
    pose = _pose()
    mirrored = mirror_pose(pose)
    assert torch.equal(mirror_pose(mirrored), pose)
    assert mirrored[R_WRIST, 0] == -pose[L_WRIST, 0] and mirrored[L_HIP, 0] == -pose[R_HIP, 0]
    assert torch.equal(mirrored[:, 1:][R_WRIST], pose[:, 1:][L_WRIST])
    assert torch.equal(mirrored[0], pose[0] * torch.tensor([-1.0, 1, 1]))


def test_mirrored_pose_projects_to_the_flipped_image():
    """With the principal point at the image centre, mirror_pose's joints land where the
    horizontally flipped image shows the exchanged joints: u -> W - u, v unchanged."""
    W, H = 640.0, 480.0
    K = torch.tensor([[800.0, 0, W / 2], [0, 800.0, H / 2], [0, 0, 1]])
    pose = _pose(1)
    uv, uv_mirrored = project(pose, K), project(mirror_pose(pose), K)
    expected = uv[[0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]]
    expected[:, 0] = W - expected[:, 0]
    assert torch.allclose(uv_mirrored, expected, atol=1e-3)


def test_augment_labelled_flips_only_the_chosen_items():
    crop = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    pose = torch.stack([_pose(k) for k in range(3)])
    chosen = torch.tensor([True, False, True])
    out_crop, out_pose = augment_labelled(crop, pose, chosen, jitter=None)
    assert torch.equal(out_crop[1], crop[1]) and torch.equal(out_pose[1], pose[1])
    assert torch.equal(out_crop[0], crop[0].flip(-1)) and torch.equal(out_pose[2], mirror_pose(pose[2]))
    torch.manual_seed(0)
    jittered, _ = augment_labelled(crop, pose, chosen, jitter=ColourJitter())
    assert not torch.allclose(jittered, out_crop) and jittered.min() >= 0 and jittered.max() <= 1


def test_encode_dataset_adds_seeded_augmented_copies(make_model):
    model, data = make_model(), Synthetic("labelled", 6)
    codes, poses, subjects = encode_dataset(model, data, batch_size=4)
    aug_codes, aug_poses, aug_subjects = encode_dataset(model, data, batch_size=4,
                                                        augmented_copies=2, seed=3)
    assert subjects.tolist() == [data[i]["subject"] for i in range(6)]
    assert torch.equal(aug_subjects, subjects.repeat(3))
    assert aug_codes.shape == (18, codes.shape[1]) and aug_poses.shape == (18, 17, 3)
    assert torch.equal(aug_codes[:6], codes) and torch.equal(aug_poses[:6], poses)
    assert torch.equal(aug_poses[6:12], mirror_pose(poses)) and torch.equal(aug_poses[12:], poses)
    assert not torch.allclose(aug_codes[12:], codes)  # jittered crops give other codes
    again = encode_dataset(model, data, batch_size=4, augmented_copies=2, seed=3).codes
    assert torch.equal(again, aug_codes)


def test_hue_rotation_keeps_greys_and_turns_hues():
    turns = hue_rotation(torch.tensor([0.0, 2 * math.pi / 3, 2 * math.pi, 1.0]))
    assert torch.allclose(turns[0], torch.eye(3)) and torch.allclose(turns[2], torch.eye(3),
                                                                     atol=1e-6)
    red = torch.tensor([1.0, 0.0, 0.0])
    assert torch.allclose(turns[1] @ red, torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)  # a third
    grey = torch.full((3,), 0.4)
    assert torch.allclose(turns[3] @ grey, grey, atol=1e-6)
    assert torch.allclose(turns[3] @ turns[3].T, torch.eye(3), atol=1e-6)  # a rotation


def test_strong_colour_changes_colours_not_shapes():
    torch.manual_seed(0)
    images = torch.zeros(400, 3, 4, 4)
    images[:, 0, :2] = 0.9  # a red top half over black
    out = make_augment("strong")(images)
    assert isinstance(make_augment("strong"), StrongColour)
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    # where things are does not change: each half stays uniform, the halves stay apart
    assert torch.allclose(out[:, :, :2], out[:, :, :1, :1].expand(-1, -1, 2, 4))
    assert torch.allclose(out[:, :, 2:], out[:, :, 2:3, :1].expand(-1, -1, 2, 4))
    assert ((out[:, :, 0, 0] - out[:, :, 3, 0]).abs().amax(dim=1) > 0.05).float().mean() > 0.9
    top = out[:, :, 0, 0]
    grey = (top.max(dim=1).values - top.min(dim=1).values) < 1e-6
    assert 0.1 < grey.float().mean() < 0.3  # about one in five turned grey (0.2)
    dominant = top[~grey].argmax(dim=1).bincount(minlength=3) / (~grey).sum()
    assert (dominant > 0.2).all()  # red, green or blue: any of them leads the red half's colour
