"""Small inline SVG plots drawn with matplotlib (Agg, SVG output), stripped to the bone.

Every plot is a string of ``<svg>`` markup with no XML prolog, no metadata, no
namespace declarations (inline SVG in HTML needs none), coordinates rounded to
0.1 pt, and element ids renamed with a per-plot prefix so that many plots on one
page never share an id.  Text stays text (``svg.fonttype = none``): no glyph
outlines, no fonts to fetch.

Speed matters (a full report has a few hundred plots): the distribution plot
reuses one figure and only swaps its data; results are cached by content.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from markupsafe import Markup

__all__ = ["DISTRIBUTION_EDGES", "axis_key_svg", "clear_caches", "distribution_svg", "fd_step_svg", "heatmaps_svg", "histogram"]

#: Colours per dtype in the distribution plots (float64 first).
DTYPE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")
BOUND_COLOUR = "#c62828"

#: Bins of log10(error / bound): [-6, 2] in half decades; zeros and tiny values
#: fall in the first bin, values over 100× the bound in the last.
DISTRIBUTION_EDGES = np.arange(-6.0, 2.01, 0.5)

_matplotlib_ready = False


def _setup() -> Any:
    """Import matplotlib with the Agg backend and SVG settings (once)."""
    global _matplotlib_ready
    import matplotlib

    if not _matplotlib_ready:
        matplotlib.use("Agg", force=False)
        _matplotlib_ready = True
    return matplotlib


def _rc() -> dict[str, Any]:
    return {
        "svg.fonttype": "none",
        "svg.hashsalt": "verigrad",
        "font.size": 6,
        "font.family": "sans-serif",
        "axes.linewidth": 0.6,
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.6,
        "xtick.major.size": 2,
        "ytick.major.size": 2,
        "path.simplify": True,
    }


_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(:xlink)?="[^"]*"|\s+version="1\.1"')
_METADATA_BLOCK = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
#: matplotlib's per-file ``*{stroke-linejoin: round; stroke-linecap: butt}``: inline, it would style the whole page;
#: report.css has the same rule, scoped to svg.
_STYLE_BLOCK = re.compile(r"<defs>\s*<style[^>]*>.*?</style>\s*</defs>\s*", re.S)
_NUMBER = re.compile(r"(-?\d+\.\d)\d+")
_ATTRIBUTE = re.compile(r'="[^"]*"')
_ID = re.compile(r'\s+id="([^"]+)"')
_REFERENCE = re.compile(r'(url\(#|href="#)([^")]+)')
_NEWLINES = re.compile(r"\s*\n\s*")


def _clean(svg: str) -> str:
    """Strip prolog, metadata, namespaces and unused ids; round coordinates; prefix used ids by the content."""
    svg = _PROLOG.sub("", svg, count=1)
    svg = _METADATA_BLOCK.sub("", svg)
    svg = _STYLE_BLOCK.sub("", svg)
    svg = _NAMESPACES.sub("", svg)
    svg = svg.replace("xlink:href=", "href=")
    svg = _ATTRIBUTE.sub(lambda m: _NUMBER.sub(r"\1", m.group(0)), svg)
    used = {name for _, name in _REFERENCE.findall(svg)}
    # From the figure itself, not a count of the figures drawn before: a page drawn twice from the same
    # records is the same page, whatever else the process drew.  Equal figures share ids, as their
    # definitions are equal too.
    prefix = "v" + hashlib.sha1(svg.encode()).hexdigest()[:10]

    def rename_id(match: re.Match[str]) -> str:
        name = match.group(1)
        return f' id="{prefix}{name}"' if name in used else ""

    svg = _ID.sub(rename_id, svg)
    svg = _REFERENCE.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}" if m.group(2) in used else m.group(0), svg)
    svg = _NEWLINES.sub(" ", svg).replace("> <", "><")
    return svg.strip()


def _svg(figure: Any) -> Markup:
    """The figure as cleaned inline SVG markup (matplotlib escapes the text it writes)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata=_METADATA)
    return Markup(_clean(buffer.getvalue()))


# --------------------------------------------------------------- distribution


