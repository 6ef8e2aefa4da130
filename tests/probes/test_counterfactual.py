"""Counterfactual renders reproduce the studio's crops and keep the pose subject's body shape."""
from __future__ import annotations

import torch

from dprobe.data import appearance as A
from dprobe.probes.counterfactual import Scene, with_shape


def test_own_appearance_reproduces_the_stored_crops(tiny):
    scene = Scene(tiny)
    rows = scene.rows("S7", 1)
    assert len(rows) == 4 and set(tiny.camera[rows].tolist()) == {0, 1, 2, 3}
    drawn = scene.render(rows, tiny.appearance[rows])
    assert (drawn - tiny.image(rows)).abs().max() <= 1 / 255 + 1e-6
    assert (drawn - tiny.image(rows)).abs().mean() < 1e-3


def test_counterfactual_changes_clothes_not_shape(tiny):
    scene = Scene(tiny)
    rows = scene.rows("S7", 1)[:2]
    s8 = scene.appearance_of("S8")
    mixed = with_shape(s8.expand(2, -1), tiny.appearance[rows])
    assert torch.equal(mixed[:, A.SHIRT], s8[A.SHIRT].expand(2, -1))
    assert torch.equal(mixed[:, A.HEIGHT], tiny.appearance[rows][:, A.HEIGHT])
    drawn = scene.render(rows, s8)
    assert (drawn - tiny.image(rows)).abs().amax(dim=(1, 2, 3)).min() > 0.3


def test_partner_rows_share_cameras_but_not_frames(tiny):
    scene = Scene(tiny)
    a, b = scene.rows("S7", 2), scene.rows("S7", 2, offset=0.5)
    assert torch.equal(tiny.camera[a], tiny.camera[b])
    assert not torch.equal(a, b)
