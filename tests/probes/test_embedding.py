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
    score = linear_classifier_score(codes, labels)
    assert score["chance"] == pytest.approx(1 / 9)
    assert abs(score["accuracy"] - 1 / 9) < 0.06
    assert linear_regression_score(codes, torch.rand(450, 3, generator=gen)) < 0.03


def test_linear_probes_read_informative_codes():
    gen = torch.Generator().manual_seed(1)
    labels = torch.arange(300) % 5
    codes = torch.randn(300, 16, generator=gen) * 0.3
    codes[:, :5] += torch.nn.functional.one_hot(labels, 5)
    assert linear_classifier_score(codes, labels)["accuracy"] > 0.95
    target = codes[:, :2] @ torch.tensor([[1.0], [-2.0]])
    assert linear_regression_score(codes, target) > 0.95


def test_embedding_probe_on_the_studio_model(studio_model):
    model, scene = studio_model
    r = embedding_probe(model, scene, subjects=("S7", "S8", "S9"), tsne_subject="S7",
                        per_camera=6)
    n = r.numbers()
    assert n["r2_from_h_a"]["shirt"] > 0.95
    assert n["r2_from_h_p"]["shirt"] < 0.2
    assert n["subject_from_h_p"]["accuracy"] > 0.9   # height and build live in the pose code
    assert r.tsne.shape == (24, 2) and len(r.tsne_actions) == 24
