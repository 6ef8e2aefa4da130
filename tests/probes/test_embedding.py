"""Linear probes: at chance on random codes, high on informative ones; the embedding probe on
the studio control model finds no colour in the pose code and all of it in the appearance code."""
from __future__ import annotations

import pytest
import torch

from dprobe.probes.embedding import (
    embedding_probe,
    linear_classifier_score,
    linear_regression_score,
)


def test_linear_probes_on_random_codes_are_at_chance():
    gen = torch.Generator().manual_seed(0)
    codes = torch.randn(450, 32, generator=gen)
    labels = torch.arange(450) % 9
    score, interval = linear_classifier_score(codes, labels)
    assert score["chance"] == pytest.approx(1 / 9)
    assert abs(score["accuracy"] - 1 / 9) < 0.06
    assert interval.low < 1 / 9 < interval.high and interval.n == 450
    assert linear_regression_score(codes, torch.rand(450, 3, generator=gen)).value < 0.03


def test_linear_probes_read_informative_codes():
    gen = torch.Generator().manual_seed(1)
    labels = torch.arange(300) % 5
    codes = torch.randn(300, 16, generator=gen) * 0.3
    codes[:, :5] += torch.nn.functional.one_hot(labels, 5)
    assert linear_classifier_score(codes, labels)[0]["accuracy"] > 0.95
    target = codes[:, :2] @ torch.tensor([[1.0], [-2.0]])
    r2 = linear_regression_score(codes, target)
    assert r2.value > 0.95 and r2.low > 0.9


def test_views_of_one_pose_stay_in_one_fold():
    """Four near-identical views per pose and labels that are random per pose: with views split
    across folds a probe memorises the pose (accuracy far above chance); grouped by pose it
    stays at chance, and n counts the poses."""
    gen = torch.Generator().manual_seed(2)
    poses = torch.randn(120, 64, generator=gen)
    codes = poses.repeat_interleave(4, 0) + 0.01 * torch.randn(480, 64, generator=gen)
    labels = torch.randint(0, 4, (120,), generator=gen).repeat_interleave(4)
    units = torch.arange(120).repeat_interleave(4).tolist()
    split, _ = linear_classifier_score(codes, labels)
    grouped, interval = linear_classifier_score(codes, labels, groups=units)
    assert split["accuracy"] > 0.8
    assert abs(grouped["accuracy"] - 0.25) < 0.12 and interval.n == 120


def test_embedding_probe_on_the_studio_model(studio_model):
    model, scene = studio_model
    r = embedding_probe(model, scene, subjects=("S7", "S8", "S9"), tsne_subject="S7",
                        per_camera=6)
    n = r.numbers()
    assert n["r2_from_h_a"]["shirt"] > 0.95
    assert n["r2_from_h_p"]["shirt"] < 0.2
    # height and build live in the pose code: the subject is read from it above chance (1/3),
    # on poses the probe never saw from any camera (6 per subject here)
    assert n["intervals"]["subject_from_h_p.accuracy"]["low"] > 1 / 3
    assert n["intervals"]["subject_from_h_p.accuracy"]["n"] == 18
    assert r.tsne.shape == (24, 2) and len(r.tsne_actions) == 24
