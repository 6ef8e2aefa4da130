"""The attack settings of a sweep's rows: the main one (the setting of the most rows through
the target's own decoder, the paper's generator, ``main_setting``), its rows, and its text.
The tables themselves are ``dprobe.report.paper_claims``'s.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

__all__ = ["SETTING_KEYS", "fmt", "main_setting", "setting_rows", "setting_text"]

#: The columns that make an attack setting (besides target and generator).
SETTING_KEYS = ("engine", "threshold_mm", "max_iterations", "lr", "eps", "boxes")


def main_setting(rows: Sequence[dict]) -> tuple | None:
    """The attack setting (values of ``SETTING_KEYS``) with the most self-generator rows."""
    counts = Counter(tuple(r[k] for k in SETTING_KEYS) for r in rows if r["generator"] == "self")
    return counts.most_common(1)[0][0] if counts else None


def setting_text(setting: tuple) -> str:
    """A setting as ``key=value`` text."""
    return ", ".join(f"{k}={v}" for k, v in zip(SETTING_KEYS, setting))


def setting_rows(rows: Sequence[dict], setting: tuple | None) -> list[dict]:
    """The rows (every generator) of one attack setting (values of ``SETTING_KEYS``)."""
    return [r for r in rows if tuple(r[k] for k in SETTING_KEYS) == setting]


def fmt(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals, ``-`` for None."""
    return "-" if value is None else f"{value:.{digits}f}"
