"""Control models on the tiny studio: the studio itself as a model, and one whose decoder
ignores the appearance code."""
from __future__ import annotations

import pytest

from dprobe.probes.controls import AppearanceBlindModel, StudioModel
from dprobe.probes.counterfactual import Scene


@pytest.fixture
def studio_model(tiny):
    scene = Scene(tiny)
    return StudioModel(scene), scene


@pytest.fixture
def blind_model(tiny):
    scene = Scene(tiny)
    return AppearanceBlindModel(scene), scene
