"""HTML reports: one self-contained page per run.

:func:`write_report` turns a run's headers and verdicts (as read by
:func:`verigrad.records.read_records`) into a single HTML file with no network
requests: styles and script inline, plots as inline SVG (matplotlib), formulas
as MathML (latex2mathml).  Every string that came from an engine is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from verigrad.records import Verdict
from verigrad.report.model import build_context
from verigrad.report.render import render

__all__ = ["build_html", "write_report"]


def build_html(
    headers: Sequence[Mapping[str, Any]],
    verdicts: Sequence[Verdict],
) -> str:
    """The report page as a string (see :func:`write_report`)."""
    return render(build_context(headers, verdicts))


def write_report(
    headers: Sequence[Mapping[str, Any]],
    verdicts: Sequence[Verdict],
    path: str | Path = "reports/index.html",
) -> Path:
    """Write the HTML report for these run headers and verdicts; returns the path written.

    The page is a function of the records alone (and the static reference): the
    same records give the same page, apart from its "generated" date line.
    """
    html = build_html(headers, verdicts)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(html, encoding="utf-8")
    temporary.replace(path)
    return path
