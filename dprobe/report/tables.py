"""Tables of figures: one formatter for the terminal, Markdown files and benchmark pages.

A column is ``(key, title, format)``: ``key`` reads a row's dict, ``title`` carries the unit
(``"PSNR dB"``, ``"MPJPE mm"``), ``format`` is a ``str.format`` pattern; a missing value prints
as ``-``. A row that holds ``intervals`` (key -> ``dprobe.metrics.intervals.Interval`` as a
dict) shows each such figure as ``value [low, high]``, both ends in the figure's format.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = ["MODEL_FIGURE_COLUMNS", "Column", "markdown_table"]

Column = tuple[str, str, str]

#: The held-out figures of a model (``dprobe evaluate``), in the order the tables show them.
MODEL_FIGURE_COLUMNS: tuple[Column, ...] = (
    ("psnr", "PSNR dB", "{:.2f}"), ("psnr_mask", "PSNR in mask dB", "{:.2f}"),
    ("psnr_arms", "PSNR arms dB", "{:.2f}"), ("psnr_legs", "PSNR legs dB", "{:.2f}"),
    ("ssim", "SSIM", "{:.3f}"), ("ssim_mask", "SSIM in mask", "{:.3f}"),
    ("novel_view_psnr", "novel-view PSNR dB", "{:.2f}"), ("mpjpe", "MPJPE mm", "{:.1f}"),
    ("n_mpjpe", "N-MPJPE mm", "{:.1f}"), ("p_mpjpe", "P-MPJPE mm", "{:.1f}"),
    ("mean_pose_mpjpe", "mean-pose MPJPE mm", "{:.1f}"),
    ("reconstruction_shift", "shift from reconstruction mm", "{:.1f}"),
    ("code_variance_a", "var h_a", "{:.3g}"), ("code_variance_p", "var h_p", "{:.3g}"),
)


def _cell(row: Mapping, key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if not isinstance(value, (int, float)):
        return str(value)
    interval = row.get("intervals", {}).get(key) or {}
    if interval.get("low") is None or interval.get("high") is None:
        return fmt.format(value)
    return f"{fmt.format(value)} [{fmt.format(interval['low'])}, {fmt.format(interval['high'])}]"


def markdown_table(rows: Mapping[str, Mapping] | Iterable[tuple[str, Mapping]],
                   columns: Sequence[Column], label: str = "model") -> str:
    """A Markdown table (text, ending in a newline): one line per ``rows`` item, labelled by
    its key, one column per ``columns`` entry; ``rows`` may also be ``(label, row)`` pairs (for
    labels that repeat)."""
    header = [label] + [title for _, title, _ in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in rows.items() if isinstance(rows, Mapping) else rows:
        lines.append("| " + " | ".join([name] + [_cell(row, k, f) for k, _, f in columns]) + " |")
    return "\n".join(lines) + "\n"
