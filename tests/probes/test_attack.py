"""The appearance-only attack: its controls, its arithmetic, and batching.

Toy models (below) make the controls exact: a target whose pose reads only the silhouette must
end where it started however far the colours move, one whose pose is the clothing colour must
break at once. The shipped models on the tiny studio check batching and the zero step.
"""
import pytest
import torch
from torch import Tensor

from dprobe.data.render import render_crop
from dprobe.geometry import crop_at
from dprobe.metrics.pose import mpjpe
from dprobe.models import load
from dprobe.ops import composite_crop
from dprobe.probes.attack import (
    AttackSettings,
    attack,
    result_rows,
    select_rows,
    studio_batch,
    success_curve,
)
from dprobe.probes.attack_generators import (
    COLOUR_ENTRIES,
    DecoderGenerator,
    RendererGenerator,
)

FRAME, CROP = 32, 16


class ToyModel(torch.nn.Module):
    """A PoseAppearanceModel on 32 px frames, 16 px crops, a fixed centred box.

    ``h_a`` is the logit of the crop's mean colour; the decoder paints that colour over a fixed
    disc. ``kind="colour"``: the pose code is the mean colour (pose entangled with clothing by
    construction). ``kind="blind"``: the pose code is the centroid and second moments of the
    image's brightness normalised to sum 1, which on a black background is the silhouette's
    shape whatever its colour: the pose cannot see appearance (its gradient is zero up to
    rounding, which Adam's normalisation turns into full-size steps: the colours still move).
    """

    crop_size = CROP

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        g = torch.Generator().manual_seed(0)
        self.weights = torch.randn(3 if kind == "colour" else 5, 51, generator=g)
        ys, xs = torch.meshgrid(torch.arange(CROP) + 0.5, torch.arange(CROP) + 0.5, indexing="ij")
        self.grid = torch.stack((xs, ys)) / CROP - 0.5
        self.disc = ((self.grid[0] / 0.3) ** 2 + (self.grid[1] / 0.4) ** 2 < 1).float()

    def locate(self, frame: Tensor) -> Tensor:
        theta = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])
        return theta.expand(frame.shape[0], 2, 3).clone()

    def encode(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        colour = crop.mean(dim=(2, 3)) / self.disc.mean()
        h_a = torch.logit(colour.clamp(0.02, 0.98))
        if self.kind == "colour":
            return h_a, colour
        w = crop.sum(1) / crop.sum(dim=(1, 2, 3))[:, None, None]
        x, y = (w * self.grid[0]).sum((1, 2)), (w * self.grid[1]).sum((1, 2))
        xx, yy = (w * self.grid[0] ** 2).sum((1, 2)), (w * self.grid[1] ** 2).sum((1, 2))
        xy = (w * self.grid[0] * self.grid[1]).sum((1, 2))
        return h_a, torch.stack((x, y, xx, yy, xy), dim=1) * 10

    def decode(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        rgb = torch.sigmoid(h_a)[:, :, None, None].expand(-1, -1, CROP, CROP)
        return rgb, self.disc.expand(h_a.shape[0], 1, CROP, CROP)

    def regress(self, h_p: Tensor) -> Tensor:
        return (h_p @ self.weights).view(-1, 17, 3) * 10000


def toy_batch(n: int) -> dict[str, Tensor]:
    """Frames of discs of random colours at the toy box, over a black background."""
    g = torch.Generator().manual_seed(1)
    model = ToyModel("colour")
    colours = 0.2 + 0.6 * torch.rand(n, 3, generator=g)
    crops = colours[:, :, None, None] * model.disc
    theta = model.locate(torch.zeros(n, 3, FRAME, FRAME))
    inverse = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]).expand(n, 2, 3)
    grid = torch.nn.functional.affine_grid(inverse, [n, 3, FRAME, FRAME], align_corners=False)
    frame = torch.nn.functional.grid_sample(crops, grid, align_corners=False)
    return {"frame": frame, "background": torch.zeros(n, 3, FRAME, FRAME), "theta": theta}