class _DistributionFigure:
    """One reusable sparkline figure: a log10(error/bound) histogram per dtype, the bound at 1.

    No text at all (laying out tick labels is what makes matplotlib slow): decade
    ticks are short lines, and the page shows the axis once, in :func:`axis_key_svg`.
    """

    def __init__(self, slots: int) -> None:
        matplotlib = _setup()
        from matplotlib.figure import Figure

        with matplotlib.rc_context(_rc()):
            self.figure = Figure(figsize=SPARK_SIZE)
            self.figure.patch.set_visible(False)
            ax = self.figure.add_axes((0.0, 0.0, 1.0, 1.0))
            ax.set_axis_off()
            edges = DISTRIBUTION_EDGES
            _decorate(ax)
            self.stairs = [
                ax.stairs(np.zeros(len(edges) - 1), edges, color=DTYPE_COLOURS[k % len(DTYPE_COLOURS)], linewidth=1.0)
                for k in range(slots)
            ]

    def render(self, histograms: Sequence[np.ndarray | None]) -> Markup:
        matplotlib = _setup()
        for k, artist in enumerate(self.stairs):
            counts = histograms[k] if k < len(histograms) else None
            if counts is None or not np.any(counts):
                artist.set_visible(False)
                continue
            artist.set_visible(True)
            artist.set_data(np.asarray(counts, dtype=float) / float(np.max(counts)))
        with matplotlib.rc_context(_rc()):
            return _svg(self.figure)


#: Size of a distribution sparkline (inches).
SPARK_SIZE = (2.4, 0.42)
_Y_MIN = -0.16


def _decorate(ax: Any) -> None:
    """The sparkline's frame: baseline, decade ticks, the bound at error = bound."""
    edges = DISTRIBUTION_EDGES
    ax.set_xlim(edges[0] - 0.05, edges[-1] + 0.05)
    ax.set_ylim(_Y_MIN, 1.08)
    ax.plot([edges[0], edges[-1]], [0, 0], color="#999999", linewidth=0.5)
    ticks = np.arange(edges[0], edges[-1] + 0.01, 1.0)
    xs = np.repeat(ticks, 3)
    ys = np.tile([0.0, _Y_MIN * 0.7, np.nan], len(ticks))
    ax.plot(xs, ys, color="#999999", linewidth=0.5)
    ax.plot([0, 0], [_Y_MIN, 1.08], color=BOUND_COLOUR, linewidth=0.8, linestyle="--")


def axis_key_svg(dtypes: Sequence[str] = ()) -> Markup:
    """The sparklines' x axis, once per page: decades of error ÷ bound, the bound at 1, the dtype colours."""
    matplotlib = _setup()
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_rc()):
        figure = Figure(figsize=(SPARK_SIZE[0], SPARK_SIZE[1] + 0.25))
        figure.patch.set_visible(False)
        ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_axis_off()
        _decorate(ax)
        ax.set_ylim(-1.0, 1.08)
        for tick, label in ((-6, "≤1e-6"), (-4, "1e-4"), (-2, "0.01"), (0, "1 = bound"), (2, "≥100")):
            ax.text(tick, _Y_MIN - 0.05, label, ha="center" if -6 < tick < 2 else ("left" if tick < 0 else "right"),
                    va="top", fontsize=5.5, color=BOUND_COLOUR if tick == 0 else "#444444")
        for k, dtype in enumerate(dtypes[:4]):
            x = -6 + k * 2.2
            ax.plot([x, x + 0.5], [0.6, 0.6], color=DTYPE_COLOURS[k], linewidth=1.2)
            ax.text(x + 0.65, 0.6, dtype, va="center", fontsize=5.5)
        return _svg(figure)


_figures: dict[int, _DistributionFigure] = {}
_distribution_cache: dict[tuple[Any, ...], Markup] = {}


def clear_caches() -> None:
    """Forget cached plots (benchmarks measure rendering, not the cache)."""
    _distribution_cache.clear()


