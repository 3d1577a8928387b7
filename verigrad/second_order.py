"""Second derivatives: Hessian-vector products against closed-form Hessians, and the two modes against each other.

``hvp``
    On every scalar-output case with a closed-form Hessian
    (``verigrad.reference.hessians``), the engine's ``hvp(fn, primals, vectors)``
    matches H v within the rounding bound.  The bound is built as a first
    derivative's is: u · k · (|H| applied to |v|), k the Hessian's own roundings
    plus the Σ_b size(b) terms of the product.
``hvp_modes``
    Forward over reverse (``hvp``) and reverse over reverse (``hvp_reverse``)
    agree within the sum of their two bounds (each lies within its own bound of
    the exact H v), where the engine has both.

Examples are drawn off the kinks (where a ReLU's gradient jumps, there is no
Hessian).  Engines without the methods are skipped with the reason
(:func:`missing_methods`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from verigrad import strategies as vs
from verigrad import truth
from verigrad.calls import ContractViolation, _check_array, _guarded_call
from verigrad.checks import PROPERTIES, Outcome, Property, Target, _compare, _kink_u, _violation
from verigrad.compare import REQUIRED_METHODS as REQUIRED_METHODS  # re-exported
from verigrad.compare import missing_methods as missing_methods  # re-exported
from verigrad.dtypes import finfo
from verigrad.reference import Case
from verigrad.reference.hessians import HESSIANS, block, hvp


def has_hessian(case: Case, arg: str | None = None) -> bool:
    return case.id in HESSIANS and tuple(case.output) == ()


def _shapes(case: Case, ex: vs.Example) -> dict[str, tuple[int, ...]]:
    return {name: tuple(np.shape(ex.values[name])) for name in case.differentiable_args}


def _on_kink(case: Case, ex: vs.Example, u: float) -> bool:
    """Whether a kink variable lies within its rounding blur of 0 (no Hessian there)."""
    return truth.near_kink(case, ex.values, ex.params, u, min_ops=1)


def _in_range(case: Case, ex: vs.Example, largest: float) -> bool:
    """Whether the Hessian's declared reach (times the vectors where they exceed 1) stays within the format."""
    reach = HESSIANS[case.id].reach
    if reach is None:
        return True
    size = max((float(np.max(np.abs(v.astype(np.float64)), initial=0.0)) for v in ex.tangents.values()), default=0.0)
    return reach(truth.point(case, ex.values, ex.params)) * max(size, 1.0) <= largest / vs.OVERFLOW_HEADROOM


def hvp_examples(case: Case, dtype: Any, arg: str | None = None, pair: Any = None) -> st.SearchStrategy[vs.Example]:
    """Examples with a vector for every argument, off the case's kinks and inside the format's range."""
    u = max(float(finfo(dtype).eps) / 2, 2.0**-53)
    largest = float(finfo(dtype).max)
    return vs.examples(case, dtype, cotangent=False, tangents=None).filter(
        lambda ex: not _on_kink(case, ex, 4 * u) and _in_range(case, ex, largest))


def _reference(target: Target, ex: vs.Example, t: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(H v flattened over the arguments, |H| |v| likewise, roundings k) at share t."""
    case = target.case
    point = truth.point(case, ex.values, ex.params, t, _kink_u(target))
    hessian = HESSIANS[case.id]
    shapes = _shapes(case, ex)
    vectors = {name: ex.tangents[name] for name in case.differentiable_args}
    value = hvp(hessian.blocks(point), vectors, shapes)
    magnitude = hvp({k: np.abs(np.asarray(m, dtype=np.float64)) for k, m in hessian.magnitude(point).items()},
                    {k: np.abs(v) for k, v in vectors.items()}, shapes)
    # |H| itself is part of the magnitude: a product H v rounds each term H_ab·v_b.
    magnitude = {a: magnitude[a] + sum(
        (np.tensordot(np.abs(block(hessian.blocks(point), a, b, shapes)), np.abs(vectors[b]).astype(np.float64), axes=len(shapes[b]))
         for b in vectors), np.zeros(shapes[a])) for a in vectors}
    k = hessian.ops(point) + sum(int(np.prod(s)) for s in shapes.values()) + 1
    flat = lambda d: np.concatenate([np.ravel(d[name]) for name in case.differentiable_args])
    return flat(value), flat(magnitude), float(k)


def _call(target: Target, ex: vs.Example, method: str) -> np.ndarray:
    """engine.<method>(fn, primals, vectors), validated, flattened over the differentiable arguments."""
    case, engine = target.case, target.engine
    names = case.arg_names
    vectors = tuple(ex.tangents[n] if n in case.differentiable_args else np.zeros_like(ex.values[n]) for n in names)
    primals = ex.primals(names)
    result = _guarded_call(engine, method, target.fn, primals, vectors, names, tuple(f"vector for {n}" for n in names))
    if not isinstance(result, tuple) or len(result) != len(primals):
        from verigrad.diagnosis import Diagnosis

        raise ContractViolation(Diagnosis("bad_return", f"{engine.name}.{method} must return a tuple of {len(primals)} arrays"))
    arrays = {n: _check_array(r, f"{engine.name}.{method}[{n}]", p.shape, p.dtype, None, None)
              for n, r, p in zip(names, result, primals, strict=True)}
    return np.concatenate([np.ravel(arrays[n]).astype(np.float64) for n in case.differentiable_args])


def check_hvp(target: Target, ex: vs.Example) -> Outcome:
    """H v from the engine (forward over reverse) matches the closed-form Hessian within the rounding bound."""
    r0, magnitude, k = _reference(target, ex, 0.0)
    r1 = _reference(target, ex, 1.0)[0] if target.case.kink is not None else r0
    try:
        value = _call(target, ex, "hvp")
    except ContractViolation as error:
        return _violation(error)
    bound = target.tolerance.bound(k, magnitude)
    return _compare(target, value, (r0, r1), bound, magnitude, ex.sizes)


def check_hvp_modes(target: Target, ex: vs.Example) -> Outcome:
    """Forward over reverse equals reverse over reverse within the sum of their bounds."""
    _, magnitude, k = _reference(target, ex, 0.0)
    try:
        forward = _call(target, ex, "hvp")
        reverse = _call(target, ex, "hvp_reverse")
    except ContractViolation as error:
        return _violation(error)
    bound = 2 * target.tolerance.bound(k, magnitude)
    outcome = _compare(target, forward, (reverse, reverse), bound, magnitude, ex.sizes)
    if not outcome.passed:
        outcome.message = "forward-over-reverse H v differs from reverse-over-reverse: " + outcome.message
    outcome.convention = None
    return outcome


SECOND_ORDER_PROPERTIES: tuple[Property, ...] = (
    Property("hvp", check_hvp, "case", has_hessian, hvp_examples,
             "Hessian-vector product (forward over reverse) matches the closed-form Hessian"),
    Property("hvp_modes", check_hvp_modes, "case", has_hessian, hvp_examples,
             "forward-over-reverse H v = reverse-over-reverse H v"),
)

PROPERTIES.update({p.name: p for p in SECOND_ORDER_PROPERTIES})
