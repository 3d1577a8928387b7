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

__all__ = ["build_html", "write_report"]


def build_html(
    headers: Sequence[Mapping[str, Any]],
    verdicts: Sequence[Verdict],
    *,
    engines: Mapping[str, Any] | None = None,
    engine_load_budget: float = 1.0,
    import_engines: bool = False,
) -> str:
    """The report page as a string (see :func:`write_report`)."""
    from verigrad.report.model import build_context
    from verigrad.report.render import render

    context = build_context(headers, verdicts, engines=engines, engine_load_budget=engine_load_budget,
                            import_engines=import_engines)
    return render(context)


def write_report(
    headers: Sequence[Mapping[str, Any]],
    verdicts: Sequence[Verdict],
    path: str | Path = "reports/index.html",
    *,
    engines: Mapping[str, Any] | None = None,
    engine_load_budget: float = 1.0,
    import_engines: bool = False,
) -> Path:
    """Write the HTML report for these run headers and verdicts; returns the path written.

    ``engines`` (name -> engine object) lets the report draw an engine's full
    Jacobian at a failing counterexample (VJPs with basis cotangents).  Engines
    not given are loaded by name (:func:`oracles.load_engine`) when their module
    is already imported, or with ``import_engines=True`` also when it is not.
    Loading and the VJPs share ``engine_load_budget`` seconds; where an engine is
    not at hand in time the page shows the failing probe vectors instead.
    """
    html = build_html(headers, verdicts, engines=engines, engine_load_budget=engine_load_budget,
                      import_engines=import_engines)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(html, encoding="utf-8")
    temporary.replace(path)
    return path