def histogram(bound_fractions: Sequence[float] | np.ndarray) -> np.ndarray:
    """Counts of log10(error/bound) in :data:`DISTRIBUTION_EDGES` (zeros in the first bin)."""
    values = np.asarray(bound_fractions, dtype=float).ravel()
    values = values[np.isfinite(values)]
    edges = DISTRIBUTION_EDGES
    if values.size == 0:
        return np.zeros(len(edges) - 1, dtype=int)
    with np.errstate(divide="ignore"):
        logs = np.log10(np.maximum(values, 0.0))
    logs = np.clip(logs, edges[0], edges[-1] - 1e-9)
    return np.histogram(logs, bins=edges)[0]


def distribution_svg(histograms: Sequence[np.ndarray | None]) -> Markup | None:
    """One compact plot of several error/bound histograms (one per dtype); None when all are empty."""
    if not any(h is not None and np.any(h) for h in histograms):
        return None
    # Quantize so that near-identical distributions share a plot (and a cache entry).
    key = tuple(None if h is None else tuple(np.round(np.asarray(h) / max(1, int(np.max(h))) * 40).astype(int)) for h in histograms)
    cached = _distribution_cache.get(key)
    if cached is not None:
        return cached
    slots = max(2, len(histograms))
    if slots not in _figures:
        _figures[slots] = _DistributionFigure(slots)
    svg = _figures[slots].render(histograms)
    _distribution_cache[key] = svg
    return svg


# ------------------------------------------------------------------- heatmaps


class _HeatmapFigure:
    """One reusable figure and axes for heatmaps: each plot swaps its artists (creating axes is slow)."""

    def __init__(self) -> None:
        matplotlib = _setup()
        from matplotlib.figure import Figure

        with matplotlib.rc_context(_rc()):
            self.figure = Figure(figsize=(3, 1))
            self.figure.patch.set_visible(False)
            self.axes = self.figure.add_axes((0.0, 0.0, 1.0, 1.0))
            self.axes.set_axis_off()

    def render(self, panels: Sequence[tuple[str, np.ndarray]]) -> Markup:
        matplotlib = _setup()
        ax = self.axes
        for artist in [*ax.collections, *ax.texts, *ax.patches]:
            artist.remove()
        mats = [np.atleast_2d(np.asarray(m, dtype=float)) for _, m in panels]
        rows = max(m.shape[0] for m in mats)
        cols = max(m.shape[1] for m in mats)
        gap = 1
        slot = max(cols, 5)  # room for the panel's title under tiny matrices
        width = len(mats) * slot + (len(mats) - 1) * gap
        cell = 0.3 if cols * rows <= 40 else 0.2
        title_space = 0.7  # in cells, above the matrices
        self.figure.set_size_inches(min(9.0, 0.1 + width * cell), 0.1 + (rows + title_space) * cell)
        finite = [m[np.isfinite(m)] for m in (mats[:-1] if len(mats) > 1 else mats)]
        shared = max((float(np.max(np.abs(f))) for f in finite if f.size), default=1.0) or 1.0
        annotate = rows * cols <= 6
        from matplotlib import colormaps
        from matplotlib.collections import PolyCollection

        cmap = colormaps["RdBu_r"]
        cells, colours, frames = [], [], []
        with matplotlib.rc_context(_rc()):
            for k, ((title, _), m) in enumerate(zip(panels, mats, strict=True)):
                x0 = k * (slot + gap) + (slot - m.shape[1]) / 2
                scale = shared
                if k == len(mats) - 1 and len(mats) > 1:
                    f = np.abs(m[np.isfinite(m)])
                    scale = float(np.max(f)) if f.size and np.max(f) > 0 else 1.0
                clean = np.nan_to_num(m, nan=0.0, posinf=scale, neginf=-scale)
                for (r, c), value in np.ndenumerate(clean):
                    x = x0 + c
                    cells.append(((x, r), (x + 1, r), (x + 1, r + 1), (x, r + 1)))
                    colours.append(cmap(0.5 + 0.5 * float(np.clip(value / scale, -1.0, 1.0))))
                frames.append(((x0, 0), (x0 + m.shape[1], 0), (x0 + m.shape[1], m.shape[0]), (x0, m.shape[0])))
                ax.text(x0 + m.shape[1] / 2, -0.12, title, ha="center", va="bottom", fontsize=6.5, parse_math=False)
                if annotate:
                    for (r, c), value in np.ndenumerate(m):
                        strong = math.isfinite(value) and abs(value) > 0.6 * scale
                        ax.text(x0 + c + 0.5, r + 0.5, f"{value:.3g}" if value != 0 else "0", ha="center", va="center",
                                fontsize=5, color="#ffffff" if strong else "#222222", parse_math=False)
            ax.add_collection(PolyCollection(cells, facecolors=colours, edgecolors="#ffffff", linewidths=0.4))
            ax.add_collection(PolyCollection(frames, facecolors="none", edgecolors="#888888", linewidths=0.5))
            ax.set_xlim(-0.05, width + 0.05)
            ax.set_ylim(rows + 0.05, -title_space)
            return _svg(self.figure)


