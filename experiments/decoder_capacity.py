"""Can the reference decoder draw arms, given codes that hold them? (the PSNR-in-the-mask bar)

    python -m experiments.decoder_capacity --studio standard.h5 --out runs/decoder-capacity \
        --code oracle --code cssl [--decoder plain --decoder positions] [--steps 6000] \
        [--frames 1000] [--threads 2]

Trains a fresh reference ``Decoder`` alone (same architecture and sizes as the shipped models',
``dprobe.models.network``; same seed, steps, batch and schedule for every code) with the best
reconstruction objective measured (foreground x16 + hard pixels, ``RECONSTRUCTION``) on every
training subject's frames, from codes given by:

- ``oracle``: what the studio knows of each frame. ``h_p`` the 17 joints in the crop (x and y
  scaled to [-1, 1] over the crop, depth root-relative in metres: 51 values), ``h_a`` the
  renderer's appearance vector (25 values, ``dprobe.data.appearance``). They fix the picture up
  to the renderer's shading, so a decoder that misses the arms from them misses them for want
  of capacity or training, not of information.
- a model name or checkpoint directory: that model's frozen encoder's codes of the crop.

``--decoder`` (repeat) picks other kinds beside or instead of the ``plain`` one: ``positions``
(``NetworkConfig(coordinates=True)``: every block also sees each pixel's position), ``wide``
(twice the channels at 64 and 32 px), ``start8`` (the pose code's linear layer fills an 8x8
map), ``modulated`` (the appearance code scales and shifts every block's features, FiLM),
``joint-maps`` (oracle codes only: the joints also drawn as Gaussian blobs at every resolution,
the decoding half of a keypoint bottleneck) and ``joint-maps-modulated`` (both);
``experiments.point_map_decoder``.

Then splits each decoder's error inside the mask between the body regions on the evaluation
frames of ``dprobe evaluate`` (``experiments.mask_error``; S9 and S11, ``--frames`` each),
beside each named model's own (shipped) decoder. The same decoder on oracle codes and on a
model's codes separates the two places the arms can be lost: the decoder or the code.
Resumable: a code whose ``figures.json`` exists in ``--out`` is not trained again
(``--reevaluate`` measures its saved decoder again).
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from dprobe.data.appearance import APPEARANCE_DIM
from dprobe.data.studio import Studio
from dprobe.data.subjects import training_subjects
from dprobe.frameworks.losses import ReconstructionWeights, reconstruction_loss
from dprobe.frameworks.schedule import set_scheduled_lr
from dprobe.metrics.body_regions import crop_coordinates
from dprobe.models.network import Decoder, NetworkConfig
from dprobe.models.protocol import composite
from dprobe.models.registry import load
from dprobe.report.tables import markdown_table
from experiments.mask_error import (
    COLUMNS,
    Reconstruct,
    evaluation_batches,
    model_reconstruction,
    reconstruction_row,
    subject_columns,
)
from experiments.point_map_decoder import PointMapDecoder

#: The best reconstruction objective measured side by side (experiments/compare_reconstruction.py).
RECONSTRUCTION = ReconstructionWeights(foreground=16.0, hard=1.0)
#: The shipped models' decoders trained for about this many steps (45 minutes).
DEFAULT_STEPS = 6000
#: The joint blobs' width for ``joint-maps``, in crop half-widths (about 2 px of a 64 px crop).
JOINT_SIGMA = 0.06
#: The decoders compared, each made from the code's decoder sizes: the shipped architecture;
#: every block seeing pixel positions; twice the channels at the two finest resolutions; the
#: pose code's linear layer filling an 8x8 map instead of 4x4; the appearance code modulating
#: every block; the pose code's points drawn at every resolution (oracle codes only: their
#: ``h_p`` is the joints in the crop), alone and with the modulation (``point_map_decoder.py``).
DECODERS: dict[str, Callable[[NetworkConfig], nn.Module]] = {
    "plain": Decoder,
    "positions": lambda cfg: Decoder(replace(cfg, coordinates=True)),
    "wide": lambda cfg: Decoder(replace(cfg, width=32)),
    "start8": lambda cfg: PointMapDecoder(cfg, start=8),
    "modulated": lambda cfg: PointMapDecoder(cfg, modulate=True),
    "joint-maps": lambda cfg: PointMapDecoder(cfg, sigma=JOINT_SIGMA),
    "joint-maps-modulated": lambda cfg: PointMapDecoder(cfg, sigma=JOINT_SIGMA, modulate=True),
}
#: The kinds that read ``h_p`` as the joints in the crop.
ORACLE_ONLY = ("joint-maps", "joint-maps-modulated")
#: The figures recorded along the way with ``--curve-every``.
CURVE = ("psnr_mask", "arm_to_rest")
#: Codes ``(h_a, h_p)`` of studio rows ``(B,)`` and their crops ``(B, 3, c, c)``.
Codes = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def oracle_codes(studio: Studio) -> tuple[Codes, NetworkConfig]:
    """The studio's own description of each frame as codes, and the decoder sizes for them."""
    c = studio.crop_size

    def codes(rows: Tensor, crop: Tensor) -> tuple[Tensor, Tensor]:
        xy = (crop_coordinates(studio.joints2d[rows], studio.boxes[rows], c) + 0.5) / c * 2 - 1
        depth = studio.pose(rows)[..., 2:] / 1000
        return studio.appearance[rows], torch.cat((xy, depth), dim=-1).flatten(1)

    joints = studio.joints2d.shape[1]
    return codes, NetworkConfig(crop_size=c, dim_app=APPEARANCE_DIM, dim_pose=3 * joints)


