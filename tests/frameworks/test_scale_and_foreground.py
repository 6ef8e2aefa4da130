"""Issue 12: DRNet's objective cannot be met by shrinking the codes; the reconstruction loss can
be weighted toward the person and asked to keep the pose code."""
import pytest
import torch
import torch.nn.functional as F

from dprobe.frameworks import CSSL, NSD, DRNet
from dprobe.frameworks.drnet import code_scale_loss, similarity_loss, standardise
from dprobe.frameworks.losses import (
    HARD_FRACTION,
    SPREAD_FLOOR,
    ReconstructionWeights,
    edge_loss,
    foreground_estimate,
    hard_pixel_loss,
    pose_consistency_loss,
    reconstruction_loss,
)
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel

NET = NetworkConfig(crop_size=16, width=4, max_channels=8, dim_app=8, dim_pose=12)


def _scale_gradient(loss_fn, a0: torch.Tensor, a1: torch.Tensor) -> float:
    """d loss(s a0, s a1) / ds at s = 1: positive means shrinking the codes lowers the loss."""
    s = torch.ones((), requires_grad=True)
    loss_fn(s * a0, s * a1).backward()
    return float(s.grad)


def test_plain_similarity_is_lowered_by_shrinking_the_codes():
    """The degenerate solution of the plain loss (and proof that the next test can fail)."""
    g = torch.Generator().manual_seed(0)
    a0, a1 = torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)
    plain = _scale_gradient(lambda x, y: F.mse_loss(x, y), a0, a1)
    assert plain > 0.1 * float(F.mse_loss(a0, a1))


def test_shrinking_the_codes_cannot_lower_drnet_losses():
    g = torch.Generator().manual_seed(0)
    a0, a1 = torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)
    for scale in (1e-4, 1e-2, 0.5):
        assert torch.allclose(similarity_loss(scale * a0, scale * a1), similarity_loss(a0, a1),
                              rtol=1e-3)
    p = torch.randn(16, 4, 12, generator=g)
    assert abs(_scale_gradient(lambda x, y: standardise(x).square().mean(), p, p)) < 1e-5


def test_similarity_and_standardise_ignore_the_scale_of_the_codes():
    g = torch.Generator().manual_seed(1)
    a0, a1 = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    assert torch.allclose(similarity_loss(a0, a1), similarity_loss(1e-3 * a0, 1e-3 * a1), rtol=1e-4)
    p = torch.randn(4, 8, 6, generator=g)
    assert torch.allclose(standardise(p), standardise(1e-3 * p), rtol=1e-4, atol=1e-6)


def test_drnet_records_its_reconstruction_weights():
    model = ReferenceModel(NET)
    drnet = DRNet(model, total_steps=10, reconstruction=ReconstructionWeights(foreground=4.0))
    assert drnet.hyperparameters()["reconstruction"] == {"ssim": 1.0, "foreground": 4.0, "mask": 0.0,
                                                          "edges": 0.0, "hard": 0.0,
                                                          "hard_fraction": 0.05, "pose": 0.0}


def _person_scene():
    """A background, a target with a thin 'limb', and a reconstruction that omits the limb."""
    g = torch.Generator().manual_seed(2)
    bg = torch.rand(2, 3, 32, 32, generator=g) * 0.3
    person = torch.zeros(2, 1, 32, 32)
    person[..., 8:24, 12:20] = 1          # torso
    limb = torch.zeros_like(person)
    limb[..., 10:12, 20:30] = 1           # a 2-px arm
    colour = torch.tensor([0.9, 0.2, 0.2]).view(1, 3, 1, 1)
    full = (person + limb).clamp(0, 1)
    target = full * colour + (1 - full) * bg
    return bg, target, person, full, colour


def test_foreground_estimate_finds_what_differs_from_the_background():
    bg, target, _, full, _ = _person_scene()
    fg = foreground_estimate(target, bg)
    assert fg.shape == (2, 1, 32, 32)
    assert torch.equal(fg > 0.5, full > 0.5)


