"""Where inside the person a model's reconstruction goes wrong (the PSNR-in-the-mask bar).

    python -m experiments.mask_error --studio standard.h5 --model nsd --model cssl ... \
        [--frames 1000] [--threads 2]

On the evaluation frames of ``dprobe evaluate`` (S9 and S11, ``--frames`` evenly spaced each;
``--subjects`` for others), splits the squared error of each model's reconstruction (its own
codes, composited over the crop's background) inside the person's mask between the body
regions of ``dprobe.metrics.body_regions`` (arms, legs, rest), and asks two what-ifs of the
PSNR inside the mask (mean over frames, as ``dprobe evaluate``): with the arms' pixels exact,
and with the arms' pixels as wrong on average as the rest of the mask. Also the PSNR in the
mask per subject and the reconstruction's shift of the model's own prediction (mm, as
``dprobe evaluate``'s ``reconstruction_shift``).

References that need no model: the true crop blurred inside the mask by a Gaussian of 0.7 and
1 px, and the studio's renderer drawing the same person less finely (``drawn_references``):
the shirt's pattern as its mean colour, unshaded (each part its flat colour), both.

``--plain-shirts`` measures every model on the same frames rendered again with each shirt
solid, the mean of its pattern's colours: what the pattern costs a decoder. Prints a Markdown
table.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from dprobe.data import appearance as A
from dprobe.data.batches import evenly_spaced
from dprobe.data.datasets import EvalFrames
from dprobe.data.render import AMBIENT, PersonLayer, render_crop
from dprobe.data.studio import Studio
from dprobe.data.subjects import TEST_SUBJECTS
from dprobe.metrics.body_regions import body_regions
from dprobe.metrics.image import gaussian_window, psnr
from dprobe.metrics.pose import mpjpe
from dprobe.models.protocol import composite
from dprobe.models.reference import ReferenceModel
from dprobe.models.registry import load
from dprobe.report.tables import markdown_table

COLUMNS = (("psnr_mask", "PSNR in mask dB", "{:.2f}"),
           ("arm_area", "arms' share of the mask", "{:.0%}"),
           ("arm_share", "arms' share of the error", "{:.0%}"),
           ("leg_share", "legs' share of the error", "{:.0%}"),
           ("arm_to_rest", "arms' MSE / rest's", "{:.2f}"),
           ("arms_as_rest", "PSNR in mask, arms as good as the rest dB", "{:.2f}"),
           ("perfect_arms", "PSNR in mask, arms exact dB", "{:.2f}"))


def _db(mse: Tensor) -> Tensor:
    return 10 * torch.log10(1 / mse.clamp_min(1e-10))


def _blurred(crop: Tensor, mask: Tensor, sigma: float) -> Tensor:
    """The crop with the person's pixels blurred by a Gaussian of ``sigma`` px."""
    g = gaussian_window(7, sigma)
    x = F.pad(crop, (3, 3, 3, 3), mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, 7).expand(3, 1, 1, 7), groups=3)
    x = F.conv2d(x, g.view(1, 1, 7, 1).expand(3, 1, 7, 1), groups=3)
    return mask * x + (1 - mask) * crop


#: ``(studio rows (B,), crops, backgrounds, masks (B, ., c, c), body regions, subject)``.
Batch = tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Tensor], str]
#: A reconstruction: ``(studio rows (B,), crops, backgrounds (B, 3, c, c))`` -> composite
#: ``(B, 3, c, c)``.
Reconstruct = Callable[[Tensor, Tensor, Tensor], Tensor]


def _plain_shirt(appearance: Tensor) -> Tensor:
    """Appearances ``(B, 25)`` with the shirt solid, the mean of its pattern's two colours (the
    stripes' and the checks' square waves are half each colour)."""
    out = appearance.clone()
    out[:, A.SHIRT] = (appearance[:, A.SHIRT] + appearance[:, A.SHIRT2]) / 2
    out[:, A.PATTERN] = torch.tensor([1.0, 0.0, 0.0])
    return out


