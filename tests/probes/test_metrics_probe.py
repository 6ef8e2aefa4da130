"""The Table 3 probe: DC over the whole set, batched as the paper, a shuffled baseline, and IOB."""
from __future__ import annotations

from dprobe.metrics.disentanglement import IOBSchedule
from dprobe.probes.metrics_probe import metrics_probe


def test_metrics_probe_on_the_blind_model(blind_model):
    """The blind model's pose code holds the appearance vector that is its h_a: DC well above
    the shuffled baseline; IOB of either code above 1 (both describe the image)."""
    model, scene = blind_model
    schedule = IOBSchedule(epochs=3, batch_size=16, image_size=8, width=8)
    r = metrics_probe(model, scene, subjects=("S7", "S8", "S9"), per_camera=10, dc_batch=40,
                      iob=schedule, iob_samples=60)
    assert r["samples"] == 120 and (r["dim_a"], r["dim_p"]) == (25, 102)
    assert r["dc_batched"]["batches"] == 3
    assert r["dc"] > 1.5 * r["dc_shuffled"]
    assert r["iob_a"]["schedule"]["epochs"] == 3 and r["iob_p"]["iob"] > 0
