"""Write the inputs of the C++ example program examples/embedding/cpp/pipeline and print Python's numbers.

    python examples/embedding/make_pipeline_inputs.py --export DIR --studio tiny.h5 --out inputs.pt
                                          [--frames 4] [--iterations 50] [--truth-boxes]

Takes evenly spaced frames of the studio with their camera backgrounds, saves them for the
program, and prints what it must reproduce: the exported model's prediction (``joints b`` + 51
values, mm) and the Python attack of dprobe.probes.attack (``attack b initial final iterations
success``), the model being its own generator.
"""
import argparse

import torch

from dprobe.data.studio import Studio
from dprobe.engines import load
from dprobe.engines.pipeline import save_inputs
from dprobe.probes.attack import AttackSettings, attack, studio_batch
from dprobe.probes.attack_generators import DecoderGenerator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", required=True, help="export folder (dprobe export)")
    ap.add_argument("--studio", required=True, help="studio HDF5 file")
    ap.add_argument("--out", required=True, help="inputs file to write")
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--truth-boxes", action="store_true", help="crop the studio's boxes, not S")
    args = ap.parse_args()
    torch.set_num_threads(2)
    studio = Studio.open(args.studio)
    rows = torch.linspace(0, studio.n - 1, args.frames).round().long()
    batch = studio_batch(studio, rows)
    boxes = batch["box"] if args.truth_boxes else None
    save_inputs(args.out, batch["frame"], batch["background"], boxes)
    engine = load(args.export, "eager")
    for b, joints in enumerate(engine.predict(batch["frame"])):
        print(f"joints {b} " + " ".join(f"{v:.9g}" for v in joints.flatten().tolist()))
    model = engine.model
    config = AttackSettings(iterations=args.iterations,
                          boxes="truth" if args.truth_boxes else "detector")
    result = attack(model, DecoderGenerator(model, "self"), batch, config)
    for b in range(rows.numel()):
        print(f"attack {b} {float(result.initial[b]):.9g} {float(result.final[b]):.9g} "
              f"{int(result.iterations[b])} {int(result.success[b])}")


if __name__ == "__main__":
    main()
