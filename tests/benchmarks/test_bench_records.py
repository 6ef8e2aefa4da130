"""The benchmarks' records from their measurements (stand-in numbers, nothing timed): each is a
record the results page shows, with the goals' verdicts computed from the figures."""
import argparse

from benchmarks.attack_tables import matrix_table, tables, to_record
from benchmarks.bench_composite_crop import to_record as composite_crop_record
from benchmarks.bench_engines import to_record as engines_record
from benchmarks.bench_studio import to_record as studio_record
from benchmarks.results_page import render_section
from benchmarks.sweep_provenance import sweep_provenance
from dprobe.sweep.store import ATTACK_COLUMNS, ItemResult, ResultsStore

SETTING = {"engine": "eager", "threshold_mm": 150.0, "max_iterations": 50, "lr": 0.1,
           "eps": 0.0, "boxes": "detector"}


def sample(index: int, target: str, generator: str, subject: str, k: int, final: float
           ) -> dict:
    row = {name: None for name, _ in ATTACK_COLUMNS[1:]}
    row.update(SETTING, sample=index, target=target, generator=generator, subject=subject,
               initial_mpjpe_mm=20.0, final_mpjpe_mm=final, iterations=k,
               success=int(final > 150), ssim=0.9, psnr_db=30.0, mse=0.001)
    return row


def stored_sweep(path):
    """A database of one sweep run: nsd and drnet through themselves, each other and the
    renderer, two samples each of S1 and S9."""
    with ResultsStore.open(path) as store:
        run = store.begin_run("t", "", "dprobe sweep run t.toml --workers 2", "local", 2,
                              {"platform": "Linux-x86_64", "cpus": 2, "torch": "2.13.0+cpu"})
        results = []
        for t in ("nsd", "drnet"):
            for g in ("self", "renderer", "drnet" if t == "nsd" else "nsd"):
                rows = [sample(i, t, g, s, k, 140.0 + 20 * k)
                        for i, (s, k) in enumerate((s, k) for s in ("S1", "S9") for k in (0, 1))]
                results.append(ItemResult(f"{t}-{g}", "attack", {"target": t, "generator": g},
                                          rows=rows))
        store.write_chunk(results, run)
        store.end_run(run)


def test_the_attack_tables_from_a_sweep(tmp_path):
    stored_sweep(tmp_path / "s.sqlite")
    with ResultsStore.open(tmp_path / "s.sqlite", create=False) as store:
        rows = store.attack_samples()
        provenance = sweep_provenance(store, "python -m benchmarks.attack_tables --db s.sqlite")
    matrix = matrix_table(rows)
    assert matrix.header == ["target \\ generator", "self", "nsd", "drnet", "renderer"]
    cell = "150 / 50% [15%, 85%] / 0.5 (20; 4)"  # success with its Wilson interval; samples
    assert matrix.body[0] == ["nsd", cell, "(= self)", cell, cell]
    assert provenance["command"] == ("dprobe sweep run t.toml --workers 2; "
                                     "python -m benchmarks.attack_tables --db s.sqlite")
    assert provenance["host"] == "Linux-x86_64, 2 CPUs; 2 local workers; torch 2.13.0+cpu"
    record = to_record(tables(rows, {}), provenance)
    assert [t["rows"][0][0] for t in record["tables"]] == [
        "initial MPJPE mm, average", "nsd", "SSIM, full frame",
        "nsd > cssl (Table 3: 0.88 > 0.77)"]
    # the rows here hold no frame numbers: each subject counts as one pose (2 poses in all)
    assert record["tables"][0]["rows"][0][3] == "2 poses"
    assert "4 samples per cell" in record["tables"][1]["caption"]


def test_the_attack_record_adds_baselines_transfers_and_budgets(tmp_path):
    """A sweep with a baseline target, a transfer and bounded attacks gains their tables; the
    matrix leaves the transfers to their own table."""
    rows = []
    for t, g, eps in (("nsd", "self", 0.0), ("nsd", "renderer", 0.0), ("drnet", "renderer", 0.0),
                      ("supervised", "renderer", 0.0), ("drnet", "transfer:nsd", 0.0),
                      ("nsd", "self", 0.3)):
        for i, (s, k) in enumerate((s, k) for s in ("S1", "S9") for k in (0, 1)):
            row = sample(i, t, g, s, k, 140.0 + 20 * k)
            rows.append({**row, "eps": eps, "camera": 0, "action": "walk", "frame": i,
                         "change_path": 0.1 * i})
    captioned = tables(rows, {})
    assert "transfer:nsd" not in matrix_table(rows).header
    extra = [caption.split(" ")[0] for caption, _ in captioned[4:]]
    assert extra == ["Baselines", "Transfer:", "Success"]
    baselines, transfer, budget = (t for _, t in captioned[4:])
    assert baselines.body[0][:2] == ["supervised", "renderer"]
    assert transfer.body[0][0] == "nsd" and "(its attack)" in transfer.body[0][1]
    assert budget.header == ["target", "own decoder, eps 0.3", "own decoder, no budget"]


