"""The transfer and budget tables: cells from the rows they name, Wilson intervals, None where
the rows hold neither."""
from dprobe.report.robustness_tables import budget_table, transfer_table


def _rows(target, generator, successes, n=10, eps=0.0, **extra):
    return [{"target": target, "generator": generator, "eps": eps, "success": int(i < successes),
             "subject": "S1", "action": "walk", "frame": i, **extra} for i in range(n)]


def test_transfer_table_sets_each_source_against_each_target():
    rows = (_rows("nsd", "renderer", 9) + _rows("drnet", "renderer", 8)
            + _rows("drnet", "transfer:nsd", 3) + _rows("nsd", "transfer:drnet", 1)
            + _rows("nsd", "transfer:drnet", 10, eps=0.3))  # bounded rows are not transfers
    table = transfer_table(rows, ("nsd", "drnet"))
    assert table.header == ["colours found against \\ worn in front of", "nsd", "drnet"]
    nsd, drnet = table.body
    assert nsd[0] == "nsd" and nsd[1].startswith("90% [") and "(its attack)" in nsd[1]
    assert nsd[2].startswith("30% [") and nsd[2].endswith("; 10")
    assert drnet[1].startswith("10% [")
    assert transfer_table(_rows("nsd", "renderer", 9)) is None


def test_budget_table_puts_bounded_runs_beside_the_unbounded_path():
    rows = (_rows("nsd", "self", 2, eps=0.1) + _rows("nsd", "self", 6, eps=0.5)
            + [{"target": "nsd", "generator": "self", "eps": 0.0, "success": 1,
                "change_path": 0.1 * i} for i in range(10)]
            + _rows("nsd", "renderer", 4, eps=0.1, delta_e=12.0)
            + _rows("supervised", "renderer", 3, eps=0.5))
    table = budget_table(rows, ("nsd", "supervised"))
    assert table.header == ["target", "renderer, eps 0.1", "renderer, eps 0.5",
                            "renderer, no budget", "own decoder, eps 0.1", "own decoder, eps 0.5",
                            "own decoder, no budget"]
    nsd, supervised = table.body
    assert nsd[0] == "nsd" and "\u0394E 12.0 [12.0, 12.0]" in nsd[1]
    assert nsd[2] == "-" and nsd[3] == "-"
    assert nsd[4].startswith("20% [") and "(path 20% [" in nsd[4]  # 0.0 and 0.1 stay in
    assert "(path 60% [" in nsd[5] and nsd[6].startswith("100% [")
    assert supervised[2].startswith("30% [") and supervised[4:] == ["-", "-", "-"]
    assert budget_table(_rows("nsd", "self", 2)) is None


def test_baseline_table_pairs_the_baseline_with_each_framework_on_the_same_samples():
    from dprobe.report.robustness_tables import baseline_table

    def rows(target, generator, successes, n=20):
        return [{"target": target, "generator": generator, "eps": 0.0,
                 "success": int(i < successes), "subject": "S1", "action": "walk", "frame": i,
                 "camera": 0} for i in range(n)]

    table = baseline_table(rows("supervised", "renderer", 2) + rows("nsd", "renderer", 18)
                           + rows("supervised", "other-clothes", 5), frameworks=("nsd", "cssl"))
    assert table.header == ["baseline", "generator", "success", "- nsd (points)"]
    renderer, clothes = table.body
    assert renderer[:2] == ["supervised", "renderer"] and renderer[2].startswith("10% [")
    assert renderer[3].startswith("-80 [") and "p 3.1e-05" in renderer[3]  # 2 x 0.5^16
    assert clothes[3] == "-"  # nsd has no other-clothes rows here
    assert baseline_table(rows("nsd", "renderer", 18)) is None
