"""The report as a list of blocks, rendered from the same blocks to HTML (``index.html``) and to
GitHub Markdown (``report.md``).

Blocks: ``Heading`` (levels 1-3), ``Paragraph`` (text and ``Code`` spans; ``note`` marks the
small print), ``Table`` (a header and rows of cells; columns whose title says "(paper)" hold the
published numbers, greyed in HTML), ``Figure`` (an image by its path relative to the report
folder, with a caption) and ``Preformatted`` text. Markdown tables go through
``dprobe.report.tables.markdown_table``.
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from dprobe.report.tables import markdown_table

__all__ = ["Block", "Code", "Figure", "Heading", "Paragraph", "Preformatted", "Table", "note",
           "text", "to_html", "to_markdown"]


@dataclass(frozen=True)
class Code:
    """Inline code (a command, a file name) inside a ``Paragraph``."""

    text: str


@dataclass(frozen=True)
class Heading:
    """A section title; ``level`` 1 (the page's title) to 3."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Text made of ``parts`` (plain text or ``Code``); ``note`` for explanations."""

    parts: tuple[str | Code, ...]
    note: bool = False


@dataclass(frozen=True)
class Table:
    """A ``header`` and ``body`` rows of cells (any value; shown as ``str``)."""

    header: Sequence[str]
    body: Sequence[Sequence[object]]


@dataclass(frozen=True)
class Figure:
    """An image at ``src`` (relative to the report folder) with its ``caption``; ``cls`` an
    HTML class (``example``: small crops drawn with sharp pixels)."""

    src: str
    caption: str
    cls: str = ""


@dataclass(frozen=True)
class Preformatted:
    """Text shown as is, in a fixed-width font (a spec, a JSON dump)."""

    text: str


Block = Heading | Paragraph | Table | Figure | Preformatted


def note(*parts: str | Code) -> Paragraph:
    """A ``Paragraph`` of small print."""
    return Paragraph(parts, note=True)


def text(*parts: str | Code) -> Paragraph:
    """A plain ``Paragraph``."""
    return Paragraph(parts)


# ---- HTML ------------------------------------------------------------------------------------
def _e(value: object) -> str:
    return html.escape(str(value))


def _html_table(table: Table) -> str:
    def cls(title: str) -> str:
        return ' class="paper"' if "(paper)" in title else ""

    head = "".join(f"<th{cls(h)}>{_e(h)}</th>" for h in table.header)
    lines = ["<tr>" + "".join(f"<td{cls(h)}>{_e(v)}</td>" for h, v in zip(table.header, row))
             + "</tr>" for row in table.body]
    return f"<table><tr>{head}</tr>{''.join(lines)}</table>"


def _html(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{_e(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        inner = "".join(f"<code>{_e(p.text)}</code>" if isinstance(p, Code) else _e(p)
                        for p in block.parts)
        return f"<p class='note'>{inner}</p>" if block.note else f"<p>{inner}</p>"
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Figure):
        c = f' class="{block.cls}"' if block.cls else ""
        return (f'<figure><img{c} src="{_e(block.src)}" alt="{_e(block.caption)}">'
                f"<figcaption>{_e(block.caption)}</figcaption></figure>")
    return f"<pre>{_e(block.text)}</pre>"


def to_html(blocks: Sequence[Block]) -> str:
    """The blocks as HTML elements, one per line (the inside of a page's ``<body>``)."""
    return "\n".join(_html(b) for b in blocks)


# ---- Markdown --------------------------------------------------------------------------------
def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_code(code: str) -> str:
    """Inline code whose delimiters are longer than any run of backticks inside."""
    ticks = "`" * (max((len(r) for r in re.findall("`+", code)), default=0) + 1)
    pad = " " if code.startswith("`") or code.endswith("`") else ""
    return f"{ticks}{pad}{code}{pad}{ticks}"


def _md_table(table: Table) -> str:
    header = [_md_cell(h) for h in table.header]
    columns = [(str(i), title, "{}") for i, title in enumerate(header[1:])]
    rows = [(_md_cell(row[0]), {str(i): _md_cell(v) for i, v in enumerate(row[1:])})
            for row in table.body]
    return markdown_table(rows, columns, label=header[0]).rstrip("\n")


def _markdown(block: Block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Paragraph):
        return "".join(_md_code(p.text) if isinstance(p, Code) else p for p in block.parts)
    if isinstance(block, Table):
        return _md_table(block)
    if isinstance(block, Figure):
        alt = block.caption.replace("[", "(").replace("]", ")")
        return f"![{alt}]({block.src.replace(' ', '%20')})\n\n{block.caption}"
    fence = "`" * max(3, max((len(r) for r in re.findall("`+", block.text)), default=0) + 1)
    return f"{fence}\n{block.text.rstrip()}\n{fence}"


def to_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as GitHub Markdown (a blank line between blocks; ends in a newline)."""
    return "\n\n".join(_markdown(b) for b in blocks) + "\n"