def _person_layer(studio: Studio, rows: Tensor, appearance: Tensor, ambient: float = AMBIENT
                  ) -> PersonLayer:
    """The renderer's person in the crops of studio ``rows`` (their joints, cameras and boxes,
    black outside the frame as the studio's crops) wearing ``appearance (B, 25)``."""
    cams = studio.camera[rows]
    R, t, K = (studio.cameras[k][cams] for k in ("R", "t", "K"))
    return render_crop(studio.joints3d_world[rows], appearance, R, t, K, studio.boxes[rows],
                       studio.crop_size, frame_hw=studio.frame_hw, ambient=ambient).layer


def evaluation_batches(studio: Studio, frames: int, batch_size: int = 128,
                       subjects: tuple[str, ...] = TEST_SUBJECTS, plain_shirts: bool = False
                       ) -> list[Batch]:
    """The evaluation frames (``frames`` evenly spaced of each subject's), read once for every
    model: studio rows, crops, backgrounds and masks ``(B, ., c, c)`` and their body regions.
    With ``plain_shirts`` the crops are rendered again with each shirt solid, its pattern's
    mean colour (the same silhouette, so the same masks and regions)."""
    batches = []
    for subject in subjects:
        rows = EvalFrames(studio, subject).rows
        rows = rows[evenly_spaced(len(rows), frames)]
        for lo in range(0, len(rows), batch_size):
            chunk = rows[lo: lo + batch_size]
            crop, bg = studio.image(chunk), studio.background(chunk)
            if plain_shirts:
                crop = _person_layer(studio, chunk, _plain_shirt(studio.appearance[chunk])).over(bg)
            batches.append((chunk, crop, bg, studio.mask(chunk),
                            body_regions(studio.joints2d[chunk], studio.pose(chunk),
                                         studio.boxes[chunk], studio.crop_size), subject))
    return batches


def model_reconstruction(model: ReferenceModel) -> Reconstruct:
    """A model's reconstruction of a crop from its own codes, over the crop's background."""
    return lambda rows, crop, bg: composite(*model.decode(*model.encode(crop)), bg)


@torch.no_grad()
def shift_row(model: ReferenceModel, batches: list[Batch]) -> dict[str, float]:
    """The reconstruction's shift of a model's own prediction (mm, mean over frames, as
    ``dprobe evaluate``'s ``reconstruction_shift``), over all frames and per subject."""
    values: dict[str, list[Tensor]] = {"shift": []}
    for _, crop, bg, _, _, subject in batches:
        h_a, h_p = model.encode(crop)
        x = composite(*model.decode(h_a, h_p), bg)
        shift = mpjpe(model.regress(model.encode(x)[1]), model.regress(h_p))
        values["shift"].append(shift)
        values.setdefault(f"shift {subject}", []).append(shift)
    return {k: float(torch.cat(v).mean()) for k, v in values.items()}


@torch.no_grad()
def reconstruction_row(reconstruct: Reconstruct, batches: list[Batch]) -> dict[str, float]:
    """Mean figures over frames of one reconstruction (see the module doc), and the PSNR in the
    mask of each subject's frames alone (``subject_columns``)."""
    values: dict[str, list[Tensor]] = {k: [] for k, _, _ in COLUMNS}
    for rows, crop, bg, mask, regions, subject in batches:
        x = reconstruct(rows, crop, bg)
        error = ((x - crop) ** 2).mean(1, keepdim=True)                 # (B, 1, c, c)
        arms, legs = regions["arms"] * mask, regions["legs"] * mask
        rest = mask - arms                               # the mask outside the arms, legs included

        def total(w: Tensor) -> Tensor:
            return (error * w).sum((1, 2, 3))

        area = mask.sum((1, 2, 3))
        rest_mse = total(rest) / rest.sum((1, 2, 3))
        values["psnr_mask"].append(psnr(x, crop, mask))
        values.setdefault(f"psnr_mask {subject}", []).append(values["psnr_mask"][-1])
        values["arm_area"].append(arms.sum((1, 2, 3)) / area)
        values["arm_share"].append(total(arms) / total(mask))
        values["leg_share"].append(total(legs) / total(mask))
        values["arm_to_rest"].append(total(arms) / arms.sum((1, 2, 3)).clamp_min(1e-9) / rest_mse)
        values["arms_as_rest"].append(_db((total(rest) + rest_mse * arms.sum((1, 2, 3))) / area))
        values["perfect_arms"].append(_db(total(rest) / area))
    return {k: float(torch.cat(v).nanmean()) for k, v in values.items()}


