"""Where a user's function is checked: the user's inputs, then hypothesis-drawn points of the same shapes.

Drawn points lie near the user's values (each element moved by up to half its
magnitude, or by ½ when it is smaller than 1) or, with ``domain=``, anywhere in
the box.  Every drawn offset shrinks towards zero, so a failure shrinks towards
the user's own inputs (or the middle of the domain).  On top, hypothesis picks
one *pattern* per example, on purpose, because that is where derivatives are
defined by convention: exact zeros (some elements, or a whole input), ties between elements (within an input or
across inputs: ``maximum(a, b)`` at ``a == b``), or one input holding a single
repeated value.  Probes (cotangents, tangents) are non-zero, in [-2, 2].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from verigrad import strategies as vs

#: A drawn element moves by up to this fraction of max(|user's value|, 1).
NEAR_RADIUS = 0.5
PATTERNS = ("as drawn", "zeros", "ties", "repeated")

Box = tuple[float, float]


@dataclass
class Point:
    """One example: the inputs in the dtype under test and the probes a property uses."""

    inputs: tuple[np.ndarray, ...]
    cotangent: np.ndarray
    tangents: tuple[np.ndarray, ...]
    pattern: str = "user's inputs"


def boxes(domain: Any, count: int) -> list[Box | None]:
    """``domain=`` as one (low, high) box per input (None: near the user's values); a clear error if malformed."""
    if domain is None:
        return [None] * count
    if _is_box(domain):
        return [_box(domain, "domain")] * count
    if isinstance(domain, Sequence) and len(domain) == count:
        return [None if d is None else _box(d, f"domain[{k}]") for k, d in enumerate(domain)]
    raise ValueError(f"domain= takes (low, high) for every input, or one (low, high) or None per input ({count}), got {domain!r}")


def _is_box(value: Any) -> bool:
    return isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, int | float) for v in value)


def _box(value: Any, what: str) -> Box:
    if not _is_box(value) or not float(value[0]) < float(value[1]) or not np.all(np.isfinite(value)):
        raise ValueError(f"{what} must be a finite (low, high) with low < high, got {value!r}")
    return float(value[0]), float(value[1])


def _place(offset: np.ndarray, user: np.ndarray, box: Box | None) -> np.ndarray:
    """An offset in [-1, 1] as a point: near the user's value, or in the box (clipped to it)."""
    if box is None:
        return user + offset * NEAR_RADIUS * np.maximum(np.abs(user), 1.0)
    low, high = box
    return np.clip((low + high) / 2 + offset * (high - low) / 2, low, high)


def _zero_ok(box: Box | None) -> bool:
    return box is None or box[0] <= 0.0 <= box[1]


@st.composite
def _pattern(draw: Any, values: list[np.ndarray], boxes: list[Box | None]) -> tuple[list[np.ndarray], str]:
    """Exact zeros, ties or a repeated value, put in on purpose (see the module docstring)."""
    pattern = draw(st.sampled_from(PATTERNS))
    sizes = [v.size for v in values]
    total = sum(sizes)
    if pattern == "as drawn" or total == 0:
        return values, "as drawn"
    flat = np.concatenate([v.ravel() for v in values])
    owner = np.repeat(np.arange(len(values)), sizes)
    if pattern == "zeros":
        if draw(st.booleans()):  # a whole input at zero (where ‖x‖, x / ‖x‖ and the like are not differentiable)
            whole = draw(st.integers(0, len(values) - 1))
            chosen = list(np.flatnonzero(owner == whole))
        else:
            chosen = draw(st.lists(st.integers(0, total - 1), min_size=1, max_size=total, unique=True))
        chosen = [i for i in chosen if _zero_ok(boxes[owner[i]])]
        flat[chosen] = 0.0
    elif pattern == "ties" and total > 1:
        pairs = draw(st.lists(st.tuples(st.integers(0, total - 1), st.integers(0, total - 1)), min_size=1, max_size=total))
        for source, target in pairs:
            flat[target] = np.clip(flat[source], *(boxes[owner[target]] or (-np.inf, np.inf)))
    elif pattern == "repeated":
        k = draw(st.integers(0, len(values) - 1))
        start = sum(sizes[:k])
        if sizes[k]:
            flat[start:start + sizes[k]] = flat[start + draw(st.integers(0, sizes[k] - 1))]
    else:
        return values, "as drawn"
    split = np.split(flat, np.cumsum(sizes)[:-1])
    return [s.reshape(v.shape) for s, v in zip(split, values, strict=True)], pattern


@st.composite
def points(
    draw: Any,
    user_inputs: tuple[np.ndarray, ...],
    dtype: np.dtype,
    domains: list[Box | None],
    out_shape: tuple[int, ...],
    cotangent: bool = True,
    tangents: bool = True,
) -> Point:
    """A drawn point of the user's shapes in ``dtype`` and its probes (unused probes are zeros)."""
    offsets = [draw(vs.array(np.dtype(np.float64), u.shape, bound=1.0)) for u in user_inputs]
    placed = [_place(o, u.astype(np.float64), b) for o, u, b in zip(offsets, user_inputs, domains, strict=True)]
    values, pattern = draw(_pattern(placed, domains))
    inputs = tuple(v.astype(dtype) for v in values)
    probe = lambda shape, wanted: (draw(vs.array(dtype, shape, bound=vs.PROBE_RANGE, zeros=False))
                                   if wanted else np.zeros(shape, dtype))
    drawn_cotangent = probe(out_shape, cotangent)
    drawn_tangents = tuple(probe(u.shape, tangents) for u in user_inputs)
    return Point(inputs, drawn_cotangent, drawn_tangents, pattern)


def user_point(user_inputs: tuple[np.ndarray, ...], dtype: np.dtype, out_shape: tuple[int, ...]) -> Point:
    """The user's own inputs, checked first, with probes 1, -½, 1, -½, ... (non-zero, both signs)."""

    def probe(shape: tuple[int, ...]) -> np.ndarray:
        size = int(np.prod(shape, dtype=np.int64))
        return np.where(np.arange(size) % 2, -0.5, 1.0).reshape(shape).astype(dtype)

    return Point(tuple(u.astype(dtype) for u in user_inputs), probe(out_shape), tuple(probe(u.shape) for u in user_inputs))
