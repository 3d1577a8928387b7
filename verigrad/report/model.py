"""From headers and verdicts to what the page shows: plain data for the templates.

Nothing here builds HTML: it groups verdicts (case → engine → dtype), counts,
picks the plots to draw and computes them.  The templates do the markup, with
autoescaping on, so every string that came from an engine is shown as text.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from verigrad.records import FAIL, KINDS, PASS, SKIP, Verdict
from verigrad.reference import CASES, CASES_BY_ID, ERRATA, demonstrate
from verigrad.report import plots
from verigrad.report.jacobians import failing_jacobian
from verigrad.report.mathml import to_mathml

__all__ = ["CATEGORIES", "build_context", "category"]

#: Verdict categories, worst first (a matrix cell shows the worst of its checks).
CATEGORIES = ("fail", "xpass", "xfail", "pass", "skip")
CATEGORY_LABELS = {
    "fail": "fail",
    "xpass": "unexpected pass",
    "xfail": "expected fail",
    "pass": "pass",
    "skip": "skip",
}
CATEGORY_SYMBOLS = {"fail": "✗", "xpass": "!", "xfail": "≈", "pass": "✓", "skip": "–"}
#: Categories the "failures only" filter keeps.
FAILING = frozenset({"fail", "xpass", "xfail"})
#: At most this many Jacobian heatmaps per report (each costs a matplotlib figure).
MAX_HEATMAPS = 16
#: Property order for choosing which failing check of an argument gets the heatmap.
_HEATMAP_PREFERENCE = ("structure", "vjp", "kink", "jvp", "adjoint", "aliased", "equal_values")
_DTYPE_ORDER = ("float64", "float32", "float16", "bfloat16")
_FIRST_VERSIONS = ("python", "numpy", "verigrad")


ANY = "any"  # expectations: either outcome accepted (verigrad.expectations.ANY)


def category(verdict: Verdict) -> str:
    """pass / fail / skip, refined by the expectations file: expected fail, unexpected pass."""
    if verdict.status == SKIP:
        return "skip"
    if verdict.status == FAIL:
        return "xfail" if verdict.expected in (FAIL, ANY) else "fail"
    if verdict.status == PASS and verdict.expected == FAIL:
        return "xpass"
    return "pass" if verdict.status == PASS else "fail"


def _worst(categories: Iterable[str]) -> str | None:
    present = set(categories)
    for name in CATEGORIES:
        if name in present:
            return name
    return None


_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


def slug(text: str) -> str:
    """An HTML id fragment for any string (engine names may hold anything): safe characters plus a checksum."""
    cleaned = _SLUG.sub("-", str(text)).strip("-")[:40] or "x"
    return f"{cleaned}-{zlib.crc32(str(text).encode('utf-8')):08x}"


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    if number == 0:
        return "0"
    return f"{number:.{digits}g}"


def _share(value: float | None) -> str:
    """A kink share t: 0, 0.5, 1 read exactly; anything else with 3 digits."""
    if value is None:
        return "—"
    if not math.isfinite(value):
        return _num(value)
    return f"{value:.3g}" if abs(value - round(value, 3)) > 1e-9 else f"{round(value, 3):g}"


def _finite_array(lists: Iterable[Sequence[float]]) -> np.ndarray:
    """The finite values of several lists as one float array (None, NaN and Inf dropped)."""
    arrays = []
    for values in lists:
        if values:
            try:
                arrays.append(np.asarray(values, dtype=float))
            except (TypeError, ValueError):  # a None inside: the slow way
                arrays.append(np.asarray([x if isinstance(x, int | float) else np.nan for x in values], dtype=float))
    if not arrays:
        return np.zeros(0)
    joined = np.concatenate([a.ravel() for a in arrays])
    return joined[np.isfinite(joined)]


def _compact_json(value: Any, limit: int = 4000) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + " …"


def _counterexample_lines(counterexample: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The counterexample as (label, compact JSON) pairs, inputs first."""
    if not counterexample:
        return []
    lines: list[tuple[str, str]] = []
    for name, value in (counterexample.get("inputs") or {}).items():
        lines.append((name, _compact_json(value)))
    for key in ("dtype", "params", "cotangent", "tangents"):
        if key in counterexample and counterexample[key] not in (None, {}, []):
            lines.append((key, _compact_json(counterexample[key])))
    for key, value in counterexample.items():
        if key not in ("inputs", "dtype", "params", "cotangent", "tangents"):
            lines.append((str(key), _compact_json(value)))
    return lines