class OffsetGenerator(DecoderGenerator):
    """The toy's own decoder, started ``offset`` away from its exact code.

    The toy decoder reproduces its input exactly, so the initial error is 0 and so is its
    gradient (MPJPE is a norm): an attack cannot leave that point, whatever the target. Real
    generators never start there (the shipped decoders start at 40-90 mm, the renderer at
    ~16 mm); this one starts like them, a little off."""

    def __init__(self, model, offset: float) -> None:
        super().__init__(model, "self")
        self.offset = offset

    def prepare(self, batch: dict[str, Tensor], boxes: str):
        synthesis = super().prepare(batch, boxes)
        synthesis.h_a0 = synthesis.h_a0 + self.offset
        return synthesis


def run_toy(kind: str, n: int = 4, offset: float = 0.0, **config) -> tuple:
    model = ToyModel(kind)
    return attack(model, OffsetGenerator(model, offset), toy_batch(n), AttackSettings(**config))


def test_a_target_blind_to_appearance_ends_where_it_started():
    r = run_toy("blind", iterations=15, lr=0.2)
    assert (r.h_final - r.h_initial).abs().amax(dim=1).min() > 0.1   # the colours moved
    assert not r.success.any() and (r.iterations == 15).all()
    torch.testing.assert_close(r.final, r.initial, atol=1e-3, rtol=0)


def test_a_target_whose_pose_is_the_clothing_colour_breaks_within_a_few_iterations():
    r = run_toy("colour", offset=1e-4, iterations=50)
    assert r.success.all() and (r.iterations <= 5).all() and (r.iterations >= 1).all()
    assert (r.final > 150).all() and (r.initial > 0).all() and (r.initial < 150).all()


def test_adam_ascent_is_torch_adam_with_the_step_scaled_per_sample():
    model, batch = ToyModel("colour"), toy_batch(1)
    gen = DecoderGenerator(model, "self")
    syn = gen.prepare(batch, "detector")
    q = model.regress(model.encode(crop_at(batch["frame"], syn.src_theta, CROP))[1])
    param = syn.h_a0.clone().requires_grad_()
    adam = torch.optim.Adam([param], lr=0.05 * float(syn.step_scale), maximize=True)
    for k in range(1, 4):
        adam.zero_grad()
        x = composite_crop(gen.render(param, syn.fixed), syn.mask, batch["background"],
                           syn.src_theta, syn.src_theta, CROP)
        mpjpe(model.regress(model.encode(x)[1]), q).sum().backward()
        adam.step()
        r = attack(model, gen, batch, AttackSettings(iterations=k, lr=0.05, threshold_mm=1e9))
        torch.testing.assert_close(r.h_final, param.detach(), rtol=1e-5, atol=1e-6)


def test_budget_keeps_the_code_near_its_start():
    r = run_toy("blind", iterations=10, lr=0.3, eps=0.05)
    distance = (r.h_final - r.h_initial).norm(dim=1)
    assert (distance <= 0.05 * r.h_initial.norm(dim=1) * (1 + 1e-5)).all()
    assert (distance > 0.04 * r.h_initial.norm(dim=1)).all()     # it pushed against the limit