def subject_columns(batches: list[Batch], shift: bool = False) -> tuple[tuple[str, str, str], ...]:
    """Table columns of the PSNR in the mask per subject of ``batches`` (and of the
    reconstruction's shift, overall and per subject, with ``shift``)."""
    subjects = tuple(dict.fromkeys(b[-1] for b in batches))
    columns = tuple((f"psnr_mask {s}", f"PSNR in mask, {s} dB", "{:.2f}") for s in subjects)
    if shift:
        columns += (("shift", "shift mm", "{:.1f}"),) + tuple(
            (f"shift {s}", f"shift, {s} mm", "{:.1f}") for s in subjects)
    return columns


def blur_references(batches: list[Batch]) -> dict[str, float]:
    """PSNR in the mask of the true crop blurred inside the mask, per blur."""
    out: dict[str, list[Tensor]] = {"0.7": [], "1.0": []}
    for _, crop, _, mask, _, _ in batches:
        for sigma in out:
            out[sigma].append(psnr(_blurred(crop, mask, float(sigma)), crop, mask))
    return {sigma: float(torch.cat(v).mean()) for sigma, v in out.items()}


@torch.no_grad()
def drawn_references(studio: Studio, batches: list[Batch]) -> dict[str, float]:
    """PSNR in the mask of the renderer's crops of the same person (same joints, camera, box
    and silhouette) drawn less finely, over the crop's background: the shirt's pattern as its
    mean colour; unshaded (flat part colours, scaled to the true crop's mean brightness inside
    the mask, which shading lowers); both."""
    out: dict[str, list[Tensor]] = {"pattern as its mean colour": [], "unshaded": [],
                                    "unshaded, pattern as its mean colour": []}
    for rows, crop, bg, mask, _, _ in batches:
        appearance = studio.appearance[rows]
        for name, app, ambient in zip(out, (_plain_shirt(appearance), appearance,
                                            _plain_shirt(appearance)), (AMBIENT, 1.0, 1.0)):
            layer = _person_layer(studio, rows, app, ambient)
            if ambient == 1.0:
                gain = (crop * mask).sum((1, 2, 3)) / (layer.color * mask).sum((1, 2, 3))
                layer = replace(layer, color=layer.color * gain.clamp_min(0)[:, None, None, None])
            out[name].append(psnr(layer.over(bg), crop, mask))
    return {name: float(torch.cat(v).mean()) for name, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studio", required=True)
    p.add_argument("--model", action="append", required=True,
                   help="a shipped model name or a checkpoint directory (repeat)")
    p.add_argument("--frames", type=int, default=1000, help="evenly spaced frames per subject")
    p.add_argument("--subjects", nargs="+", default=list(TEST_SUBJECTS),
                   help="the subjects whose frames are measured (default: the test subjects, "
                        "as dprobe evaluate; training subjects show how well a decoder fits)")
    p.add_argument("--plain-shirts", action="store_true",
                   help="measure crops rendered again with every shirt solid (its pattern's "
                        "mean colour) instead of the captured ones")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    studio = Studio.open(args.studio)
    batches = evaluation_batches(studio, args.frames, subjects=tuple(args.subjects),
                                 plain_shirts=args.plain_shirts)
    models = {name: load(name) for name in args.model}
    rows = {name: {**reconstruction_row(model_reconstruction(model), batches),
                   **shift_row(model, batches)} for name, model in models.items()}
    print(markdown_table(rows, COLUMNS + subject_columns(batches, shift=True)), end="")
    blurred = blur_references(batches)
    print("true crop blurred inside the mask: "
          + ", ".join(f"sigma {s} px -> {v:.2f} dB" for s, v in blurred.items()))
    if not args.plain_shirts:  # the references are drawn against the captured patterns
        print("the renderer's crop drawn less finely: " + ", ".join(
            f"{name} -> {v:.2f} dB" for name, v in drawn_references(studio, batches).items()))


if __name__ == "__main__":
    main()