def test_foreground_weighting_makes_a_missing_limb_cost_more():
    bg, target, torso, full, colour = _person_scene()
    rgb = colour.expand(2, 3, 32, 32)
    plain, weighted = ReconstructionWeights(), ReconstructionWeights(foreground=10.0)
    no_limb = {w: float(reconstruction_loss(rgb, torso, bg, target, w)) for w in (plain, weighted)}
    exact = {w: float(reconstruction_loss(rgb, full, bg, target, w)) for w in (plain, weighted)}
    assert exact[plain] < 1e-6 and exact[weighted] < 1e-6
    assert no_limb[weighted] > 1.5 * no_limb[plain]


def test_mask_term_rewards_a_mask_that_covers_the_person():
    bg, target, torso, full, colour = _person_scene()
    rgb = colour.expand(2, 3, 32, 32)
    w = ReconstructionWeights(mask=1.0)
    assert float(reconstruction_loss(rgb, full * 0.98 + 0.01, bg, target, w)) < float(
        reconstruction_loss(rgb, torso * 0.98 + 0.01, bg, target, w))


def test_edge_term_is_zero_for_the_target_and_charges_a_blurred_limb():
    bg, target, torso, full, colour = _person_scene()
    w = torch.ones(2, 1, 32, 32)
    assert float(edge_loss(target, target, w)) == 0.0
    # A limb drawn at the right place but blurred over 6 px keeps about the same mean colour
    # (the L1 barely moves) and loses its edges.
    blurred = F.avg_pool2d(full, (5, 1), stride=1, padding=(2, 0))
    x = blurred * colour + (1 - blurred) * bg
    assert float(edge_loss(x, target, w)) > 0.1 * float((x - target).abs().mean())
    edges = ReconstructionWeights(edges=1.0)
    rgb = colour.expand(2, 3, 32, 32)
    assert float(reconstruction_loss(rgb, full, bg, target, edges)) < 1e-6
    assert float(reconstruction_loss(rgb, torso, bg, target, edges)) > float(
        reconstruction_loss(rgb, torso, bg, target))


def test_hard_pixel_term_is_the_worst_pixels_mean_and_charges_a_missing_limb():
    bg, target, torso, full, colour = _person_scene()
    assert float(hard_pixel_loss(target, target)) == 0.0
    x = torso * colour + (1 - torso) * bg          # the reconstruction without the limb
    errors = (x - target).abs().mean(dim=1).flatten(1)
    k = round(HARD_FRACTION * errors.shape[1])
    worst = errors.sort(dim=1, descending=True).values[:, :k].mean()
    torch.testing.assert_close(hard_pixel_loss(x, target), worst)
    # the limb is 20 of 1024 pixels: all of them are among the worst 5%, so the term sees it
    # at nearly full strength where the crop's mean L1 is diluted 50-fold
    assert float(hard_pixel_loss(x, target)) > 20 * float((x - target).abs().mean())
    hard = ReconstructionWeights(hard=1.0)
    rgb = colour.expand(2, 3, 32, 32)
    assert float(reconstruction_loss(rgb, full, bg, target, hard)) < 1e-6
    assert float(reconstruction_loss(rgb, torso, bg, target, hard)) > 3 * float(
        reconstruction_loss(rgb, torso, bg, target))


def test_zero_weights_are_the_plain_objective():
    bg, target, torso, _, colour = _person_scene()
    rgb = colour.expand(2, 3, 32, 32)
    zero_but_explicit = ReconstructionWeights(ssim=1.0, foreground=1e-30)
    assert torch.allclose(reconstruction_loss(rgb, torso, bg, target),
                          reconstruction_loss(rgb, torso, bg, target, zero_but_explicit), atol=1e-6)


