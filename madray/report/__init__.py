"""One report page per sweep: its config and size, failures, final metrics, n_e, a search's boundary,
a reproduction's verdict, every figure that applies and the saved sample grids.

`write_report` writes it as Markdown (figures as PNG files beside it) or, with `html=True`, as one
self-contained HTML page (figures inline). What the page holds: `madray.report.content`.
"""

from __future__ import annotations

import os

from madray.errors import DataError
from madray.report import html as html_page
from madray.report import markdown
from madray.report.content import failed_trials, heading, sections
from madray.report.markdown import markdown_table
from madray.results.store import load_results, sweep_folder


def default_out(root: str, html: bool) -> str:
    return os.path.join(root, "report", "report.html" if html else "report.md")


def write_report(path: str, out: str | None = None, distance: str = "frechet", steady: int | None = None,
                 html: bool = False) -> tuple[str, list[str]]:
    """Write the report; returns (its path, the figure files written: none for the HTML page, which inlines them).

    The default `out` is `<sweep folder>/report/report.md` (`report.html`); a sweep on a URI needs `out`."""
    root = sweep_folder(path)
    if out is None:
        if "://" in root:
            raise DataError(f"{path!r} is not a local folder: pass --out FILE for the report")
        out = default_out(root, html)
    df = load_results(path)
    title, first = heading(df, path)
    content = sections(path, root, df, distance=distance, steady=steady)
    if not html:
        fig_dir = os.path.join(os.path.dirname(os.path.abspath(out)), "figures")
        return out, markdown.render(title, first, content, out, fig_dir)
    page = html_page.render(title, first, content)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        f.write(page)
    return out, []


__all__ = ["failed_trials", "markdown_table", "write_report"]