def test_the_composite_crop_record_holds_the_worst_placement_and_the_growth():
    def timings(fused: float) -> dict:
        return {"fused_fwd": fused, "ref_fwd": 1.0, "x_fwd": 1 / fused,
                "fused_fwdbwd": 2 * fused, "ref_fwdbwd": 2.0, "x_fwdbwd": 1 / fused}
    results = {256: {"inside": timings(0.01), "rotated": timings(0.2)},
               1024: {"inside": timings(0.02), "rotated": timings(0.25)}}
    record = composite_crop_record(results, "python -m benchmarks.bench_composite_crop", 2,
                                   "5 at 256²", "0.1 / 0.2 / 0.3")
    lines = render_section(record)
    assert "- fwd+bwd at 256², worst placement (rotated), reference / fused: **5.0x** (goal >= 8x: missed)" in lines
    assert "- fused fwd+bwd time growth 256² -> 1024², inside: **2.00x** (goal <= 1.5x: missed)" in lines
    assert "- fused fwd+bwd time growth 256² -> 1024², rotated: **1.25x** (goal <= 1.5x: met)" in lines
    assert len(record["tables"][1]["rows"]) == 4


def test_the_studio_record_holds_the_build_goals_of_the_standard_preset():
    render = {"crops": 1920, "chunk": 96, "repeats": 5, "crops_per_second": 640.0}
    build = {"preset": "standard", "crops": 58752, "seconds": 97.0, "render_seconds": 95.5,
             "crops_per_second": 615.2, "bytes": 302e6}
    lines = render_section(studio_record(render, build, 2, "python -m benchmarks.bench_studio"))
    assert "- crops rendered per second in the `standard` build: **615 /s** (goal >= 500 /s: met)" in lines
    assert "- `standard` build wall time: **97.0 s** (goal <= 300 s: met)" in lines


def test_the_engines_record_compares_with_eager_at_the_largest_batch():
    def bench_row(engine: str, batch: int, rate: float, diff: float) -> dict:
        return {"engine": engine, "batch": batch, "images_per_s": rate, "p50_ms": 1.0,
                "p99_ms": 2.0, "max_joint_diff_mm": diff,
                "attack_it_per_s": None if engine == "onnxruntime" else 1.0}
    engines = {"rows": [bench_row("eager", 32, 60.0, 0.0), bench_row("torchscript", 32, 66.0, 0.0),
                        bench_row("onnxruntime", 32, 240.0, 5e-3)]}
    attack = {"python": {"seconds_median": 4.0, "it_per_s": 20.0},
              "cpp": {"seconds_median": 3.8, "it_per_s": 21.0}, "cpp_vs_python": 1.05,
              "max_final_diff_mm": 0.0}
    args = argparse.Namespace(model="nsd", batches="32", seconds=3.0, attack_batch=8,
                              attack_iterations=10, rounds=3, threads=2)
    lines = render_section(engines_record(engines, attack, args))
    assert "- onnxruntime vs eager images/s at batch 32: **4.00x** (goal >= 1.5x: met)" in lines
    assert "- torchscript vs eager images/s at batch 32: **1.10x** (goal >= 1x: met)" in lines
    assert "- largest joint difference of an engine from eager: **5.0e-03 mm** (goal <= 0.001 mm: missed)" in lines


def test_the_replicates_table_shows_each_seed_with_its_interval(tmp_path):
    import json

    from benchmarks.replicates import replicate_table
    from dprobe.report.replicates import read_replicates

    for seed, leak in ((0, 0.5), (1, 0.7)):
        run = tmp_path / f"nsd-s{seed}"
        (run / "probes" / run.name).mkdir(parents=True)
        (run / "probes" / run.name / "swap.json").write_text(json.dumps(
            {"probe": "swap", "featured": {"leak": leak},
             "intervals": {"featured.leak": {"value": leak, "low": leak - 0.1,
                                             "high": leak + 0.1, "n": 16, "seed": 0}}}))
    found = replicate_table(read_replicates(tmp_path)[0])
    assert found.header[2:] == ["seed 0 (95 % interval)", "seed 1 (95 % interval)",
                                "between seeds (mean \u00b1 sd)"]
    leak_row = next(r for r in found.body if r[0] == "swap leak S7 <- S8")
    assert leak_row == ["swap leak S7 <- S8", "nsd", "0.500 [0.400, 0.600]",
                        "0.700 [0.600, 0.800]", "0.600 \u00b1 0.141 (2 seeds)"]