@pytest.mark.parametrize("bad", [{"boxes": "sideways"}, {"precision": "fp8"}, {"lr": -1.0},
                                 {"eps": 0.0}, {"iterations": -1}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        AttackSettings(**bad)


def test_success_curve_counts_final_errors_above_each_threshold():
    curve = success_curve(torch.tensor([10.0, 100.0, 200.0]), torch.tensor([0.0, 50.0, 150.0,
                                                                             250.0]))
    torch.testing.assert_close(curve, torch.tensor([1.0, 2 / 3, 1 / 3, 0.0]))


# ---- the studio and the shipped models ------------------------------------------------------
@pytest.fixture(scope="module")
def nsd():
    return load("nsd")


@pytest.fixture(scope="module")
def rows(tiny):
    return select_rows(tiny, ["S9", "S1"], 2)


def test_zero_learning_rate_moves_nothing(tiny, nsd, rows):
    r = attack(nsd, DecoderGenerator(nsd, "self"), studio_batch(tiny, rows),
               AttackSettings(iterations=2, lr=0.0, threshold_mm=1e9))
    assert torch.equal(r.h_final, r.h_initial) and torch.equal(r.x_final, r.x_initial)
    assert torch.equal(r.final, r.initial) and (r.iterations == 2).all()


def test_batched_results_equal_per_sample_runs(tiny, nsd, rows):
    batch = studio_batch(tiny, rows)
    gen = DecoderGenerator(nsd, "self")
    start = attack(nsd, gen, batch, AttackSettings(iterations=0)).initial
    # A threshold between the initial errors: some samples stop at once, the others go on.
    threshold = float(start.sort().values[1:3].mean())
    config = AttackSettings(iterations=3, lr=0.2, threshold_mm=threshold)
    together = attack(nsd, gen, batch, config)
    assert together.iterations.min() == 0 and together.iterations.max() > 0
    for b in range(rows.numel()):
        alone = attack(nsd, gen, {k: v[b:b + 1] for k, v in batch.items()}, config)
        assert int(alone.iterations) == int(together.iterations[b])
        torch.testing.assert_close(alone.final, together.final[b:b + 1], rtol=1e-4, atol=1e-2)
        # Convolutions round differently at batch 1 and batch B; Adam's normalised step turns
        # that into ~1e-5 of a code whose entries are ~1, so the bound is 1e-4 (a wrong sample
        # mapping moves h by O(1)).
        torch.testing.assert_close(alone.h_final, together.h_final[b:b + 1], rtol=1e-4,
                                   atol=1e-4)


def test_fused_and_plain_composite_give_the_same_attack(tiny, nsd, rows):
    batch, gen = studio_batch(tiny, rows), DecoderGenerator(nsd, "self")
    config = AttackSettings(iterations=2, lr=0.2, threshold_mm=1e9)
    fused = attack(nsd, gen, batch, config)
    plain = attack(nsd, gen, batch, AttackSettings(**{**config.__dict__, "fused": False}))
    torch.testing.assert_close(fused.final, plain.final, rtol=1e-3, atol=1e-2)
    assert (fused.final - fused.initial).abs().min() > 1.0           # it did move


def test_inference_copies_give_the_same_attack(tiny, nsd, rows):
    batch, gen = studio_batch(tiny, rows), DecoderGenerator(nsd, "self")
    config = AttackSettings(iterations=2, lr=0.2, threshold_mm=1e9)
    fast = attack(nsd, gen, batch, config)
    as_given = attack(nsd, gen, batch, AttackSettings(**{**config.__dict__,
                                                       "inference_copies": False}))
    torch.testing.assert_close(fast.initial, as_given.initial, rtol=1e-4, atol=1e-2)
    torch.testing.assert_close(fast.final, as_given.final, rtol=1e-3, atol=1e-2)
    # Adam normalises each entry's step, so gradient entries near zero, which rounding moves
    # (~1e-6 relative), take steps of either sign: h agrees to a small part of how far it moved.
    moved = (as_given.h_final - as_given.h_initial).norm(dim=1)
    assert ((fast.h_final - as_given.h_final).norm(dim=1) <= 0.01 * moved).all()
    assert gen.model is nsd and any(isinstance(m, torch.nn.BatchNorm2d) for m in nsd.modules())


def test_renderer_changes_only_colours_in_range_and_keeps_the_silhouette(tiny, rows):
    batch = studio_batch(tiny, rows[:2])
    target = ToyModel("colour")
    gen = RendererGenerator(tiny.crop_size, tiny.frame_hw)
    r = attack(target, gen, batch, AttackSettings(iterations=4, lr=0.1, boxes="truth",
                                                threshold_mm=1e9))
    assert (r.h_initial == batch["appearance"][:, COLOUR_ENTRIES]).all()
    assert r.h_final.min() >= 0 and r.h_final.max() <= 1 and (r.h_final != r.h_initial).any()
    assert (r.final > r.initial).all()

    def silhouette(appearance: Tensor) -> Tensor:
        return render_crop(batch["joints_world"], appearance, batch["R"], batch["t"],
                           batch["K"], batch["box"], tiny.crop_size).mask

    attacked = batch["appearance"].index_copy(1, COLOUR_ENTRIES, r.h_final)
    assert torch.equal(silhouette(batch["appearance"]), silhouette(attacked))


def test_rows_are_json_ready(tiny, nsd, rows):
    batch = studio_batch(tiny, rows[:1])
    r = attack(nsd, DecoderGenerator(nsd, "self"), batch, AttackSettings(iterations=1))
    (row,) = result_rows(tiny, rows[:1], batch, r, poses=True)
    assert row["subject"] == "S9" and len(row["final_pred_mm"]) == 17
    assert {"initial_mpjpe_mm", "final_mpjpe_mm", "iterations", "success", "ssim", "psnr_db",
            "mse"} <= row.keys()


def test_null_generators_change_the_clothes_once_without_an_adversary(tiny, nsd, rows):
    """random-colours moves the colours by the asked relative size (less only where [0, 1]
    clips) and other-clothes dresses each sample in another subject's colours; neither makes an
    update, so the final error is the initial one and success is that error past the
    threshold."""
    from dprobe.probes.generator_registry import make_generator

    batch = studio_batch(tiny, rows)
    config = AttackSettings(iterations=5, lr=0.5, threshold_mm=60.0, boxes="truth")
    true = batch["appearance"][:, COLOUR_ENTRIES]
    for name in ("random-colours:0.3", "other-clothes"):
        gen = make_generator(name, nsd, tiny, load=load)
        r = attack(nsd, gen, batch, config)
        assert (r.iterations == 0).all() and torch.equal(r.final, r.initial)
        assert torch.equal(r.success, r.initial > 60.0)
        assert torch.allclose(r.change, (r.h_final - true).norm(dim=1) / true.norm(dim=1))
        assert (r.change > 0.05).all()
        if name.startswith("random"):
            assert (r.change <= 0.3 + 1e-5).all() and r.change.max() > 0.2
        else:  # every sample wears one of the named subjects' colours, not its own
            wardrobe = torch.stack([tiny.appearance[tiny.select(subjects=[s])[0]]
                                    for s in ("S1", "S5", "S6", "S7", "S8", "S9", "S11")])
            wardrobe = wardrobe[:, COLOUR_ENTRIES]
            assert all(any(torch.equal(h, w) for w in wardrobe) for h in r.h_final)


def test_full_frame_figures_see_the_whole_frame(tiny, nsd, rows):
    """The full frame holds the crop's change among pixels that did not change: its PSNR is
    higher and its MSE lower than the crop's; a sample that did not move has identical frames."""
    batch = studio_batch(tiny, rows)
    r = attack(nsd, DecoderGenerator(nsd, "self"), batch,
               AttackSettings(iterations=3, lr=0.3, threshold_mm=1e9))
    assert (r.psnr_frame > r.psnr).all() and (r.mse_frame < r.mse).all()
    assert (r.ssim_frame > r.ssim).all() and (r.change > 0).all()
    still = attack(nsd, DecoderGenerator(nsd, "self"), batch,
                   AttackSettings(iterations=2, lr=0.0, threshold_mm=1e9))
    assert (still.mse_frame == 0).all() and (still.change == 0).all()


def test_the_path_records_the_largest_change_and_a_budget_bounds_it(tiny, nsd, rows):
    """change_path is the largest change of h on the attack's way (>= the final change); with a
    budget eps it never exceeds eps; Delta E exists for colours (the renderer), not for a
    latent code, and is 0 where the colours did not move."""
    batch = studio_batch(tiny, rows)
    free = attack(nsd, RendererGenerator(nsd.crop_size, tiny.frame_hw), batch,
                  AttackSettings(iterations=4, lr=0.2, threshold_mm=1e9, boxes="truth"))
    assert (free.change_path >= free.change - 1e-6).all() and (free.change > 0).all()
    assert (free.delta_e > 0).all() and (free.delta_e_path >= free.delta_e - 1e-4).all()
    bounded = attack(nsd, RendererGenerator(nsd.crop_size, tiny.frame_hw), batch,
                     AttackSettings(iterations=4, lr=0.2, threshold_mm=1e9, boxes="truth",
                                    eps=0.05))
    assert (bounded.change_path <= 0.05 + 1e-5).all() and bounded.delta_e.max() < free.delta_e.max()
    decoder = attack(nsd, DecoderGenerator(nsd, "self"), batch,
                     AttackSettings(iterations=2, lr=0.3, threshold_mm=1e9))
    assert decoder.delta_e.isnan().all() and decoder.delta_e_path.isnan().all()
    still = attack(nsd, RendererGenerator(nsd.crop_size, tiny.frame_hw), batch,
                   AttackSettings(iterations=2, lr=0.0, threshold_mm=1e9, boxes="truth"))
    assert (still.delta_e == 0).all() and (still.delta_e_path == 0).all()
    row = result_rows(tiny, rows, batch, decoder)[0]
    assert row["delta_e"] is None and row["change_path"] >= row["change"]


def test_transfer_wears_the_colours_found_against_the_source(tiny, nsd, rows):
    """transfer:SOURCE makes no update on the target: it wears exactly the colours the
    renderer's attack on SOURCE ended with (same settings, same frames); transferred onto the
    source itself it reproduces that attack's final errors."""
    from dprobe.probes.generator_registry import make_generator

    batch = studio_batch(tiny, rows)
    config = AttackSettings(iterations=3, lr=0.3, threshold_mm=60.0, boxes="truth")
    found = attack(nsd, RendererGenerator(nsd.crop_size, tiny.frame_hw), batch, config)
    drnet = load("drnet")
    moved = attack(drnet, make_generator("transfer:nsd", drnet, tiny, load=load, settings=config),
                   batch, config)
    assert (moved.iterations == 0).all() and torch.equal(moved.h_final, found.h_final)
    true = batch["appearance"][:, COLOUR_ENTRIES]
    assert torch.allclose(moved.change, (found.h_final - true).norm(dim=1) / true.norm(dim=1))
    onto_itself = attack(nsd, make_generator("transfer:nsd", nsd, tiny, load=load,
                                             settings=config), batch, config)
    assert torch.allclose(onto_itself.final, found.final, atol=1e-3)


def test_success_within_a_budget_counts_paths_that_stayed_inside():
    from dprobe.probes.attack import success_within

    rows = [{"success": s, "change_path": p} for s, p in
            ((1, 0.1), (1, 0.4), (0, 0.2), (1, 0.9), (0, 1.5))]
    rates = success_within(rows + [{"success": 1, "change_path": None}], "change_path",
                           [0.0, 0.1, 0.5, 2.0])
    assert [r.value for r in rates] == [0.0, 0.2, 0.4, 0.6] and {r.n for r in rates} == {5}
    assert rates[2].low < 0.4 < rates[2].high
    assert success_within([{"success": 1, "delta_e_path": None}], "delta_e_path", [1.0]) == []


def test_a_colour_budget_keeps_every_colour_within_its_delta_e(tiny, nsd, rows):
    """renderer:DE: after every step each of the six colours is within CIE76 Delta E DE of its
    own (to the bisection's precision), on the straight RGB line to it; a colour already
    inside is not moved."""
    from dprobe.metrics.colour import delta_e76
    from dprobe.probes.attack_generators import within_delta_e
    from dprobe.probes.generator_registry import make_generator

    start = torch.rand(4, 18, generator=torch.Generator().manual_seed(3))
    far = torch.rand(4, 18, generator=torch.Generator().manual_seed(4))
    held = within_delta_e(far, start, 10.0)
    assert (delta_e76(held.view(-1, 6, 3), start.view(-1, 6, 3)) <= 10.0 + 1e-3).all()
    step, back = (far - start).view(-1, 6, 3), (held - start).view(-1, 6, 3)
    assert torch.allclose(torch.linalg.cross(step, back), torch.zeros_like(step), atol=1e-5)
    assert torch.equal(within_delta_e(start + 1e-4, start, 10.0), start + 1e-4)
    batch = studio_batch(tiny, rows)
    gen = make_generator("renderer:8", nsd, tiny, load=load)
    r = attack(nsd, gen, batch, AttackSettings(iterations=4, lr=0.3, threshold_mm=1e9,
                                              boxes="truth"))
    assert gen.name == "renderer:8" and (r.delta_e_path <= 8.0 + 1e-3).all()
    assert r.delta_e_path.max() > 6.0  # the limit binds: the steps go further
