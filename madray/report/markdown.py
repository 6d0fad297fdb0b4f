"""The report as one Markdown page, its figures as PNG files in a figures/ folder beside it."""

from __future__ import annotations

import os

import pandas as pd

from madray.plots import save_figures
from madray.report.content import Block, Code, Picture, Plot, Section, Table, Text, Verdict


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; floats to 4 significant digits."""
    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _block(block: Block, links: dict[str, str], here: str) -> str:
    if isinstance(block, Text):
        return block.text
    if isinstance(block, Table):
        return markdown_table(block.frame)
    if isinstance(block, Code):
        return f"```yaml\n{block.text.rstrip()}\n```"
    if isinstance(block, Verdict):
        return f"**{block.text}**"
    if isinstance(block, Plot):
        return f"![{block.stem}]({links[block.stem]})"
    assert isinstance(block, Picture)
    target = os.path.relpath(block.path, here) if "://" not in block.path else block.path
    return f"![{block.label}]({target})"


def render(title: str, first: str, sections: list[Section], out: str, fig_dir: str) -> list[str]:
    """Write the page to `out` and its figures to `fig_dir`; returns the figure paths."""
    here = os.path.dirname(os.path.abspath(out))
    plots = {b.stem: b.figure for s in sections for b in s.blocks if isinstance(b, Plot)}
    written = save_figures(plots, fig_dir)
    links = {os.path.splitext(os.path.basename(p))[0]: os.path.relpath(p, here) for p in written}
    parts = [f"# {title}", first]
    for section in sections:
        parts.append(f"{'#' * section.level} {section.title}")
        parts += [_block(b, links, here) for b in section.blocks]
    os.makedirs(here, exist_ok=True)
    with open(out, "w") as f:
        f.write("\n\n".join(parts) + "\n")
    return written
