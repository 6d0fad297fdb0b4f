"""The report as one Markdown page, its figures as PNG files in a figures/ folder beside it."""

from __future__ import annotations

import os

import pandas as pd

from madray.plots import save_figures
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


class Blocks:
    """Markdown of each kind of block; figures link to the files written, pictures to where they lie."""

    def __init__(self, links: dict[str, str], here: str) -> None:
        self.links, self.here = links, here

    def text(self, block: Text) -> str:
        return block.text

    def table(self, block: Table) -> str:
        return markdown_table(block.frame)

    def code(self, block: Code) -> str:
        return f"```yaml\n{block.text.rstrip()}\n```"

    def verdict(self, block: Verdict) -> str:
        return f"**{block.text}**"

    def plot(self, block: Plot) -> str:
        return f"![{block.stem}]({self.links[block.stem]})"

    def picture(self, block: Picture) -> str:
        target = os.path.relpath(block.path, self.here) if "://" not in block.path else block.path
        return f"![{block.label}]({target})"


def render(title: str, first: str, sections: list[Section], out: str, fig_dir: str) -> list[str]:
    """Write the page to `out` and its figures to `fig_dir`; returns the figure paths."""
    here = os.path.dirname(os.path.abspath(out))
    plots = {b.stem: b.figure for s in sections for b in s.blocks if isinstance(b, Plot)}
    written = save_figures(plots, fig_dir)
    links = {os.path.splitext(os.path.basename(p))[0]: os.path.relpath(p, here) for p in written}
    parts, blocks = [f"# {title}", first], Blocks(links, here)
    for section in sections:
        parts.append(f"{'#' * section.level} {section.title}")
        parts += [render_block(b, blocks) for b in section.blocks]
    os.makedirs(here, exist_ok=True)
    with open(out, "w") as f:
        f.write("\n\n".join(parts) + "\n")
    return written
