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
