"""The probes' controls: the probes are trusted only while these hold.

- the studio wrapped as a model (disentangled by construction): leak ~0, retention ~0;
- a model whose decoder ignores h_a (appearance travels in the pose code): leak ~1,
  retention ~1, and the channel probe finds the appearance channels (also by nearest pose,
  as on a real capture);
- DC of independent codes ~0 and of a rotated, scaled copy = 1, and linear probes of random
  codes at chance, are in tests/metrics/test_disentanglement.py and test_embedding.py.
"""
from __future__ import annotations

import copy

import pytest
import torch

from dprobe.data.appearance import APPEARANCE_DIM
from dprobe.probes.channels import channel_probe, nearest_pose_probability
from dprobe.probes.controls import AppearanceBlindModel
from dprobe.probes.counterfactual import Scene
from dprobe.probes.swap import swap_probe
from dprobe.probes.zero_appearance import zero_appearance_probe

PAIR = ("S7", "S8")


def test_studio_model_swaps_cleanly(studio_model):
    model, scene = studio_model
    r = swap_probe(model, scene, subjects=PAIR, per_camera=1).numbers()
    assert r["leak"][0][1] == pytest.approx(0.0, abs=0.02)
    assert r["leak"][1][0] == pytest.approx(0.0, abs=0.02)
    assert r["featured"]["leak_raw"] == pytest.approx(0.0, abs=0.02)


def test_blind_decoder_leaks_everything(blind_model):
    model, scene = blind_model
    r = swap_probe(model, scene, subjects=PAIR, per_camera=1).numbers()
    assert r["leak"][0][1] == pytest.approx(1.0, abs=0.02)
    assert r["featured"]["leak_raw"] == pytest.approx(1.0, abs=0.02)


def test_retention_zero_for_the_studio_one_for_the_blind_decoder(studio_model, blind_model):
    kwargs = {"subjects": ("S7", "S8", "S5"), "pose_subjects": ("S9",), "per_camera": 1}
    clean = zero_appearance_probe(*studio_model, **kwargs).numbers()
    blind = zero_appearance_probe(*blind_model, **kwargs).numbers()
    assert clean["retention_zero"] == pytest.approx(0.0, abs=0.02)
    assert clean["retention_mean"] == pytest.approx(0.0, abs=0.02)
    assert blind["retention_zero"] == pytest.approx(1.0, abs=0.02)
    assert blind["retention_mean"] == pytest.approx(1.0, abs=0.02)


def test_channel_probe_finds_the_appearance_channels(blind_model):
    """The blind model's last 25 pose-code channels are the appearance vector: taking the
    highest-probability ones from B gives B's appearance on A's pose."""
    model, scene = blind_model
    r = channel_probe(model, scene, a="S7", b="S8", subjects=("S7", "S8", "S5"),
                      probability_subjects=("S9",), per_camera=1, k_step=25)
    top = r.probability.argsort(descending=True)[:25]
    assert set(top[r.probability[top] > 0].tolist()) <= set(range(77, 102))
    c, ks = r.curves, r.curves["k"]
    at = ks.index(25)
    assert c["highest_appearance_b"][at] > 0.9
    assert c["highest_pose_b_regressor"][at] == pytest.approx(0.0, abs=1e-6)
    assert c["highest_pose_b"][at] < 0.1
    assert r.flips["highest_first_appearance_flip_k"] == 25
    assert c["lowest_appearance_b"][0] < 0.1 and c["highest_appearance_b"][-1] > 0.9


class _PoseAndClothesModel(AppearanceBlindModel):
    """Encodes only: the pose code is the root-relative camera-frame pose in metres (51
    channels) followed by the appearance vector (25 channels, 0-1 colours)."""

    def _pose_code(self, rows, appearance):
        pose = self.scene.pose(rows).flatten(1) / 1000
        return torch.cat((pose, appearance), dim=1)


def test_nearest_pose_probability_finds_the_appearance_channels(tiny):
    """Without renders of the same pose, pairing each frame with the other subject's nearest
    pose still ranks the appearance channels (the last 25) first."""
    scene = Scene(tiny)
    model = _PoseAndClothesModel(scene)
    probability, distance = nearest_pose_probability(model, scene, ("S7", "S8", "S5"),
                                                     per_camera=2, pool_per_camera=16)
    assert probability.sum() == pytest.approx(1.0, abs=1e-5)
    clothes = set(range(probability.numel() - APPEARANCE_DIM, probability.numel()))
    assert set(probability.argsort(descending=True)[:10].tolist()) <= clothes
    assert probability[sorted(clothes)].sum() > 0.6          # 25 of the 76 channels
    assert 0 < distance < 300


def test_a_scene_without_renders_hands_out_frames_and_refuses_counterfactuals(tiny):
    crops_only = copy.copy(tiny)
    crops_only.appearance = None
    scene = Scene(crops_only)
    assert not scene.can_render and Scene(tiny).can_render
    rows = scene.rows("S7", 1)
    assert scene.frames(rows).shape[0] == len(rows)
    with pytest.raises(ValueError, match="need a synthetic studio"):
        scene.render(rows, tiny.appearance[rows])
