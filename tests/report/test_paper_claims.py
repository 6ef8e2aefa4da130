"""The paper's tables and orderings beside ours: verdicts follow from the intervals, the paper's
column is dropped where the scales differ, replicate seeds give the spread."""
import json

import pytest

from dprobe.errors import DprobeError
from dprobe.report.paper_claims import (
    CLAIM_HEADER,
    ORDER_HEADER,
    between_seeds,
    dc_iob_claims,
    image_claims,
    mpjpe_claims,
    ordering_claims,
)
from dprobe.report.paper_tables import TABLE2
from dprobe.report.replicates import read_replicates
from dprobe.report.sweep_tables import main_setting, setting_rows

BASE = {"engine": "eager", "threshold_mm": 150.0, "max_iterations": 50, "lr": 0.1, "eps": 0.0,
        "boxes": "detector", "success": 1, "iterations": 5, "ssim": 0.9, "psnr_db": 30.0,
        "mse": 0.001}


def _rows(target: str, initial: list[float], subject: str = "S1", **extra) -> list[dict]:
    """One row per value, each its own pose (frame), through the target's own decoder."""
    return [{**BASE, "target": target, "generator": "self", "subject": subject,
             "action": "walk", "frame": i, "camera": 0, "initial_mpjpe_mm": v,
             "final_mpjpe_mm": 170.0 + (i % 3), **{k: f(i) for k, f in extra.items()}}
            for i, v in enumerate(initial)]


def _by(body: list[list[str]], figure: str, model: str) -> dict:
    row = next(r for r in body if r[0] == figure and r[1] == model)
    return dict(zip(CLAIM_HEADER, row))


def test_table1_verdicts_follow_the_interval_of_the_main_setting():
    rows = (_rows("nsd", [19.0 + (i % 5) for i in range(20)])      # around the paper's 21.0
            + _rows("drnet", [60.0 + (i % 5) for i in range(20)])  # far from its 23.9
            + [{**r, "lr": 0.05, "initial_mpjpe_mm": 500.0} for r in _rows("nsd", [0.0] * 4)])
    main = setting_rows(rows, main_setting(rows))
    assert len(main) == 40  # the other setting's rows are left out
    body = mpjpe_claims(main)
    nsd = _by(body, "initial MPJPE mm, S1", "nsd")
    assert nsd["paper"] == "21.0" and nsd["verdict"] == "agrees" and nsd["n"] == "20 poses"
    assert _by(body, "initial MPJPE mm, S1", "drnet")["verdict"] == "disagrees"
    assert _by(body, "initial MPJPE mm, S5", "nsd")["ours (95 % interval)"] == "-"
    assert _by(body, "initial MPJPE mm, S5", "nsd")["verdict"] == "cannot tell"
    assert _by(body, "final MPJPE mm, average", "nsd")["paper"] == "179.5"


def test_image_claims_drop_the_paper_on_the_crop_and_judge_the_full_frame():
    rows = _rows("nsd", [20.0] * 10, ssim_frame=lambda i: 0.945 + 0.001 * (i % 4),
                 psnr_frame_db=lambda i: 40.0, mse_frame=lambda i: 1e-4)
    body = image_claims(rows, {"nsd": TABLE2["nsd"]})
    crop = _by(body, "SSIM, crop", "nsd")
    assert crop["paper"].startswith("not comparable") and crop["verdict"] == "-"
    assert _by(body, "SSIM, full frame", "nsd")["verdict"] == "agrees"       # 0.947 inside
    assert _by(body, "PSNR dB, full frame", "nsd")["verdict"] == "disagrees"  # 24.65 outside


def _stored(value: float, low: float, high: float) -> dict:
    return {"value": value, "low": low, "high": high, "n": 200.0, "seed": 0.0}


def _values(name: str, interval: dict) -> dict[str, float]:
    probe, _, key = name.partition(".")
    return {name: interval["value"],
            **{f"{probe}.intervals.{key}.{k}": v for k, v in interval.items()}}