def test_pose_consistency_compares_the_reencoded_decoding_with_its_code():
    bg, target, torso, full, colour = _person_scene()
    rgb = colour.expand(2, 3, 32, 32)

    def encode(x):  # a "pose code": the image's mean row and column profiles
        return x.mean(dim=(1, 2, 3)), torch.cat((x.mean(dim=(1, 2)), x.mean(dim=(1, 3))), dim=1)

    exact_code = encode(target)[1]
    assert float(pose_consistency_loss(encode, rgb, full, bg, exact_code)) < 1e-10
    no_limb = pose_consistency_loss(encode, rgb, torso, bg, exact_code)
    reencoded = encode(torso * colour + (1 - torso) * bg)[1]
    spread = exact_code.var(dim=0, unbiased=False)
    spread = spread + SPREAD_FLOOR * spread.mean()
    torch.testing.assert_close(no_limb, ((reencoded - exact_code) ** 2 / spread).mean())
    assert float(no_limb) > 0.01


@pytest.mark.parametrize("cls,kind", [(NSD, "nsd"), (CSSL, "cssl"), (DRNet, "drnet")])
def test_frameworks_add_the_weighted_pose_consistency(cls, kind, make_model, batch_of):
    batch = batch_of(kind)
    plain = cls(make_model(), total_steps=10).losses(batch)
    assert "pose_consistency" not in plain
    fw = cls(make_model(), total_steps=10, reconstruction=ReconstructionWeights(pose=0.5))
    losses = fw.losses(batch)
    torch.testing.assert_close(losses["total"], plain["total"] + 0.5 * losses["pose_consistency"])
    assert float(losses["pose_consistency"].detach()) > 0
    losses["pose_consistency"].backward()   # it trains the decoder, through the held encoder
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in fw.model.decoder.parameters())
    # the encoder's weights get gradients from the codes the decoding came from (through the
    # decoder), never from re-encoding it: zero them for a decoding of fixed codes and check
    fw.model.zero_grad(set_to_none=True)
    with torch.no_grad():
        size = fw.model.crop_size
        h_a, h_p = fw.model.encode(torch.rand(8, 3, size, size, generator=torch.Generator().manual_seed(5)))
    rgb, mask = fw.model.decode(h_a, h_p)
    statistics = {k: v.clone() for k, v in fw.model.encoder.named_buffers()}
    term = fw.with_pose_consistency({"total": torch.zeros(())}, rgb, mask, rgb.detach(), h_p)
    term["pose_consistency"].backward()
    assert all(p.grad is None for p in fw.model.encoder.parameters())
    assert any(p.grad is not None for p in fw.model.decoder.parameters())
    for k, v in fw.model.encoder.named_buffers():
        assert torch.equal(v, statistics[k]), k   # re-encoding leaves the statistics alone


def test_pose_consistency_falls_when_trained(make_model, batch_of):
    fw = NSD(make_model(), total_steps=40, lr=3e-3, warmup=5,
             reconstruction=ReconstructionWeights(pose=1.0))
    batch = batch_of("nsd")
    terms = [fw.training_step(batch)["pose_consistency"] for _ in range(40)]
    assert sum(terms[-5:]) / 5 < 0.7 * sum(terms[:5]) / 5


def test_code_scale_term_pins_the_variance_near_one_from_either_side():
    g = torch.Generator().manual_seed(4)
    unit = torch.randn(64, 8, generator=g)
    unit = (unit - unit.mean(0)) / unit.std(0, unbiased=False)     # per-channel variance 1
    assert float(code_scale_loss(unit)) < 1e-10
    torch.testing.assert_close(code_scale_loss(10 * unit), code_scale_loss(unit / 10))
    assert _scale_gradient(lambda x, _: code_scale_loss(x), 10 * unit, unit) > 0   # shrinks
    assert _scale_gradient(lambda x, _: code_scale_loss(x), unit / 10, unit) < 0   # grows


def test_drnet_reports_and_weights_the_code_scale(make_model, batch_of):
    batch = batch_of("drnet")
    without = DRNet(make_model(), total_steps=10, scale_weight=0.0).losses(batch)
    weighted = DRNet(make_model(), total_steps=10, scale_weight=0.5).losses(batch)
    torch.testing.assert_close(weighted["total"], without["total"] + 0.5 * weighted["scale"])
    assert float(weighted["scale"].detach()) > 0