def model_codes(name: str) -> tuple[Codes, NetworkConfig]:
    """A model's frozen encoder's codes of each crop, and its decoder sizes."""
    model = load(name)

    @torch.no_grad()
    def codes(rows: Tensor, crop: Tensor) -> tuple[Tensor, Tensor]:
        return model.encode(crop)

    return codes, model.network


def train_decoder(codes: Codes, make: Callable[[], nn.Module], studio: Studio, steps: int,
                  seed: int, batch_size: int = 32, lr: float = 1e-3, warmup: int = 100,
                  every: int = 0, on_every: Callable[[int, nn.Module], None] | None = None
                  ) -> nn.Module:
    """A fresh decoder ``make()`` trained on ``codes`` of random training-subject frames (Adam,
    the frameworks' warmup + cosine schedule), channels-last as the frameworks train;
    ``on_every(step, decoder)`` after every ``every`` steps (the decoder in eval mode)."""
    torch.manual_seed(seed)
    decoder = make().to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    rows = studio.select(subjects=training_subjects(studio.subject_names))
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        batch = rows[torch.randint(rows.numel(), (batch_size,), generator=gen)]
        crop, bg = studio.image(batch), studio.background(batch)
        set_scheduled_lr(optimizer, lr, step, steps, warmup)
        optimizer.zero_grad(set_to_none=True)
        reconstruction_loss(*decoder(*codes(batch, crop)), bg, crop, RECONSTRUCTION).backward()
        optimizer.step()
        if on_every is not None and every and (step + 1) % every == 0 and step + 1 < steps:
            on_every(step + 1, decoder.eval())
            decoder.train()
    return decoder.eval()


def decoder_reconstruction(decoder: nn.Module, codes: Codes) -> Reconstruct:
    """``decoder``'s reconstruction of each frame from ``codes``, over the crop's background."""
    return lambda rows, crop, bg: composite(*decoder(*codes(rows, crop)), bg)


def run_code(code: str, decoder_kind: str, studio: Studio, batches: list, out: Path,
             args: argparse.Namespace) -> dict:
    """Train (or read back) one kind of decoder on one code and return its figures; with
    ``args.reevaluate``, measure a decoder trained before again (its training figures kept)."""
    figures_path, weights_path = out / "figures.json", out / "decoder.safetensors"
    if decoder_kind in ORACLE_ONLY and code != "oracle":
        raise SystemExit(f"--decoder {decoder_kind} reads h_p as the joints in the crop: "
                         "oracle codes only")
    trained = figures_path.is_file()
    if trained and not args.reevaluate:
        return json.loads(figures_path.read_text())
    codes, cfg = oracle_codes(studio) if code == "oracle" else model_codes(code)
    if trained:
        figures = json.loads(figures_path.read_text())
        if not weights_path.is_file():
            raise SystemExit(f"--reevaluate: {weights_path} is missing")
        decoder = DECODERS[decoder_kind](cfg)
        decoder.load_state_dict(load_file(weights_path))
        figures.update(reconstruction_row(decoder_reconstruction(decoder.eval(), codes), batches),
                       frames=args.frames)
        figures_path.write_text(json.dumps(figures, indent=2))
        return figures
    curve = []

    def measure(step: int, decoder: nn.Module) -> None:
        figures = reconstruction_row(decoder_reconstruction(decoder, codes), batches)
        curve.append({"step": step, **{k: figures[k] for k in CURVE}})
        print(f"  {code}, {decoder_kind}: {json.dumps(curve[-1])}", flush=True)

    start = time.monotonic()
    decoder = train_decoder(codes, lambda: DECODERS[decoder_kind](cfg), studio, args.steps,
                            args.seed, every=args.curve_every, on_every=measure)
    seconds = time.monotonic() - start
    save_file({k: v.contiguous() for k, v in decoder.state_dict().items()}, weights_path)
    figures = {**reconstruction_row(decoder_reconstruction(decoder, codes), batches),
               "frames": args.frames, "steps": args.steps, "train_s": round(seconds, 1),
               "curve": curve}
    figures_path.write_text(json.dumps(figures, indent=2))
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--studio", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--code", action="append", required=True,
                   help="'oracle', or a model whose frozen encoder gives the codes (repeat)")
    p.add_argument("--decoder", action="append", choices=tuple(DECODERS),
                   help="the fresh decoders' kind (repeat; default plain)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--curve-every", type=int, default=0,
                   help="also measure the decoder every this many steps (training and "
                        "measurement time included in train_s)")
    p.add_argument("--reevaluate", action="store_true",
                   help="measure the decoders trained before again (e.g. after the table gained "
                        "columns); their training figures are kept")
    p.add_argument("--frames", type=int, default=1000, help="evenly spaced frames per subject")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    studio = Studio.open(args.studio)
    batches = evaluation_batches(studio, args.frames)
    rows = {}
    for code in args.code:
        for kind in args.decoder or ["plain"]:
            out = Path(args.out) / (code.replace("/", "_") + ("" if kind == "plain" else f"-{kind}")
                                    + ("" if args.steps == DEFAULT_STEPS else f"-{args.steps}"))
            out.mkdir(parents=True, exist_ok=True)
            label = f"fresh {kind} decoder, {code} codes"
            rows[label] = run_code(code, kind, studio, batches, out, args)
            print(f"{label}: {json.dumps(rows[label])}", flush=True)
        if code != "oracle":
            rows[f"{code}'s own decoder"] = reconstruction_row(model_reconstruction(load(code)),
                                                                   batches)
    print(f"fresh decoders, {args.steps} steps each; S9 + S11 ({args.frames} frames each):")
    print(markdown_table(rows, COLUMNS + subject_columns(batches), label="decoder, codes"), end="")


if __name__ == "__main__":
    main()
