import math

import pytest
import torch

from dprobe.frameworks import CSSL, NSD, DRNet, Supervised
from dprobe.frameworks.augment import ColourJitter
from dprobe.frameworks.cssl import contrastive_pose_loss
from dprobe.frameworks.drnet import discriminator_pairs
from dprobe.geometry import euler_xyz_to_matrix, rotation_z
from dprobe.models.pose_code import relative_rotation, rotate_pose_code


@pytest.mark.parametrize("cls,kind", [(NSD, "nsd"), (CSSL, "cssl"), (DRNet, "drnet"),
                                      (Supervised, "labelled")])
def test_training_step_lowers_the_loss(cls, kind, make_model, batch_of):
    supervised = cls is Supervised
    model = make_model(decoder=not supervised, regressor=supervised)
    # (the synthetic poses are not mirror-symmetric, so the supervised run is not augmented)
    extra = {"augment_labels": False} if supervised else {}
    fw = cls(model, total_steps=40, lr=3e-3, warmup=5, **extra)
    batch = batch_of(kind)
    if supervised:
        model.regressor.set_pose_statistics(batch["pose"])
    key = "pose" if supervised else "reconstruction"
    losses = [fw.training_step(batch)[key] for _ in range(40)]
    assert fw.step == 40
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def test_identity_rotation_leaves_the_pose_code_unchanged():
    h_p = torch.randn(3, 600)
    R = euler_xyz_to_matrix(torch.randn(3, 3))
    assert torch.allclose(rotate_pose_code(h_p, relative_rotation(R, R)), h_p, atol=1e-5)


def test_known_rotation_moves_the_point_cloud():
    points = torch.zeros(1, 200, 3)
    points[0, 0] = torch.tensor([1.0, 0.0, 0.0])
    points[0, 1] = torch.tensor([0.0, 0.0, 2.0])
    quarter = rotation_z(math.pi / 2)
    # camera i rotated by 90 degrees about z relative to camera j: R_j R_i^T = Rz(-90)
    moved = rotate_pose_code(points.flatten(1), relative_rotation(quarter[None], torch.eye(3)[None]))
    moved = moved.view(1, 200, 3)
    assert torch.allclose(moved[0, 0], torch.tensor([0.0, -1.0, 0.0]), atol=1e-6)
    assert torch.allclose(moved[0, 1], torch.tensor([0.0, 0.0, 2.0]), atol=1e-6)
    R_i, R_j = euler_xyz_to_matrix(torch.randn(2, 3)).unbind(0)
    expected = points[0] @ (R_j @ R_i.T).T
    got = rotate_pose_code(points.flatten(1), relative_rotation(R_i[None], R_j[None]))
    assert torch.allclose(got.view(200, 3), expected, atol=1e-5)


def test_contrastive_term_pulls_close_and_pushes_distant_frames():
    p = torch.randn(2, 30)
    gap = torch.tensor([0.0, 12.0])
    same = contrastive_pose_loss(p, p, gap, max_gap=12, margin=0.5, near_fraction=0.25)
    assert same.item() == pytest.approx((0.0 + 0.5**2) / 2)  # distant identical codes pushed
    far = -p  # unit codes 2 apart
    opposite = contrastive_pose_loss(p, far, gap, max_gap=12, margin=0.5, near_fraction=0.25)
    assert opposite.item() == pytest.approx(2.0**2 / 2, rel=1e-5)  # close frames pulled


def test_discriminator_pairs_and_labels():
    p2, p3 = torch.arange(4.0).view(4, 1), 10 + torch.arange(4.0).view(4, 1)
    subject = torch.tensor([0, 0, 1, 1])
    left, right, labels = discriminator_pairs(p2, p3, subject)
    assert labels.tolist() == [1, 1, 1, 1, 0, 0]
    assert right[:4].flatten().tolist() == [10, 11, 12, 13]  # same sequence
    # negatives: element 1 with element 2's p3 and element 3 with element 0's (different subjects)
    assert left[4:].flatten().tolist() == [1, 3] and right[4:].flatten().tolist() == [12, 10]


def test_drnet_adversarial_target_is_one_half(make_model, batch_of):
    fw = DRNet(make_model(), total_steps=10)
    batch = batch_of("drnet")
    h_p = fw._codes(batch["crops"])[1]
    last = fw.discriminator.mlp[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()  # C outputs probability 0.5 everywhere
    assert fw.adversarial_loss(h_p, batch["subject"]).item() == pytest.approx(math.log(2))
    with torch.no_grad():
        last.bias.fill_(3.0)  # confident "same sequence": the encoder is penalised
    assert fw.adversarial_loss(h_p, batch["subject"]).item() > math.log(2) + 0.5


def test_drnet_discriminator_is_trained_on_detached_codes(make_model, batch_of):
    fw = DRNet(make_model(), total_steps=10)
    batch = batch_of("drnet")
    losses = fw.losses(batch)
    losses["discriminator"].backward()
    assert all(p.grad is None for p in fw.model.parameters())
    assert all(p.grad is not None for p in fw.discriminator.parameters())
    before = {k: v.clone() for k, v in fw.discriminator.state_dict().items()}
    fw.training_step(batch)
    after = fw.discriminator.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_jitter_changes_only_the_encoder_input(make_model, batch_of, monkeypatch):
    from dprobe.frameworks import nsd

    batch = batch_of("nsd")
    seen_inputs, seen_targets = [], []
    real_loss = nsd.reconstruction_loss

    def spy_loss(rgb, mask, bg, target, w):
        seen_targets.append(target)
        return real_loss(rgb, mask, bg, target, w)

    monkeypatch.setattr(nsd, "reconstruction_loss", spy_loss)
    for augment in (None, ColourJitter()):
        model = make_model()
        model.encoder.register_forward_pre_hook(lambda m, args: seen_inputs.append(args[0]))
        NSD(model, total_steps=1, augment=augment).losses(batch)
    clean = torch.cat((batch["crop_i"], batch["app_j"]))
    assert torch.equal(seen_inputs[0], clean)
    assert seen_inputs[1].shape == clean.shape and not torch.allclose(seen_inputs[1], clean)
    assert seen_inputs[1].min() >= 0 and seen_inputs[1].max() <= 1
    assert all(torch.equal(t, batch["crop_j"]) for t in seen_targets)


def test_supervised_augments_its_labelled_crops_by_default(make_model, batch_of):
    batch, seen = batch_of("labelled"), []
    for augment_labels in (True, False):
        model = make_model(decoder=False, regressor=True)
        model.encoder.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
        torch.manual_seed(0)
        Supervised(model, total_steps=1, augment_labels=augment_labels).losses(batch)
    assert not torch.allclose(seen[0], batch["crop"]) and torch.equal(seen[1], batch["crop"])