def _case(case_id: str) -> Any | None:
    return CASES_BY_ID.get(case_id)


def _case_order(case_ids: Iterable[str]) -> list[str]:
    order = {case.id: k for k, case in enumerate(CASES)}
    return sorted(set(case_ids), key=lambda c: (order.get(c, len(order)), c))


# --------------------------------------------------------------------- header


def _versions(headers: Sequence[Mapping[str, Any]], engines: Sequence[str]) -> list[tuple[str, str]]:
    merged: dict[str, str] = {}
    for header in headers:
        versions = header.get("versions")
        if isinstance(versions, Mapping):
            for name, version in versions.items():
                merged.setdefault(str(name), str(version))
    ordered = [name for name in _FIRST_VERSIONS if name in merged]
    ordered += [name for name in engines if name in merged and name not in ordered]
    ordered += [name for name in merged if name not in ordered]
    rows = [(name, merged[name]) for name in ordered]
    for name in ("python", "numpy", *engines):
        if name not in merged:
            rows.append((name, "unknown"))
    return rows


def _command(value: Any) -> str:
    if isinstance(value, list | tuple):
        return shlex.join(str(v) for v in value)
    return "" if value is None else str(value)


def _runs(headers: Sequence[Mapping[str, Any]], verdicts: Sequence[Verdict]) -> dict[str, Any]:
    first = headers[0] if headers else {}
    modes = sorted({v.mode for v in verdicts if v.mode})
    shards = []
    for header in headers:
        shards.append({
            "command": _command(header.get("command")),
            "shard": "/".join(str(s) for s in header["shard"]) if header.get("shard") else "",
            "date": str(header.get("date") or header.get("started") or ""),
        })
    return {
        "date": str(first.get("date") or first.get("started") or "unknown"),
        "command": _command(first.get("command")) or "unknown",
        "seed": "random" if first.get("seed") is None and headers else str(first.get("seed", "unknown")),
        "profile": str(first.get("profile") or "unknown"),
        "mode": str(first.get("mode") or ", ".join(modes) or "unknown"),
        "examples": first.get("examples"),
        "count": len(headers),
        "shards": shards if len(headers) > 1 else [],
    }


# --------------------------------------------------------------------- the page


