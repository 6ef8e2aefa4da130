from dprobe.report.probe_tables import leak_table, linear_probe_table

VALUES = {
    "nsd": {"metrics.dc": 0.8, "metrics.dc_batched.mean": 0.82, "metrics.iob_a.iob": 1.85,
            "swap.featured.leak": 0.658, "zero.retention_zero": 0.27,
            "channels.flips.lowest_first_pose_flip_k": 500.0,
            "embed.action_from_h_a.accuracy": 0.624, "embed.action_from_h_a.chance": 1 / 9,
            "embed.r2_from_h_p.shirt": 0.31},
    "mine": {"swap.featured.leak": 0.1, "swap.intervals.featured.leak.value": 0.1,
             "swap.intervals.featured.leak.low": 0.05, "swap.intervals.featured.leak.high": 0.2},
}


def test_leak_table_tells_never_flipped_from_not_run():
    _, body = leak_table(VALUES, ["nsd", "mine"])
    nsd, mine = body
    assert nsd[:2] == ["nsd", "0.66"] and nsd[4] == "0.27"
    assert nsd[6] == "never" and nsd[7] == "500 / never"  # the channel probe ran
    assert mine[6] == "-" and mine[7] == "- / -"  # it did not
    assert mine[1] == "0.10 [0.05, 0.20]"  # a stored interval is shown


def test_linear_probe_table_shows_chance_beside_accuracy():
    _, body = linear_probe_table(VALUES, ["nsd"])
    assert body[0][1] == "0.62 (0.11)" and body[0][5] == "0.31 / - / -"
