"""Subject appearance: a documented vector, the named studio subjects, and a sampler.

The appearance vector (``APPEARANCE_DIM = 25`` float32 values) is laid out as:

====== =========================================================================
index  meaning
====== =========================================================================
0-2    skin colour, RGB in [0, 1]
3-5    hair colour, RGB
6-8    shirt primary colour, RGB
9-11   shirt secondary colour (stripes / checks), RGB
12-14  shirt pattern, one-hot: solid, stripes, checks
15     pattern period, in units of 100 mm on the body surface
16-18  trousers colour, RGB
19-21  shoes colour, RGB
22     height scale (1 = 1.75 m tall)
23     build scale (width of hips, shoulders and limbs)
24     sleeves: 1 long, 0 short (forearms show skin)
====== =========================================================================
"""
from __future__ import annotations

import torch
from torch import Tensor

from dprobe.data.skeleton import BodyShape

APPEARANCE_DIM = 25
SKIN, HAIR, SHIRT, SHIRT2, PATTERN, PERIOD, TROUSERS, SHOES, HEIGHT, BUILD, SLEEVES = (
    slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 12), slice(12, 15), 15, slice(16, 19),
    slice(19, 22), 22, 23, 24,
)
PATTERNS = ("solid", "stripes", "checks")



def make_appearance(skin, hair, shirt, shirt2, pattern: str, period: float, trousers, shoes,
                    height: float, build: float, long_sleeves: bool) -> Tensor:
    """One appearance vector (25,) from named parts (colours as RGB triples in [0, 1])."""
    v = torch.zeros(APPEARANCE_DIM)
    v[SKIN], v[HAIR], v[SHIRT], v[SHIRT2] = (torch.tensor(c, dtype=torch.float32)
                                             for c in (skin, hair, shirt, shirt2))
    v[PATTERN] = torch.nn.functional.one_hot(torch.tensor(PATTERNS.index(pattern)), 3).float()
    v[PERIOD] = period
    v[TROUSERS], v[SHOES] = (torch.tensor(c, dtype=torch.float32) for c in (trousers, shoes))
    v[HEIGHT], v[BUILD], v[SLEEVES] = height, build, float(long_sleeves)
    return v


#: The seven named subjects; S7 wears a red shirt (the paper's running example).
SUBJECT_APPEARANCE: dict[str, Tensor] = {
    "S1": make_appearance((0.93, 0.76, 0.64), (0.35, 0.22, 0.1), (0.15, 0.35, 0.75),
                          (0.95, 0.95, 0.95), "stripes", 0.9, (0.2, 0.2, 0.25),
                          (0.1, 0.1, 0.1), 0.96, 0.95, False),
    "S5": make_appearance((0.78, 0.57, 0.43), (0.08, 0.06, 0.05), (0.92, 0.85, 0.3),
                          (0.2, 0.2, 0.2), "solid", 1.0, (0.15, 0.25, 0.5),
                          (0.9, 0.9, 0.9), 0.95, 0.9, True),
    "S6": make_appearance((0.55, 0.38, 0.26), (0.05, 0.05, 0.05), (0.2, 0.6, 0.3),
                          (0.9, 0.9, 0.85), "checks", 1.2, (0.55, 0.45, 0.3),
                          (0.35, 0.2, 0.1), 1.04, 1.12, False),
    "S7": make_appearance((0.96, 0.8, 0.7), (0.75, 0.55, 0.25), (0.85, 0.1, 0.1),
                          (0.85, 0.1, 0.1), "solid", 1.0, (0.1, 0.12, 0.3),
                          (0.95, 0.95, 0.95), 0.98, 0.95, False),
    "S8": make_appearance((0.86, 0.66, 0.5), (0.2, 0.12, 0.06), (0.95, 0.95, 0.95),
                          (0.1, 0.1, 0.1), "stripes", 0.6, (0.05, 0.05, 0.05),
                          (0.5, 0.1, 0.1), 1.06, 1.05, True),
    "S9": make_appearance((0.7, 0.5, 0.36), (0.1, 0.08, 0.06), (0.5, 0.5, 0.55),
                          (0.2, 0.3, 0.7), "checks", 0.8, (0.3, 0.3, 0.32),
                          (0.15, 0.1, 0.05), 1.03, 1.08, True),
    "S11": make_appearance((0.9, 0.72, 0.6), (0.45, 0.3, 0.15), (0.4, 0.2, 0.55),
                           (0.95, 0.8, 0.3), "stripes", 1.1, (0.7, 0.65, 0.55),
                           (0.2, 0.2, 0.2), 1.0, 1.0, False),
}


def sample_appearances(n: int, gen: torch.Generator) -> Tensor:
    """``n`` random appearance vectors ``(n, 25)``: varied skin, clothes, patterns and builds."""
    def rgb() -> Tensor:
        return torch.rand(n, 3, generator=gen)

    v = torch.zeros(n, APPEARANCE_DIM)
    tone = torch.rand(n, 1, generator=gen)
    light, dark = torch.tensor([0.96, 0.8, 0.68]), torch.tensor([0.4, 0.26, 0.16])
    v[:, SKIN] = dark + (light - dark) * tone
    v[:, HAIR] = torch.rand(n, 1, generator=gen) * torch.tensor([0.8, 0.55, 0.3]) + 0.03
    v[:, SHIRT], v[:, SHIRT2], v[:, TROUSERS], v[:, SHOES] = rgb(), rgb(), rgb() * 0.8, rgb() * 0.7
    pattern = torch.randint(0, 3, (n,), generator=gen)
    v[:, PATTERN] = torch.nn.functional.one_hot(pattern, 3).float()
    v[:, PERIOD] = 0.5 + 0.9 * torch.rand(n, generator=gen)
    v[:, HEIGHT] = 0.9 + 0.2 * torch.rand(n, generator=gen)
    v[:, BUILD] = 0.85 + 0.3 * torch.rand(n, generator=gen)
    v[:, SLEEVES] = (torch.rand(n, generator=gen) < 0.5).float()
    return v


def body_shape(appearance: Tensor) -> BodyShape:
    """The skeleton proportions encoded in one appearance vector (25,)."""
    return BodyShape(height=float(appearance[HEIGHT]), build=float(appearance[BUILD]))


def describe(appearance: Tensor) -> str:
    """A short human-readable description of one appearance vector."""
    pattern = PATTERNS[int(appearance[PATTERN].argmax())]
    shirt = tuple(round(float(c), 2) for c in appearance[SHIRT])
    sleeves = "long" if appearance[SLEEVES] > 0.5 else "short"
    return (f"shirt {pattern} rgb{shirt}, {sleeves} sleeves, height x{float(appearance[HEIGHT]):.2f},"
            f" build x{float(appearance[BUILD]):.2f}")
