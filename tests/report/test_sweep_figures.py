"""The robustness figures: the attack beside the nulls, drawn only where the rows hold them."""
from PIL import Image

from dprobe.report.sweep_figures import success_vs_change


def _rows(generator: str, change: float, successes: int, n: int = 10) -> list[dict]:
    return [{"target": "nsd", "generator": generator, "change": change,
             "success": int(i < successes)} for i in range(n)]


def test_success_vs_change_draws_the_attack_and_the_nulls(tmp_path):
    rows = (_rows("renderer", 0.2, 9) + _rows("random-colours:0.1", 0.1, 1)
            + _rows("random-colours:0.3", 0.28, 2) + _rows("other-clothes", 0.6, 3)
            + _rows("self", 0.5, 10))
    assert success_vs_change(rows, tmp_path / "f.png")
    assert Image.open(tmp_path / "f.png").size[0] > 300


def test_nothing_is_drawn_without_a_change_column(tmp_path):
    rows = [{**r, "change": None} for r in _rows("renderer", 0.2, 9)]
    assert not success_vs_change(rows + _rows("self", 0.5, 1), tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists()


def test_budget_curves_draw_bounded_runs_and_unbounded_paths(tmp_path):
    from dprobe.report.sweep_figures import budget_curves

    def row(generator, eps, success, path, delta_e=None):
        return {"target": "nsd", "generator": generator, "eps": eps, "success": success,
                "change_path": path, "delta_e_path": delta_e, "delta_e": delta_e}

    rows = ([row("self", e, i < 5 * e, None) for e in (0.1, 0.3, 1.0) for i in range(6)]
            + [row("self", 0.0, 1, 0.1 * i) for i in range(10)]
            + [row("renderer", 0.0, i % 2, 0.05 * i, 4.0 * i) for i in range(10)]
            + [row("random-colours:0.1", 0.0, 0, 0.1, 6.0) for _ in range(10)])
    assert budget_curves(rows, tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").size[0] > 600
    plain = [{**r, "change_path": None} for r in rows if not r["eps"]]
    assert not budget_curves(plain, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