def test_table3_judges_the_mixed_batches_and_drops_the_rest():
    values = {"nsd": {**_values("metrics.dc_mixed_batched.mean", _stored(0.87, 0.85, 0.89)),
                      **_values("metrics.dc_batched.mean", _stored(0.6, 0.55, 0.65)),
                      "metrics.iob_a.iob": 1.5, "metrics.iob_a.schedule.image_size": 32.0},
              "cssl": _values("metrics.dc_mixed_batched.mean", _stored(0.5, 0.45, 0.55))}
    body = dc_iob_claims(values, ["nsd", "cssl"])
    assert _by(body, "DC(A, P), batches mixing subjects", "nsd")["verdict"] == "agrees"
    assert _by(body, "DC(A, P), batches mixing subjects", "cssl")["verdict"] == "disagrees"
    within = _by(body, "DC(A, P), batches of one subject", "nsd")
    assert within["paper"].startswith("not comparable") and within["verdict"] == "-"
    iob = _by(body, "IOB(I, A)", "nsd")
    assert "32 px" in iob["paper"] and iob["ours (95 % interval)"] == "1.50"
    assert not any(r[0] == "IOB(I, P)" for r in body)  # not measured: no row


def test_orderings_are_judged_by_the_difference_and_over_the_seeds():
    values = {"nsd": _values("metrics.dc_mixed_batched.mean", _stored(0.9, 0.88, 0.92)),
              "cssl": _values("metrics.dc_mixed_batched.mean", _stored(0.7, 0.68, 0.72)),
              "cssl-da": _values("metrics.dc_mixed_batched.mean", _stored(0.71, 0.66, 0.76))}
    rows = (_rows("cssl", [20.0] * 12, ssim_frame=lambda i: 0.99 - 0.001 * (i % 3))
            + _rows("cssl-da", [20.0] * 12, ssim_frame=lambda i: 0.95 - 0.001 * (i % 2)))
    seeds = {"nsd": {"metrics.dc_mixed_batched.mean": [0.9, 0.8, 0.85]},
             "cssl": {"metrics.dc_mixed_batched.mean": [0.7, 0.85, 0.6]}}
    body = {r[0].split(" (")[0] + " " + r[1]: dict(zip(ORDER_HEADER, r))
            for r in ordering_claims(rows, values, seeds)}
    nsd_cssl = body["nsd > cssl DC(A, P), batches mixing subjects"]
    assert nsd_cssl["verdict"] == "agrees" and float(nsd_cssl["p"]) < 0.001
    assert nsd_cssl["seeds in the paper's order"] == "2 of 3"
    assert nsd_cssl["verdict over the seeds"] == "cannot tell"
    assert body["cssl > cssl-da DC(A, P), batches mixing subjects"]["verdict"] == "cannot tell"
    paired = body["cssl > cssl-da SSIM attacked vs initial, full frame"]
    assert paired["verdict"] == "agrees" and paired["ours: A - B (95 % interval)"] != "-"
    assert body["drnet > nsd SSIM attacked vs initial, full frame"]["verdict"] == "cannot tell"


def test_between_seeds_is_mean_and_sd():
    assert between_seeds([1.0, 2.0, 3.0], 2) == "2.00 \u00b1 1.00 (3 seeds)"
    assert between_seeds([None, 2.0], 1) == "2.0 (1 seed)"
    assert between_seeds(None, 1) == "-"


def test_read_replicates_pairs_figures_by_seed(tmp_path):
    for model, seed, dc in (("nsd", 0, 0.8), ("nsd", 1, 0.7), ("cssl", 1, 0.5)):
        run = tmp_path / f"{model}-s{seed}"
        (run / "probes" / run.name).mkdir(parents=True)
        (run / "probes" / run.name / "metrics.json").write_text(json.dumps(
            {"probe": "metrics", "settings": {"seed": 0}, "dc": dc}))
        (run / "figures.json").write_text(json.dumps({"all": {"mpjpe": 100.0 + seed}}))
    (tmp_path / "notes").mkdir()
    seeds, missing = read_replicates(tmp_path)
    assert seeds["nsd"]["metrics.dc"] == [0.8, 0.7]
    assert seeds["cssl"]["metrics.dc"] == [None, 0.5]  # seed 0 of cssl is absent
    assert seeds["nsd"]["evaluate.mpjpe"] == [100.0, 101.0]
    assert len(missing) == 3 and all("attack/samples.jsonl" in m for m in missing)
    with pytest.raises(DprobeError, match="no replicate runs"):
        read_replicates(tmp_path / "notes")