_heatmap_figure: list[_HeatmapFigure] = []


def heatmaps_svg(panels: Sequence[tuple[str, np.ndarray]]) -> Markup:
    """Side-by-side heatmaps (e.g. reference, engine, difference) on one axes: one colour scale shared
    by all panels but the last (the difference), which gets its own.  Tiny matrices show their values.
    """
    if not _heatmap_figure:
        _heatmap_figure.append(_HeatmapFigure())
    return _heatmap_figure[0].render(panels)


# ---------------------------------------------------------- finite differences


def fd_step_svg(steps: Sequence[float], errors: Sequence[float], chosen: float | None, chosen_error: float | None,
                engine_error: float | None = None) -> Markup:
    """Error of a central difference against the step, log-log, with the chosen step marked.

    Drawn on linear axes over log10 values with fixed ticks (matplotlib's log axes are slow to lay out).
    """
    matplotlib = _setup()
    from matplotlib.figure import Figure

    floor = 1e-17  # exact results (error 0) are drawn on the bottom edge
    x = np.log10(np.asarray(steps, dtype=float))
    y = np.log10(np.maximum(np.asarray(errors, dtype=float), floor))
    with matplotlib.rc_context(_rc()):
        figure = Figure(figsize=(3.6, 2.1))
        figure.patch.set_visible(False)
        ax = figure.add_axes((0.16, 0.19, 0.8, 0.74))
        ax.plot(x, y, marker="o", markersize=2.2, linewidth=0.9, color=DTYPE_COLOURS[0], label="central difference")
        if chosen is not None and chosen > 0:
            cx = math.log10(chosen)
            ax.axvline(cx, color=BOUND_COLOUR, linewidth=0.8, linestyle="--")
            label = f"fd engine's step h = {chosen:.2g}"
            if chosen_error is not None:
                ax.plot([cx], [math.log10(max(chosen_error, floor))], marker="D", markersize=3.5, color=BOUND_COLOUR,
                        linestyle="none", label=label)
            else:
                ax.plot([], [], color=BOUND_COLOUR, linestyle="--", label=label)
            if engine_error is not None:
                ax.plot([cx], [math.log10(max(engine_error, floor))], marker="*", markersize=5, color="#2ca02c",
                        linestyle="none", label="fd engine's result")
        xticks = np.arange(math.floor(x.min()), math.ceil(x.max()) + 1, 2)
        ylo, yhi = math.floor(min(y.min(), -17)), math.ceil(y.max()) + 1
        yticks = np.arange(ylo, yhi + 1, 2 if yhi - ylo <= 12 else 4)
        ax.set_xticks(xticks, [f"1e{int(t)}" for t in xticks])
        ax.set_yticks(yticks, [f"1e{int(t)}" for t in yticks])
        ax.set_xlim(x.min() - 0.3, x.max() + 0.3)
        ax.set_ylim(ylo - 0.3, yhi + 1.5)
        ax.set_xlabel("step h (log)")
        ax.set_ylabel("|error| (log)")
        ax.grid(True, linewidth=0.3, color="#dddddd")
        ax.legend(fontsize=5.5, frameon=False, loc="upper center", ncols=2)
        return _svg(figure)
