"""The report as one self-contained HTML page: figures and sample grids inline as base64 PNG, no script.

The page loads nothing at view time: its Content-Security-Policy allows images from `data:` URIs
and its own inline style only, so a browser refuses (and logs) any request it would make.
"""

from __future__ import annotations

import base64
import html
import io
import re

import numpy as np
import pandas as pd

from madray.report.content import (
    Code,
    Picture,
    Plot,
    Section,
    Table,
    Text,
    Verdict,
    render_block,
)

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 76em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 13px; margin: .6em 0; display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ddd; padding: .2em .5em; text-align: left; white-space: nowrap; } td.n { text-align: right; }
th { background: #f4f4f4; } tr:nth-child(even) td { background: #fafafa; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: 13px; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #555; }
.grids { display: flex; flex-wrap: wrap; gap: .6em; } .grids figure { margin: 0; } .grids img { width: 150px; }
.verdict { font-size: 1.3em; font-weight: bold; padding: .4em .8em; display: inline-block; border-radius: 4px; }
.pass { background: #d7f5dd; color: #105c20; } .fail { background: #fbdada; color: #8a1010; }
nav a { margin-right: 1em; }
"""


def inline(text: str) -> str:
    """Escaped text with `backticks` as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_png(fig, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def table_html(df: pd.DataFrame) -> str:
    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return f'<td class="n">{"" if np.isnan(v) else f"{v:.4g}"}</td>'
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return f'<td class="n">{v}</td>'
        return f"<td>{html.escape(str(v))}</td>"

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


class Blocks:
    """HTML of each kind of block; figures and pictures inline."""

    def text(self, block: Text) -> str:
        return f"<p>{inline(block.text)}</p>"

    def table(self, block: Table) -> str:
        return table_html(block.frame)

    def code(self, block: Code) -> str:
        return f"<pre>{html.escape(block.text)}</pre>"

    def verdict(self, block: Verdict) -> str:
        return f'<p class="verdict {"pass" if block.passed else "fail"}">{inline(block.text)}</p>'

    def plot(self, block: Plot) -> str:
        return (f'<figure id="fig-{html.escape(block.stem)}"><img src="{png_uri(figure_png(block.figure))}" '
                f'alt="{html.escape(block.stem)}"><figcaption>{html.escape(block.stem)}.png</figcaption></figure>')

    def picture(self, block: Picture) -> str:
        return (f'<figure><img src="{png_uri(block.data)}" alt="{html.escape(block.label)}">'
                f"<figcaption>{html.escape(block.label)}</figcaption></figure>")


def _section(index: int, section: Section) -> str:
    body = "".join(render_block(b, Blocks()) for b in section.blocks)
    if all(isinstance(b, Picture) for b in section.blocks) and section.blocks:
        body = f'<div class="grids">{body}</div>'
    tag = f"h{section.level}"
    return f'<section id="s{index}"><{tag}>{inline(section.title)}</{tag}>{body}</section>'


def render(title: str, first: str, sections: list[Section]) -> str:
    """The whole page as a string."""
    nav = " ".join(f'<a href="#s{i}">{inline(s.title)}</a>' for i, s in enumerate(sections) if s.level == 2)
    body = "".join(_section(i, s) for i, s in enumerate(sections))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title.replace('`', ''))}</title><style>{STYLE}</style></head>"
            f"<body><h1>{inline(title)}</h1><p>{inline(first)}</p><nav>{nav}</nav>{body}</body></html>\n")
