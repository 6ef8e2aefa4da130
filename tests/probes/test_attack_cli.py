"""``dprobe attack`` end to end on the tiny studio: outputs, refusals, nothing left behind."""
import json

import pytest

from dprobe.cli import main


@pytest.fixture(scope="module")
def run(tiny_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("attack") / "nsd"
    code = main(["attack", "--target", "nsd", "--studio", str(tiny_path), "--subjects", "S9",
                 "--frames", "2", "--iterations", "1", "--examples", "1", "--details",
                 "--boxes", "truth", "--out", str(out), "--quiet"])
    return code, out


def test_attack_writes_rows_summary_and_figures(run):
    code, out = run
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "figure7.png", "images.npz", "robustness.png", "samples.jsonl", "summary.json",
        "summary.md"]
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["subject"] == "S9" and "final_pred_mm" in r for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"]["all"]["samples"] == 2 and summary["config"]["boxes"] == "truth"
    assert "final MPJPE mm" in (out / "summary.md").read_text()
    budget = summary["budget"]  # self: a latent code, so the relative change only
    assert list(budget) == ["change"] and budget["change"]["budget"][0] == 0.0
    rates = [r["value"] for r in budget["change"]["success"]]
    assert rates == sorted(rates) and all(r["n"] == 2 for r in budget["change"]["success"])


def test_a_transfer_attack_records_colour_budgets(tiny_path, tmp_path):
    out = tmp_path / "moved"
    code = main(["attack", "--target", "drnet", "--generator", "transfer:nsd", "--studio",
                 str(tiny_path), "--subjects", "S9", "--frames", "2", "--iterations", "2",
                 "--examples", "0", "--boxes", "truth", "--out", str(out), "--quiet"])
    assert code == 0
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert all(r["iterations"] == 0 and r["delta_e"] > 0 for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["budget"]) == {"change", "delta_e"}
    assert summary["summary"]["all"]["delta_e"] > 0


def test_attack_refuses_an_existing_output_and_bad_input(run, tiny_path, tmp_path, capsys):
    _, out = run
    before = (out / "samples.jsonl").read_text()
    common = ["attack", "--target", "nsd", "--studio", str(tiny_path), "--frames", "1"]
    assert main([*common, "--out", str(out)]) == 2
    assert (out / "samples.jsonl").read_text() == before
    fresh = tmp_path / "new" / "out"
    assert main([*common, "--generator", "nobody", "--out", str(fresh)]) == 2
    assert main([*common, "--subjects", "S99", "--out", str(fresh)]) == 2
    assert not (tmp_path / "new").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("dprobe: error:") for line in err) and len(err) == 3
