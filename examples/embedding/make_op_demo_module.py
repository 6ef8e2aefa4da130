"""Write the TorchScript module run by the C++ example program examples/embedding/cpp/dprobe_op_demo.

    python examples/embedding/make_op_demo_module.py OUT.pt [--seed N]

The module's forward(fg, mask, background, src_theta, dst_theta) returns a scalar loss on
torch.ops.dprobe.composite_crop; it carries example inputs as attributes example_<name> so the C++
program needs nothing else. Prints the loss and gradient norms computed in Python (eager), which
the C++ program must reproduce.
"""

import argparse
import math
from typing import List  # noqa: UP035  (TorchScript annotations)

import torch

import dprobe.ops  # loads the op library

INPUT_NAMES = ("fg", "mask", "background", "src_theta", "dst_theta")


class CompositeCropLoss(torch.nn.Module):
    out_size: List[int]  # noqa: UP006

    def __init__(self, example_inputs: tuple, out_size: list, weight: torch.Tensor):
        super().__init__()
        self.out_size = [int(out_size[0]), int(out_size[1])]
        self.register_buffer("weight", weight)
        for name, t in zip(INPUT_NAMES, example_inputs):
            self.register_buffer("example_" + name, t.detach().clone())

    def forward(self, fg, mask, background, src_theta, dst_theta):
        crop = torch.ops.dprobe.composite_crop(
            fg, mask, background, src_theta, dst_theta, self.out_size
        )
        return (crop * self.weight).sum()


def example_inputs(seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    B, C, h, w, H, W, oh, ow = 3, 3, 24, 20, 72, 96, 16, 18
    fg = torch.rand(B, C, h, w, generator=g, dtype=dtype)
    mask = torch.rand(B, 1, h, w, generator=g, dtype=dtype)
    bg = torch.rand(1, C, H, W, generator=g, dtype=dtype)
    ang = (torch.rand(B, generator=g, dtype=dtype) - 0.5) * 0.8
    sc = 0.3 + 0.3 * torch.rand(B, generator=g, dtype=dtype)
    rot = torch.stack(
        [torch.stack([ang.cos(), -ang.sin()], -1), torch.stack([ang.sin(), ang.cos()], -1)], -2
    )
    t = torch.rand(B, 2, 1, generator=g, dtype=dtype) - 0.5
    src = torch.cat([rot * sc[:, None, None], t], 2)
    dst = torch.cat([rot.transpose(1, 2) * (sc[:, None, None] * 1.1), t + 0.05], 2)
    weight = torch.randn(B, C, oh, ow, generator=g, dtype=dtype)
    return (fg, mask, bg, src, dst), [oh, ow], weight


def make_module(seed: int = 0) -> torch.jit.ScriptModule:
    inputs, out_size, weight = example_inputs(seed)
    return torch.jit.script(CompositeCropLoss(inputs, out_size, weight))


def eager_reference(module) -> dict:
    """Loss and gradient norms in Python, as the C++ program prints them."""
    leaves = [
        getattr(module, "example_" + n).detach().clone().requires_grad_() for n in INPUT_NAMES
    ]
    loss = module(*leaves)
    loss.backward()
    out = {"loss": float(loss.detach())}
    total = 0.0
    for name, t in zip(INPUT_NAMES, leaves):
        n = float(t.grad.double().norm())
        out[name] = n
        total += n * n
    out["total"] = math.sqrt(total)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    module = make_module(args.seed)
    module.save(args.out)
    ref = eager_reference(torch.jit.load(args.out))
    print(f"loss {ref['loss']:.17g}")
    for name in (*INPUT_NAMES, "total"):
        print(f"grad_norm {name} {ref[name]:.17g}")
    print(f"op library: {dprobe.ops.library_path()}")


if __name__ == "__main__":
    main()