@dataclass
class _Layout:
    """The verdicts arranged for the page: categories, engine and dtype columns, indices by case → engine → dtype."""

    verdicts: list[Verdict]
    categories: list[str]
    engines: list[str]
    dtypes: list[str]
    by_case: dict[str, dict[str, dict[str, list[int]]]]
    case_ids: list[str]
    engine_slugs: dict[str, str]

    @classmethod
    def of(cls, verdicts: Sequence[Verdict]) -> _Layout:
        verdicts = list(verdicts)
        engines = list(dict.fromkeys(v.engine for v in verdicts))
        seen_dtypes = {v.dtype for v in verdicts}
        dtypes = [d for d in _DTYPE_ORDER if d in seen_dtypes] + sorted(seen_dtypes - set(_DTYPE_ORDER))
        by_case: dict[str, dict[str, dict[str, list[int]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
        for k, v in enumerate(verdicts):
            by_case[v.case][v.engine][v.dtype].append(k)
        return cls(verdicts, [category(v) for v in verdicts], engines, dtypes, by_case, _case_order(by_case),
                   {name: slug(name) for name in engines})

    def anchor(self, case_id: str, engine: str | None = None, dtype: str | None = None) -> str:
        parts = [f"c-{slug(case_id)}"]
        if engine is not None:
            parts.append(self.engine_slugs[engine])
        if dtype is not None:
            parts.append(slug(dtype))
        return "--".join(parts)

    def indices(self, case_id: str, engine: str, dtype: str) -> list[int]:
        return self.by_case[case_id].get(engine, {}).get(dtype, [])


def build_context(headers: Sequence[Mapping[str, Any]], verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """Everything the report template needs, from the run headers and verdicts alone."""
    layout = _Layout.of(verdicts)
    heatmaps, skipped_heatmaps = _heatmaps(layout)
    cases = [_case_section(layout, case_id, heatmaps) for case_id in layout.case_ids]
    totals = Counter(layout.categories)
    return {
        "title": "verigrad report",
        "run": _runs(headers, layout.verdicts),
        "versions": _versions(headers, layout.engines),
        "engines": layout.engines,
        "engine_counts": _engine_counts(layout),
        "dtypes": layout.dtypes,
        "columns": _columns(layout),
        "matrix": _matrix(layout),
        "totals": [(c, CATEGORY_LABELS[c], totals[c]) for c in CATEGORIES],
        "total": len(layout.verdicts),
        "categories": [(c, CATEGORY_LABELS[c], CATEGORY_SYMBOLS[c]) for c in CATEGORIES],
        "cases": cases,
        "kinks": _kink_table(layout.verdicts, layout.categories, layout.engines, layout.dtypes, layout.anchor),
        "errata": _errata(),
        "fd": _fd_section(headers),
        "root_causes": _root_causes(headers),
        "shared_by_engines": _shared_by_engines(headers),
        "kinds": KINDS,
        "skipped_heatmaps": skipped_heatmaps,
        "max_heatmaps": MAX_HEATMAPS,
        "axis_key": plots.axis_key_svg(layout.dtypes) if any(b["plot"] for c in cases for b in c["blocks"]) else None,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _root_causes(headers: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Per engine, the primitive its failing checks share, as each run's summary record states it (shards: each its own)."""
    causes: list[dict[str, str]] = []
    for header in headers:
        shard = "/".join(str(s) for s in header["shard"]) if header.get("shard") else ""
        for cause in (header.get("summary") or {}).get("root_causes", []):
            row = {"engine": str(cause.get("engine", "")), "line": str(cause.get("line", "")), "shard": shard}
            if row not in causes:
                causes.append(row)
    return causes


def _shared_by_engines(headers: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Failures several libraries share, as each run's summary record states them (:mod:`verigrad.consensus`)."""
    shared: list[dict[str, str]] = []
    for header in headers:
        shard = "/".join(str(s) for s in header["shard"]) if header.get("shard") else ""
        for item in (header.get("summary") or {}).get("shared_by_engines", []):
            row = {"line": str(item.get("line", "")), "shard": shard}
            if row not in shared:
                shared.append(row)
    return shared


def _columns(layout: _Layout) -> list[dict[str, str]]:
    return [{"engine": e, "dtype": d} for e in layout.engines for d in layout.dtypes]


def _matrix(layout: _Layout) -> list[dict[str, Any]]:
    """The summary matrix: one row per case, one cell per (engine, dtype), the worst category of its checks."""
    rows = []
    for case_id in layout.case_ids:
        cells = []
        for column in _columns(layout):
            indices = layout.indices(case_id, column["engine"], column["dtype"])
            counts = Counter(layout.categories[k] for k in indices)
            worst = _worst(counts)
            cells.append({
                **column,
                "category": worst or "none",
                "symbol": CATEGORY_SYMBOLS.get(worst or "", ""),
                "title": ", ".join(f"{counts[c]} {CATEGORY_LABELS[c]}" for c in CATEGORIES if counts[c]) or "no checks",
                "href": "#" + layout.anchor(case_id, column["engine"], column["dtype"]) if indices else None,
                "failing": bool(FAILING & set(counts)),
            })
        rows.append({
            "case": case_id,
            "section": getattr(_case(case_id), "section", ""),
            "href": "#" + layout.anchor(case_id),
            "cells": cells,
            "failing": any(c["failing"] for c in cells),
        })
    return rows


def _engine_counts(layout: _Layout) -> list[dict[str, Any]]:
    rows = []
    for name in layout.engines:
        counts = Counter(c for v, c in zip(layout.verdicts, layout.categories, strict=True) if v.engine == name)
        rows.append({
            "engine": name,
            "slug": layout.engine_slugs[name],
            "total": sum(counts.values()),
            "counts": [(c, CATEGORY_LABELS[c], counts[c]) for c in CATEGORIES],
            "failing": bool(FAILING & {c for c, n in counts.items() if n}),
        })
    return rows


def _heatmaps(layout: _Layout) -> tuple[dict[int, dict[str, Any]], int]:
    """One heat map per failing (case, arg, engine, dtype), worst first, at most MAX_HEATMAPS; and how many were left out."""
    verdicts, cats = layout.verdicts, layout.categories
    preference = {name: r for r, name in enumerate(_HEATMAP_PREFERENCE)}
    candidates = [k for k, c in enumerate(cats) if c in ("fail", "xfail") and verdicts[k].counterexample]
    candidates.sort(key=lambda k: (cats[k] != "fail", preference.get(verdicts[k].property, len(preference)), k))
    heatmap_for: dict[int, dict[str, Any]] = {}
    covered: set[tuple[str, str | None, str, str]] = set()
    skipped = 0
    for k in candidates:
        v = verdicts[k]
        key = (v.case, v.arg, v.engine, v.dtype)
        if key in covered:
            continue
        view = failing_jacobian(v)
        if view is None:  # too large to draw (an unshrunk counterexample, say): the next check of the argument may be
            continue
        covered.add(key)
        if len(heatmap_for) >= MAX_HEATMAPS:
            skipped += 1
            continue
        names = ("reference J", "engine J") if view.kind == "jacobian" else ("reference probe", "engine probe")
        panels = [(names[0], view.reference), (names[1], view.engine), ("engine − reference", view.difference)]
        heatmap_for[k] = {
            "check": v.check_id,
            "arg": v.arg,
            "kind": view.kind,
            "svg": plots.heatmaps_svg(panels),
            "note": view.note,
            "shape": "×".join(str(s) for s in view.reference.shape),
        }
    return heatmap_for, skipped


def _case_section(layout: _Layout, case_id: str, heatmaps: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A case's detail section: its formulas and, per engine, the error distributions and every check."""
    case = _case(case_id)
    blocks = [_engine_block(layout, case_id, engine, heatmaps) for engine in layout.engines if layout.by_case[case_id].get(engine)]
    return {
        "id": case_id,
        "anchor": layout.anchor(case_id),
        "known": case is not None,
        "section": getattr(case, "section", ""),
        "formula": getattr(case, "formula", ""),
        "formula_mathml": to_mathml(getattr(case, "formula", "")) if case is not None else None,
        "args": _args(case),
        "notes": getattr(case, "notes", ""),
        "kink": _kink(case),
        "blocks": blocks,
        "failing": any(b["failing"] for b in blocks),
    }


def _engine_block(layout: _Layout, case_id: str, engine: str, heatmaps: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """One engine's checks of a case: a distribution plot over its dtypes and a sub-block per dtype."""
    histograms, stats, subblocks = [], [], []
    for dtype in layout.dtypes:
        indices = layout.indices(case_id, engine, dtype)
        if not indices:
            histograms.append(None)
            continue
        measured = [layout.verdicts[k] for k in indices if layout.verdicts[k].status != SKIP]
        fractions = _finite_array(v.bound_fractions for v in measured)
        ulps = _finite_array(v.ulps for v in measured)
        histograms.append(plots.histogram(fractions) if fractions.size else None)
        if measured:
            stats.append({
                "dtype": dtype,
                "colour": plots.DTYPE_COLOURS[layout.dtypes.index(dtype) % len(plots.DTYPE_COLOURS)],
                "samples": int(fractions.size),
                "max_ulps": _num(float(ulps.max()) if ulps.size else 0.0),
                "median_ulps": _num(float(np.median(ulps)) if ulps.size else 0.0),
                "max_fraction": _num(float(fractions.max()) if fractions.size else 0.0),
            })
        rows = [_verdict_row(layout, k) for k in indices]
        subblocks.append({
            "dtype": dtype,
            "anchor": layout.anchor(case_id, engine, dtype),
            "rows": rows,
            "heatmaps": [heatmaps[k] for k in indices if k in heatmaps],
            "category": _worst(r["category"] for r in rows) or "none",
            "failing": any(r["failing"] for r in rows),
        })
    return {
        "engine": engine,
        "anchor": layout.anchor(case_id, engine),
        "plot": plots.distribution_svg(histograms),
        "stats": stats,
        "subblocks": subblocks,
        "category": _worst(s["category"] for s in subblocks) or "none",
        "failing": any(s["failing"] for s in subblocks),
    }


def _verdict_row(layout: _Layout, k: int) -> dict[str, Any]:
    v, cat = layout.verdicts[k], layout.categories[k]
    diagnosis = v.diagnosis or None
    return {
        "uid": f"v{k}",
        "verdict": v,
        "category": cat,
        "label": CATEGORY_LABELS[cat],
        "failing": cat in FAILING,
        "max_ulps": _num(v.max_ulps),
        "max_fraction": _num(v.max_bound_fraction),
        "seconds": f"{v.seconds:.2f}",
        "diagnosis": diagnosis,
        "diagnosis_meaning": KINDS.get(str(diagnosis.get("kind")), "") if diagnosis else "",
        "diagnosis_values": [
            (label, _compact_json(diagnosis.get(key)) if key == "index" else _num(diagnosis.get(key), 17))
            for key, label in (("index", "index"), ("reference", "reference"), ("engine", "engine"))
            if diagnosis.get(key) is not None
        ] if diagnosis else [],
        "counterexample": _counterexample_lines(v.counterexample),
        "convention": _share(v.convention) if v.convention is not None else None,
    }


def _args(case: Any) -> list[dict[str, Any]]:
    if case is None:
        return []
    rows = []
    for arg in case.args:
        partial = case.partials.get(arg.name)
        shape = "(" + ", ".join(str(d) for d in arg.shape) + ("," if len(arg.shape) == 1 else "") + ")"
        rows.append({
            "name": arg.name,
            "shape": "scalar" if not arg.shape else shape,
            "domain": arg.domain,
            "differentiable": arg.differentiable,
            "latex": partial.latex if partial else "",
            "mathml": to_mathml(partial.latex) if partial else None,
            "structure": getattr(getattr(partial, "structure", None), "value", "") if partial else "",
        })
    return rows


def _kink(case: Any) -> dict[str, str] | None:
    kink = getattr(case, "kink", None)
    if kink is None:
        return None
    return {"where": kink.where, "subdifferential": kink.subdifferential, "note": kink.convention_note}


def _kink_table(verdicts: Sequence[Verdict], cats: Sequence[str], engines: Sequence[str], dtypes: Sequence[str],
                anchor: Any) -> dict[str, Any]:
    """Which subgradient each engine chose at each kink: the share t per (case, arg) × (engine, dtype)."""
    cells: dict[tuple[str, str | None], dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
    for v, c in zip(verdicts, cats, strict=True):
        if v.property != "kink":
            continue
        cells[(v.case, v.arg)][(v.engine, v.dtype)] = {
            "value": _share(v.convention) if v.convention is not None else ("skip" if c == "skip" else "—"),
            "category": c,
            "inside": v.convention is not None and 0.0 <= v.convention <= 1.0,
            "href": "#" + anchor(v.case, v.engine, v.dtype),
            "title": v.message or CATEGORY_LABELS[c],
        }
    used = [(e, d) for e in engines for d in dtypes if any((e, d) in row for row in cells.values())]
    rows = []
    for case_id in _case_order(c for c, _ in cells):
        for key in sorted((k for k in cells if k[0] == case_id), key=lambda k: str(k[1])):
            rows.append({"case": case_id, "arg": key[1], "cells": [cells[key].get(col) for col in used]})
    return {"columns": [{"engine": e, "dtype": d} for e, d in used], "rows": rows}


# ------------------------------------------------------------------- errata


def _field(row: Any, *names: str, default: Any = None) -> Any:
    """The first of ``names`` that the row has as a non-callable value (rows may be objects or dicts)."""
    for name in names:
        value = row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)
        if value is not None and not callable(value):
            return value
    return default


_MATH = re.compile(r"\$([^$]+)\$")


def _mixed(text: Any) -> list[tuple[str, Any]]:
    """Prose with inline ``$...$`` LaTeX as parts: ("text", str) or ("math", MathML markup).

    A whole string that looks like LaTeX (a backslash command and no ``$``) is one formula.
    """
    text = "" if text is None else str(text)
    if "$" not in text:
        if "\\" in text:
            mathml = to_mathml(text)
            if mathml is not None:
                return [("math", mathml)]
        return [("text", text)] if text else []
    parts: list[tuple[str, Any]] = []
    position = 0
    for match in _MATH.finditer(text):
        if match.start() > position:
            parts.append(("text", text[position : match.start()]))
        mathml = to_mathml(match.group(1))
        parts.append(("math", mathml) if mathml is not None else ("text", match.group(0)))
        position = match.end()
    if position < len(text):
        parts.append(("text", text[position:]))
    return parts


def _value(value: Any) -> str:
    if isinstance(value, np.ndarray | np.generic) or (
        isinstance(value, list | tuple) and value and all(isinstance(v, int | float | list) for v in value)
    ):
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return str(value)
        if array.ndim == 0:
            return _num(float(array), 10)
        return np.array2string(array, precision=6, threshold=24, max_line_width=100)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | int):
        return _num(value, 10)
    if isinstance(value, Mapping):
        return "; ".join(f"{k} = {_value(v)}" for k, v in value.items())
    return str(value)


#: demonstrate() keys already shown in the erratum's own columns.
_DEMO_SKIP = frozenset({"id", "section", "case", "arg"})


def _errata() -> dict[str, Any]:
    rows = []
    for row in ERRATA:
        demo = [(str(k).replace("_", " "), _value(v)) for k, v in demonstrate(row).items() if k not in _DEMO_SKIP]
        rows.append({
            "id": row.id,
            "section": row.section,
            "wrong": _mixed(row.wrong_statement),
            "right": _mixed(row.right_statement),
            "case": row.case_id,
            "arg": row.arg or "",
            "counterexample": _value(row.counterexample),
            "precondition": row.precondition or "",
            "demo": demo,
            "demo_error": "",
        })
    return {"available": True, "reason": "", "rows": rows}


# ------------------------------------------------------- finite differences

def _fd_section(headers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The finite-difference step scan the run recorded in its header (``fd_steps``)."""
    scan = next((h["fd_steps"] for h in headers if h.get("fd_steps")), None)
    if scan is None:
        return {"available": False, "reason": "the records hold no finite-difference step scan"}
    case = _case(scan["case"])
    steps, errors = scan["steps"], scan["errors"]
    best = int(np.argmin(errors))
    return {
        "available": True,
        "case": scan["case"],
        "formula": to_mathml(case.formula) if case is not None else None,
        "x": scan["x"],
        "exact": _num(scan["exact"], 17),
        "svg": plots.fd_step_svg(steps, errors, scan["chosen"], scan["chosen_error"], scan["engine_error"]),
        "chosen": _num(scan["chosen"], 3),
        "chosen_error": _num(scan["chosen_error"], 3),
        "engine_error": _num(scan["engine_error"], 3),
        "best_step": _num(steps[best], 3),
        "best_error": _num(errors[best], 3),
        "source": scan["source"],
        "note": "",
    }
