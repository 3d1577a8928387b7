"""Case families beyond the seed: the operations where real gradient bugs live.

Appended to the one case table (``reference.cases.CASES``) under their own id
prefixes; the seed's ids are untouched.  Every row has the same story as a seed
row: the primal (written once against ``xp``, the vocabulary of
``oracles.protocol``), per differentiable argument the closed form in
numerator layout with its structure, the magnitude and the roundings that
bound its error, the domain, and the kink with its subdifferential.

==============  ==============================================================
``unary.``      element-wise exp, tanh, sigmoid, sqrt (x > 0), abs, x², x³,
                clip, relu6, hardtanh
``select.``     where: the derivative flows through the chosen branch only
``reduce.``     sum, mean, max, min, prod, logsumexp along a drawn axis (with
                and without keepdims), over every element, softmax and
                log_softmax along a drawn axis, the 2-norm
``linalg.``     matrix-matrix product, outer product, transpose-then-matmul
``broadcast.``  (m,1) + (1,n), row + matrix, column * matrix, scalar * matrix
``losses.``     MSE by mean, softmax cross-entropy with integer labels, the
                mean loss of a two-layer ReLU network
==============  ==============================================================

Rounding bookkeeping is the seed's (``reference.cases``): a correct engine errs
by at most ``ops · u · magnitude`` per Jacobian entry, first order.  Each
derivation is in the comment of its helper; ``tests/reference/test_exact.py``
checks every bound against exact arithmetic.

A reduction over ``X`` (m × n) along the drawn ``axis`` (a parameter, 0 or 1)
has the output shape ``("n+(m-n)*axis",)`` (n for axis 0, m for axis 1) or, with
keepdims, ``("1+(m-1)*axis", "n+(1-n)*axis")``: shape expressions may use
integer parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from verigrad.reference.jacobian import Structure
from verigrad.reference.spec import LABEL, NONZERO, POSITIVE, TRANSCENDENTAL, Arg, Case, Kink, Partial, Point

S = Structure
T = TRANSCENDENTAL

AXES = (0, 1)
REDUCED = ("n+(m-n)*axis",)
REDUCED_KEEPDIMS = ("1+(m-1)*axis", "n+(1-n)*axis")


def _const(value: float):
    return lambda p: value


_ONE = _const(1.0)
_NO_ROUNDING = _const(0)


# ------------------------------------------------------------ element-wise


def _sign(p: Point, z: Any) -> Any:
    """sign(z), a share 2t - 1 ∈ [-1, 1] at z = 0."""
    return 2 * p.step(z) - 1


def _sigmoid(x: Any) -> Any:
    return 1 / (1 + np.exp(-x))


def _tanh_magnitude(p: Point) -> Any:
    # 1 - y², y = tanh x with T roundings: |δ(y²)| ≤ 2T·u·y², plus the subtraction.
    return 1 + np.tanh(p.x) ** 2


def _project_zeros(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every other element of x exactly 0 (the kink of abs)."""
    out = dict(values)
    x = out["x"].copy()
    x.reshape(-1)[::2] = 0
    out["x"] = x
    return out


def _bounds_project(lo: float, hi: float):
    """x_i on lo for i ≡ 0, on hi for i ≡ 1 (mod 3): both kinks of a clip in one input."""

    def project(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(values)
        x = out["x"].copy()
        flat = x.reshape(-1)
        flat[::3] = lo
        flat[1::3] = hi
        out["x"] = x
        return out

    return project


def _inside(p: Point, lo: float, hi: float) -> Any:
    """[lo < x < hi], the share t on either bound."""
    return p.step(p.x - lo) * p.step(hi - p.x)


def _between(a: Any, b: Any) -> tuple[Any, Any]:
    """Entry-wise (min, max) of two arrays."""
    return np.minimum(a, b), np.maximum(a, b)


def _interval_nearest(case_partials: Any):
    """Entry-wise kinks (a diagonal Jacobian): each entry's subdifferential is its own interval.

    The closed forms at t = 0 and t = 1 give each entry's end points; an engine
    may pick any share per entry (a different one at each bound of a clip).
    """

    def nearest(p: Point, arg: str, kind: str, probe: np.ndarray, value: np.ndarray) -> np.ndarray:
        ends = [np.asarray(case_partials()[arg].closed_form(p.at_share(t)), dtype=np.float64) * probe for t in (0.0, 1.0)]
        low, high = _between(*ends)
        return np.clip(value, low, high)

    return nearest


def _clip_case(case_id: str, formula: str, lo: float, hi: float, primal: Any, note: str) -> Case:
    partials = {
        "x": Partial(
            S.DIAGONAL, lambda p: _inside(p, lo, hi), _ONE, _NO_ROUNDING,
            rf"\frac{{\partial y_i}}{{\partial x_i}} = [{lo:g} < x_i < {hi:g}]",
        )
    }
    return Case(
        id=case_id,
        section="beyond: element-wise",
        formula=formula,
        args=(Arg("x", ("n",)),),
        output=("n",),
        primal=primal,
        partials=partials,
        kink=Kink(
            where=f"x_i = {lo:g} or x_i = {hi:g}",
            subdifferential="∂y_i/∂x_i ∈ [0, 1] at either bound, independently per element",
            locus=lambda p: ((p.x - lo) * (p.x - hi), 0.0, 0),
            project=_bounds_project(lo, hi),
            convention_note=note,
            nearest=_interval_nearest(lambda: partials),
        ),
    )


def _abs_case() -> Case:
    partials: dict[str, Partial] = {
        "x": Partial(S.DIAGONAL, lambda p: _sign(p, p.x), _ONE, _NO_ROUNDING,
                     r"\frac{\partial y_i}{\partial x_i} = \operatorname{sign}(x_i)"),
    }
    return Case(
        id="unary.abs",
        section="beyond: element-wise",
        formula=r"y_i = |x_i|",
        args=(Arg("x", ("n",)),),
        output=("n",),
        primal=lambda xp, x: xp.abs(x),
        partials=partials,
        kink=Kink(
            where="x_i = 0",
            subdifferential="∂|x|/∂x ∈ [-1, 1] at x = 0, independently per element",
            locus=lambda p: (p.x, 0.0, 0),
            project=_project_zeros,
            convention_note="Most engines take sign(0) = 0; any value in [-1, 1] is a subgradient.",
            nearest=_interval_nearest(lambda: partials),
        ),
    )


def _unary(case_id: str, formula: str, primal: Any, derivative: Any, magnitude: Any, ops: float, latex: str,
           domain: str = "real", notes: str = "") -> Case:
    return Case(
        id=case_id,
        section="beyond: element-wise",
        formula=formula,
        args=(Arg("x", ("n",), domain),),
        output=("n",),
        primal=primal,
        partials={"x": Partial(S.DIAGONAL, derivative, magnitude, _const(ops), latex)},
        notes=notes,
    )


# ------------------------------------------------------------- selection


def _where_case() -> Case:
    return Case(
        id="select.where",
        section="beyond: selection",
        formula=r"y_i = a_i \text{ if } c_i > 0 \text{ else } b_i",
        args=(Arg("a", ("n",)), Arg("b", ("n",)), Arg("c", ("n",), differentiable=False)),
        output=("n",),
        primal=lambda xp, a, b, c: xp.where(c > 0, a, b),
        partials={
            "a": Partial(S.DIAGONAL, lambda p: p.step(p.c), _ONE, _NO_ROUNDING, r"\frac{\partial y_i}{\partial a_i} = [c_i > 0]"),
            "b": Partial(S.DIAGONAL, lambda p: 1 - p.step(p.c), _ONE, _NO_ROUNDING, r"\frac{\partial y_i}{\partial b_i} = [c_i \le 0]"),
        },
        notes="c = 0 selects b (c > 0 is false): the condition is data, so this is no kink.",
    )


def _where_nonfinite_case() -> Case:
    # d/dx: 1/x on the chosen log branch (ops T + 1: log's derivative and the division), 1 on the other.
    return Case(
        id="select.where_nonfinite",
        section="beyond: selection",
        formula=r"y_i = \ln x_i \text{ if } x_i > 0 \text{ else } x_i",
        args=(Arg("x", ("n",), NONZERO),),
        output=("n",),
        primal=lambda xp, x: xp.where(x > 0, xp.log(x), x),
        partials={
            "x": Partial(
                S.DIAGONAL,
                lambda p: p.step(p.x) / p.x + (1 - p.step(p.x)),
                lambda p: p.step(p.x) / np.abs(p.x) + (1 - p.step(p.x)),
                _const(T + 1),
                r"\frac{\partial y_i}{\partial x_i} = 1/x_i \text{ if } x_i > 0 \text{ else } 1",
            )
        },
        notes="For x < 0 the unchosen branch ln x is NaN: it must not leak into the derivative, which is exactly 1 there.",
    )


# -------------------------------------------------------------- reductions


def _along(p: Point, values: Any) -> Any:
    """``values`` (m × n) with the reduced axis last."""
    return np.moveaxis(np.asarray(values), int(p.axis), -1)


def _back(p: Point, values: Any) -> Any:
    return np.moveaxis(values, -1, int(p.axis))


def _spread(p: Point, per_element: Any, keepdims: bool) -> Any:
    """The dense Jacobian of a reduction along ``p.axis`` from ∂(its slice's output)/∂X_ij.

    J[k, i, j] = δ_kj g_ij (axis 0) or δ_ki g_ij (axis 1); keepdims inserts the kept 1.
    """
    g = np.asarray(per_element)
    m, n = g.shape
    if int(p.axis) == 0:
        dense = np.eye(n)[:, None, :] * g[None, :, :]
        return dense[None] if keepdims else dense
    dense = np.eye(m)[:, :, None] * g[None, :, :]
    return dense[:, None] if keepdims else dense


def _axis_size(p: Point) -> int:
    return int(np.shape(p.X)[int(p.axis)])


def tie_weights(values: Any, t: float, sign: int = 1) -> Any:
    """Weights over the last axis of a max (sign 1) or min (sign -1): t on the first extremal element,
    1 - t on the last (one weight 1 where the extremum is unique).

    Mass 1 on the tied set whatever t and however many elements tie: a member
    of the subdifferential (the simplex spanned by the tied unit vectors).
    Comparisons only, so it runs on floats, exact numbers and symbols alike.
    """
    x = sign * np.asarray(values)
    n = x.shape[-1]
    if x.dtype != object:  # floats: linear time, for large draws
        ties = x == np.max(x, axis=-1, keepdims=True)
        first = np.arange(n) == np.argmax(ties, axis=-1)[..., None]
        last = np.arange(n) == (n - 1 - np.argmax(ties[..., ::-1], axis=-1))[..., None]
        return t * first + (1 - t) * last
    later = np.arange(n)[None, :] > np.arange(n)[:, None]  # [j > i]
    itself = np.eye(n, dtype=bool)
    greater = np.greater(x[..., :, None], x[..., None, :]).astype(bool) | itself
    at_least = np.greater_equal(x[..., :, None], x[..., None, :]).astype(bool) | itself
    # first extremal: beats every earlier element strictly, every later one or ties it; last: the mirror
    first = np.all(np.where(later, at_least, greater), axis=-1)
    last = np.all(np.where(later, greater, at_least), axis=-1)
    return t * first + (1 - t) * last


def _extremum_weights(p: Point, sign: int) -> Any:
    return _back(p, tie_weights(_along(p, p.X), p.t, sign))


def _exclusive_products(p: Point) -> Any:
    """Π_{k ≠ i} x_k along the axis, from prefix and suffix products: no division, right with zeros."""
    x = _along(p, p.X)
    ones = np.ones((*x.shape[:-1], 1))
    before = np.concatenate([ones, np.cumprod(x, axis=-1)[..., :-1]], axis=-1)
    after = np.concatenate([np.cumprod(x[..., ::-1], axis=-1)[..., ::-1][..., 1:], ones], axis=-1)
    return _back(p, before * after)


def _shifted(x: Any, axis: int) -> Any:
    """x minus its maximum along ``axis`` (floats: no overflow in exp); exact and symbolic numbers unshifted."""
    return x if x.dtype == object else x - np.max(x, axis=axis, keepdims=True)


def _softmax_along(p: Point, values: Any) -> Any:
    """softmax along the last axis (of values already moved)."""
    x = np.asarray(values)
    e = np.exp(_shifted(x, -1))
    return e / np.sum(e, axis=-1, keepdims=True)


def _softmax_scale(p: Point) -> Any:
    """1 + |x_i| + max|x| + ln N per element: an engine's error in x_i - logsumexp(x) in units of u.

    logsumexp errs by (ops)·u·(|max| + ln N) at most (|lse| ≤ max|x| + ln N), the
    subtraction by u·(|x_i| + |lse|); exp turns that absolute error into a relative one.
    """
    x = _along(p, np.abs(p.X))
    return 1 + x + np.max(x, axis=-1, keepdims=True) + math.log(x.shape[-1])


def _softmax_ops(p: Point) -> float:
    return T + _axis_size(p) + 6


def _logsumexp_grad(p: Point) -> Any:
    return _back(p, _softmax_along(p, _along(p, p.X)))


def _logsumexp_magnitude(p: Point) -> Any:
    return _back(p, _softmax_along(p, _along(p, p.X)) * _softmax_scale(p))


def _softmax_block(p: Point, log: bool, magnitude: bool) -> Any:
    """The dense (m, n, m, n) Jacobian of softmax / log_softmax along ``p.axis``, or its magnitude.

    Within a slice: ∂p_c/∂x_c' = p_c(δ_cc' - p_c'), ∂(log p_c)/∂x_c' = δ_cc' - p_c'.
    """
    x = _along(p, p.X)
    prob = _softmax_along(p, x)
    n = x.shape[-1]
    eye = np.eye(n)
    if magnitude:
        scale = _softmax_scale(p)
        block = eye + (prob * scale)[..., None, :] if log else (prob * scale)[..., :, None] * (eye + prob[..., None, :])
    else:
        block = eye - prob[..., None, :] if log else prob[..., :, None] * (eye - prob[..., None, :])
    m, cols = np.shape(p.X)
    if int(p.axis) == 1:  # block[r, c, c'] -> J[r, c, r', c'] = δ_rr' block[r, c, c']
        return block[:, :, None, :] * np.eye(m)[:, None, :, None]
    # block[c, r, r'] -> J[r, c, r', c'] = δ_cc' block[c, r, r']
    return np.transpose(block, (1, 0, 2))[:, :, :, None] * np.eye(cols)[None, :, None, :]


def _tie_project(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Many-way ties: every element rounded to an integer in [-2, 2] (exact in any order)."""
    out = dict(values)
    out["X"] = np.clip(np.round(out["X"] / 4), -2, 2).astype(out["X"].dtype)
    return out


def _simplex_nearest(sign: int, full: bool):
    """The member of a max's (min's) subdifferential nearest an engine's result.

    VJP with cotangent u: per output slice o, the gradient is u_o·w with w in the
    simplex on the tied set (0 elsewhere): the Euclidean projection of g/u_o onto
    it (Duchi et al. 2008).  JVP with tangent v: per slice, any value in
    [min v_T, max v_T] over the tied set T: the engine's value clipped to it.
    """

    def nearest(p: Point, arg: str, kind: str, probe: np.ndarray, value: np.ndarray) -> np.ndarray:
        x = sign * (np.reshape(p.X, (1, -1)) if full else _along(p, p.X))
        tied = x == np.max(x, axis=-1, keepdims=True)
        if kind == "jvp":
            v = np.reshape(probe, (1, -1)) if full else _along(p, probe)
            low = np.min(np.where(tied, v, np.inf), axis=-1)
            high = np.max(np.where(tied, v, -np.inf), axis=-1)
            return np.clip(value, low.reshape(np.shape(value)), high.reshape(np.shape(value)))
        u = np.reshape(probe, (-1, 1))  # one cotangent per slice, in slice order
        g = np.reshape(value, (1, -1)) if full else _along(p, value)
        g = np.reshape(g, tied.shape)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # Shares far outside [0, 1] are a wrong engine either way: bounded, the projection stays finite.
            share = np.clip(np.where(u != 0, g / u, 0.0), -1e6, 1e6)
        member = np.where(tied, _project_simplex(share, tied), 0.0) * u
        return np.reshape(member, np.shape(p.X)) if full else _back(p, member)

    return nearest


def _project_simplex(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean projection of ``values`` restricted to ``mask`` onto the probability simplex."""
    v = np.where(mask, values, -np.inf)
    ordered = -np.sort(-v, axis=-1)
    count = np.arange(1, v.shape[-1] + 1)
    cumulative = np.cumsum(np.where(np.isfinite(ordered), ordered, 0.0), axis=-1)
    valid = np.isfinite(ordered) & (ordered - (cumulative - 1) / count > 0)
    k = np.maximum(np.sum(valid, axis=-1, keepdims=True), 1)
    theta = (np.take_along_axis(cumulative, k - 1, axis=-1) - 1) / k
    return np.where(mask, np.maximum(values - theta, 0.0), 0.0)


def _reduction(name: str, latex: str, xp_name: str, per_element: Any, magnitude: Any, ops: Any,
               keepdims: bool, kink: Kink | None = None, share: bool = False, ones_jvp: float | None = None) -> Case:
    suffix = "_keepdims" if keepdims else ""
    return Case(
        id=f"reduce.{name}{suffix}",
        section="beyond: reductions",
        formula=rf"\mathbf{{y}} = \operatorname{{{name}}}(X, \text{{axis}}{', keepdims' if keepdims else ''})",
        args=(Arg("X", ("m", "n")),),
        output=REDUCED_KEEPDIMS if keepdims else REDUCED,
        params={"axis": AXES},
        primal=lambda xp, X, *, axis: getattr(xp, xp_name)(X, axis=axis, keepdims=keepdims),
        partials={
            "X": Partial(
                S.DENSE,
                lambda p: _spread(p, per_element(p), keepdims),
                lambda p: _spread(p, magnitude(p), keepdims),
                ops,
                latex,
                share,
                ones_jvp,
            )
        },
        kink=kink,
    )


def _max_kink(sign: int, full: bool) -> Kink:
    word = "max" if sign > 0 else "min"
    return Kink(
        where=f"ties for the {word} of a slice",
        subdifferential="the convex hull of the tied unit vectors: any split over the tied set with total mass 1",
        locus=lambda p: (np.float64(0.0) if np.sum(_tie_count(p, sign, full) > 1) else np.float64(1.0), 0.0, 0),
        project=_tie_project,
        convention_note=("jax, torch (amax), autograd and tinygrad split the mass evenly; mygrad gives it to one element; mlx's "
                         "VJP splits evenly while its JVP follows the first tie. All valid."),
        nearest=_simplex_nearest(sign, full),
    )


def _tie_count(p: Point, sign: int, full: bool) -> np.ndarray:
    x = sign * (np.reshape(p.X, (1, -1)) if full else _along(p, p.X))
    return np.sum(x == np.max(x, axis=-1, keepdims=True), axis=-1)


def _reductions() -> list[Case]:
    rows = []
    for keepdims in (False, True):
        rows += [
            _reduction("sum", r"\frac{\partial y_k}{\partial X_{ij}} = [\text{(i, j) in slice } k]", "sum",
                       lambda p: np.ones(np.shape(p.X)), lambda p: np.ones(np.shape(p.X)), _NO_ROUNDING, keepdims),
            # 1/N: one rounding (N is exact).
            _reduction("mean", r"\frac{\partial y_k}{\partial X_{ij}} = \frac{1}{N_{axis}} [\text{in slice } k]", "mean",
                       lambda p: np.ones(np.shape(p.X)) / _axis_size(p), lambda p: np.ones(np.shape(p.X)) / _axis_size(p),
                       _const(1), keepdims, share=True, ones_jvp=1.0),
            _reduction("max", r"\frac{\partial y_k}{\partial X_{ij}} = [X_{ij} = y_k] \text{ (one of the ties)}", "max",
                       lambda p: _extremum_weights(p, 1), lambda p: np.ones(np.shape(p.X)), _NO_ROUNDING, keepdims,
                       _max_kink(1, False), ones_jvp=1.0),
            _reduction("min", r"\frac{\partial y_k}{\partial X_{ij}} = [X_{ij} = y_k] \text{ (one of the ties)}", "min",
                       lambda p: _extremum_weights(p, -1), lambda p: np.ones(np.shape(p.X)), _NO_ROUNDING, keepdims,
                       _max_kink(-1, False), ones_jvp=1.0),
            # N - 1 products in Π_{k≠i}; an engine dividing Π by x_i, or using prefix/suffix products, adds ≤ 3.
            _reduction("prod", r"\frac{\partial y_k}{\partial X_{ij}} = \prod_{l \ne (i,j)} X_l", "prod",
                       _exclusive_products, lambda p: np.abs(_exclusive_products(p)), lambda p: _axis_size(p) + 2, keepdims),
            _reduction("logsumexp", r"\frac{\partial y_k}{\partial X_{ij}} = \operatorname{softmax}(X_{k})_{ij}", "logsumexp",
                       _logsumexp_grad, _logsumexp_magnitude, _softmax_ops, keepdims, ones_jvp=1.0),
        ]
    return rows


def _whole_array(name: str, formula: str, partial: Partial, **extra: Any) -> Case:
    """``reduce.<name>_all``: ``xp.<name>`` of a whole (m, n) matrix, a scalar."""
    return Case(
        id=f"reduce.{name}_all",
        section="beyond: reductions",
        formula=formula,
        args=(Arg("X", ("m", "n")),),
        output=(),
        primal=lambda xp, X: getattr(xp, name)(X),
        partials={"X": partial},
        **extra,
    )


def _full_extremum(name: str, sign: int) -> Case:
    partial = Partial(
        S.ROW,
        lambda p: np.reshape(tie_weights(np.reshape(p.X, (1, -1)), p.t, sign), np.shape(p.X)),
        lambda p: np.ones(np.shape(p.X)),
        _NO_ROUNDING,
        r"\frac{\partial y}{\partial X_{ij}} = [X_{ij} = y] \text{ (one of the ties)}",
        ones_jvp=1.0,
    )
    return _whole_array(name, rf"y = \{name}_{{ij}} X_{{ij}}", partial, kink=_max_kink(sign, True),
                        notes="Many-way ties are where tinygrad #12296 (float16 max over 70,000 ties: zero gradient) lives.")


def _full_sum(name: str) -> Case:
    scale = (lambda p: 1.0) if name == "sum" else (lambda p: 1.0 / np.size(p.X))
    partial = Partial(
        S.ROW,
        lambda p: np.ones(np.shape(p.X)) * scale(p),
        lambda p: np.ones(np.shape(p.X)) * scale(p),
        _const(0 if name == "sum" else 1),
        r"\frac{\partial y}{\partial X_{ij}} = " + ("1" if name == "sum" else r"\frac{1}{mn}"),
        share=name == "mean",
        ones_jvp=1.0 if name == "mean" else None,  # a sum's is mn
    )
    return _whole_array(name, rf"y = \operatorname{{{name}}}_{{ij}} X_{{ij}}", partial)


def _softmax_case(log: bool) -> Case:
    name = "log_softmax" if log else "softmax"
    return Case(
        id=f"reduce.{name}",
        section="beyond: reductions",
        formula=rf"Y = \operatorname{{{name}}}(X, \text{{axis}})",
        args=(Arg("X", ("m", "n")),),
        output=("m", "n"),
        params={"axis": AXES},
        primal=lambda xp, X, *, axis: getattr(xp, name)(X, axis=axis),
        partials={
            "X": Partial(
                S.DENSE,
                lambda p: _softmax_block(p, log, magnitude=False),
                lambda p: _softmax_block(p, log, magnitude=True),
                lambda p: _softmax_ops(p) + 2,
                r"\frac{\partial \log p_c}{\partial x_{c'}} = \delta_{cc'} - p_{c'}" if log
                else r"\frac{\partial p_c}{\partial x_{c'}} = p_c(\delta_{cc'} - p_{c'})",
                ones_jvp=0.0,  # softmax(X + s·1) = softmax(X), log_softmax too: shifting the logits changes nothing
            )
        },
        notes="Within a slice the Jacobian is diag(p) - p pᵀ (softmax) or I - 1 pᵀ (log_softmax); zero across slices.",
    )


def _norm_grad(p: Point) -> Any:
    """x / ‖x‖; at x = 0 the minimum-norm subgradient 0 (the denominator kept away from 0 there)."""
    s = np.sum(p.x * p.x)
    at_zero = np.asarray(s == 0, dtype=np.float64) if np.asarray(s).dtype != object else (1 if s == 0 else 0)
    return p.step(s) * p.x / (np.sqrt(s) + (1 - p.step(s)) + at_zero)


def _norm_nearest(p: Point, arg: str, kind: str, probe: np.ndarray, value: np.ndarray) -> np.ndarray:
    """At x = 0 the subdifferential is the unit ball: VJP u·s with ‖s‖ ≤ 1, JVP s·v ∈ [-‖v‖, ‖v‖]."""
    if np.any(p.x != 0):
        g = _norm_grad(p)
        return g * probe if kind == "vjp" else np.asarray(np.sum(g * probe))
    return _ball_member(kind, probe, value, 1.0)


def _ball_member(kind: str, probe: np.ndarray, value: np.ndarray, radius: float) -> np.ndarray:
    """The member of {s : ‖s‖ ≤ radius} nearest an engine's result: its VJP u·s (u the scalar cotangent)
    rescaled into the ball, or its JVP s·v clipped to [-radius·‖v‖, radius·‖v‖]."""
    if kind == "jvp":
        bound = radius * float(np.sqrt(np.sum(probe * probe)))
        return np.clip(value, -bound, bound)
    u = float(probe)
    if u == 0:
        return np.zeros_like(value)
    s = value / u
    length = float(np.sqrt(np.sum(s * s)))
    return (s / max(length / radius, 1.0)) * u


def _composed_norm(xp: Any, x: Any) -> Any:
    # The double where keeps sqrt's infinite slope at 0 out of the derivative (jax #14397, MLX #504).
    s = xp.sum(x * x)
    return xp.where(s > 0, xp.sqrt(xp.where(s > 0, s, 1.0)), 0.0)


def _norm_case(native: bool) -> Case:
    """The 2-norm composed from the required vocabulary, or (``native``) the library's own ``xp.norm``."""
    return Case(
        id="reduce.norm2_native" if native else "reduce.norm2",
        section="beyond: reductions",
        formula=r"y = \|\mathbf{x}\|_2" + (r" \text{ (the library's own norm)}" if native else ""),
        args=(Arg("x", ("n",)),),
        output=(),
        primal=(lambda xp, x: xp.norm(x)) if native else _composed_norm,
        requires=("norm",) if native else (),
        partials={
            # n products and n - 1 sums in s, sqrt, the division: n + T + 2.
            "x": Partial(S.ROW, _norm_grad, lambda p: np.abs(_norm_grad(p)), lambda p: p.x.size + T + 2,
                         r"\frac{\partial y}{\partial \mathbf{x}} = \mathbf{x}^T / \|\mathbf{x}\|"),
        },
        kink=Kink(
            where="x = 0",
            subdifferential="the unit ball {s : ‖s‖ ≤ 1}",
            locus=lambda p: (np.sum(p.x * p.x), 0.0, 0),
            project=lambda values: {**values, "x": np.zeros_like(values["x"])},
            convention_note="Any s with ‖s‖ ≤ 1 is right at x = 0 (torch and mygrad return 0, the minimum-norm one); "
            "NaN is not in the ball." if native else
            "With the double where every engine returns 0 at x = 0, the minimum-norm subgradient.",
            nearest=_norm_nearest,
        ),
        notes="The library's own norm (numpy.linalg.norm, torch.linalg.vector_norm, ...), not a composition: "
        "its VJP at the zero vector is where libraries differ." if native else "",
    )


def _norminf_grad(p: Point) -> Any:
    """‖x‖∞ = max(x, −x): the max's weights w over the 2n values (t on the first, 1 − t on the last of a tie),
    folded back, w[:n] − w[n:]: sign(xᵢ) on the largest |xᵢ|, a member of the l1 ball at x = 0."""
    x = np.asarray(p.x)
    weights = tie_weights(np.concatenate([x, -x]), p.t)
    return weights[: x.size] - weights[x.size :]


def _norminf_locus(p: Point) -> tuple[Any, Any, float]:
    """0 where the largest |xᵢ| is tied or 0 (a set-valued subdifferential), else 1: exact in floating point."""
    a = np.abs(np.ravel(np.asarray(p.x)))
    top = max(a)
    zero = a[0] * 0  # a zero of x's own kind (float, exact or symbolic)
    on_kink = top == 0 or sum(1 for v in a if v == top) > 1
    return (zero if on_kink else zero + 1), 0.0, 0


def _norminf_nearest(p: Point, arg: str, kind: str, probe: np.ndarray, value: np.ndarray) -> np.ndarray:
    """The member of ∂‖x‖∞ nearest an engine's result: over ties of the largest |xᵢ| > 0 the signed simplex
    {sign(xᵢ)·wᵢ on the tied set, w in the simplex}; at x = 0 the l1 ball {Σ|sᵢ| ≤ 1}."""
    x = np.asarray(p.x, dtype=np.float64)
    a, sign = np.abs(x), np.sign(x)
    top = np.max(a)
    tied = (a == top) if top > 0 else np.ones_like(a, dtype=bool)
    if kind == "jvp":
        v = np.asarray(probe, dtype=np.float64)
        if top == 0:
            bound = float(np.max(np.abs(v)))
            return np.clip(value, -bound, bound)
        along = (sign * v)[tied]
        return np.clip(value, np.min(along), np.max(along))
    u = float(probe)
    if u == 0:
        return np.zeros_like(value)
    s = np.clip(np.asarray(value, dtype=np.float64) / u, -1e6, 1e6)
    if top == 0:  # the l1 ball: s itself if inside, else the simplex projection of |s| with s's signs
        inside = np.sum(np.abs(s)) <= 1
        member = s if inside else np.sign(s) * _project_simplex(np.abs(s)[None, :], np.ones((1, s.size), dtype=bool))[0]
        return member * u
    member = np.where(tied, sign * _project_simplex((sign * s)[None, :], tied[None, :])[0], 0.0)
    return member * u


def _norminf_case() -> Case:
    return Case(
        id="reduce.norminf_native",
        section="beyond: reductions",
        formula=r"y = \|\mathbf{x}\|_\infty = \max_i |x_i| \text{ (the library's own norm, ord=inf)}",
        args=(Arg("x", ("N",)),),
        output=(),
        primal=lambda xp, x: xp.norm(x, ord=np.inf),
        requires=("norm",),
        partials={
            # A selection and a sign: nothing rounds.
            # Magnitude 1 on every entry, as a max's: a tie's share may be any weight up to 1.
            "x": Partial(S.ROW, _norminf_grad, lambda p: np.ones(np.shape(p.x)), _const(1),
                         r"\frac{\partial y}{\partial x_i} = \operatorname{sign}(x_i)\,[\,|x_i| = \|\mathbf{x}\|_\infty]"),
        },
        kink=Kink(
            where="ties for the largest |x_i|, or x = 0",
            subdifferential="the signed simplex {sign(x_i) w_i on the tied set : w in the simplex}; at x = 0 the l1 ball",
            locus=_norminf_locus,
            # Every entry an integer in [-2, 2]: ties of |x_i| (of either sign) and zeros, exact in any order.
            project=lambda values: {**values, "x": np.clip(np.round(values["x"] / 4), -2, 2).astype(values["x"].dtype)},
            convention_note="torch, jax and mlx split the mass evenly over ties; mygrad gives it to one entry; at 0 torch, "
            "mlx and mygrad return 0, jax (1/n) each: all in the set.",
            nearest=_norminf_nearest,
        ),
    )


def _std_parts(p: Point) -> tuple[Any, Any, Any, Any]:
    """X − X̄, k = N − ddof (N entries), y = √(Σ(X − X̄)²/k) and the mask of a non-constant X (``p.step`` of the spread)."""
    x = np.asarray(p.X)
    k = x.size - p.ddof
    d = x - np.sum(x) / x.size
    s = np.sum(d * d) / k
    # The mask steps on s, as the primal's double where does (a symbolic region knows that kink); a constant X
    # is tested as such, since float64's s there need not be 0 (its mean of equal values may round).
    constant = all(v is first or v == first for first in np.ravel(x)[:1] for v in np.ravel(x))
    return d, k, np.sqrt(s), p.step(s) * (0 if constant else 1)


def _std_locus(p: Point) -> tuple[Any, Any, float]:
    """The spread max − min, exactly 0 at a constant X in floating point (a − b = 0 iff a = b).

    Within (N + 2)·u·max|X| of 0 an engine's mean can round past the spread (N roundings of the sum,
    the division, the subtraction), so its X − X̄ is rounding error and the point counts as on the kink.
    """
    x = np.asarray(p.X)
    return np.max(x) - np.min(x), np.max(np.abs(x)), x.size + 2


def _std_grad(p: Point) -> Any:
    """(X − X̄)/(k y); at a constant X the minimum-norm subgradient 0 (denominators kept away from 0 there)."""
    d, k, y, active = _std_parts(p)
    guard = 1 - active
    at_zero = (1 if y == 0 else 0) if np.asarray(y).dtype == object else float(y == 0)
    return active * d / (k * y + guard + at_zero)


def _std_magnitude(p: Point) -> Any:
    """First-order rounding of gᵢ = dᵢ/(k y), d = X − X̄, counted by ``_std_ops`` (N + T + 4 roundings):

    * each dᵢ errs by ≤ aᵢ = mean|X| + |dᵢ| per rounding (the mean's N roundings, common to every
      entry, and the subtraction's own): aᵢ/(k y);
    * y errs by ≤ y per rounding (Σd²'s N terms, the division, the square root): the common error δ of
      the mean cancels there to first order (Σdᵢ = 0) and adds N δ²/(2 k y) to second order, with
      |δ| ≤ ops·u·mean|X| (u of the engine's format; 0 in exact arithmetic): |gᵢ|(1 + ops·u·N mean|X|²/(2 k y²));
    * the division gᵢ itself: |gᵢ|.

    It grows as 1/y at a near-constant X, where the problem is ill-conditioned; on the kink (the
    spread within its rounding blur) each entry of a member of the ball is at most the radius 1/√k.
    """
    d, k, y, active = _std_parts(p)
    x = np.asarray(p.X, dtype=np.float64)
    guard = 1 - active + float(np.asarray(y, dtype=np.float64) == 0)  # keeps 1/y finite where the mask is 0
    mean_abs = np.mean(np.abs(x))
    ky = k * y + guard
    g = np.abs(d) / ky
    second_order = _std_ops(p) * p.u * x.size * mean_abs**2 / (2 * k * (y + guard) ** 2)
    off_kink = (mean_abs + np.abs(d)) / ky + g * (2 + second_order)
    return active * off_kink + (1 - active) / np.sqrt(k) * np.ones_like(x)


def _std_ops(p: Point) -> float:
    return np.size(p.X) + T + 4


def _std_nearest(p: Point, arg: str, kind: str, probe: np.ndarray, value: np.ndarray) -> np.ndarray:
    """At a constant X: the ball ‖s‖ ≤ 1/√k, for VJP u·s and JVP s·v ∈ [-‖v‖/√k, ‖v‖/√k].

    The subdifferential there is the ball within the hyperplane Σs = 0.  The hyperplane is not enforced:
    an engine's mean of N equal values may round to a neighbour (float32 0.1 seven times: x̄ ≠ 0.1), and
    then its x − x̄ is the constant δ·1 and its gradient ±1/m in every entry (torch's, measured), on the
    ball's boundary but off the hyperplane.  NaN, or anything longer than 1/√k, is still outside.
    """
    z, magnitude, ops = _std_locus(p)
    if np.abs(z) > ops * p.u * magnitude:
        g = _std_grad(p)
        return g * probe if kind == "vjp" else np.asarray(np.sum(g * probe))
    return _ball_member(kind, probe, value, 1.0 / np.sqrt(np.size(p.X) - p.ddof))


def _std_case() -> Case:
    return Case(
        id="reduce.std_native",
        section="beyond: reductions",
        formula=r"y = \sqrt{\tfrac{1}{N - \mathrm{ddof}} \sum_{ij} (X_{ij} - \bar{X})^2} \text{ (the library's own std; } N = 2n)",
        # Two rows: N ≥ 2 > ddof at every drawn n, so ddof = 1 (torch's default) never divides by 0.
        args=(Arg("X", (2, "n")),),
        output=(),
        params={"ddof": (0, 1)},
        primal=lambda xp, X, *, ddof: xp.std(X, ddof=ddof),
        requires=("std",),
        partials={
            "X": Partial(S.ROW, _std_grad, _std_magnitude, _std_ops,
                         r"\frac{\partial y}{\partial X_{ij}} = \frac{X_{ij} - \bar{X}}{(N - \mathrm{ddof})\, y}"),
        },
        kink=Kink(
            where="X constant (every entry equal)",
            subdifferential="the ball {s : Σs = 0, ‖s‖ ≤ 1/√(N − ddof)}",
            locus=_std_locus,
            project=lambda values: {**values, "X": np.full_like(values["X"], np.ravel(values["X"])[0])},
            convention_note="Any s in the ball is right at a constant X (torch returns 0, the minimum-norm one); NaN is not in it.",
            nearest=_std_nearest,
        ),
        notes="The library's own standard deviation of every entry (numpy.std, torch.std, ...): a norm of X − X̄, so "
        "not differentiable where X is constant, and that is where libraries differ.",
    )


def _hypot_parts(p: Point) -> tuple[Any, Any]:
    """h = √(a² + b²) and the mask of (a, b) ≠ 0.

    The mask steps on a² + b², as the primal's double where does (a symbolic region knows that kink);
    in floating point it is taken from np.hypot, which is 0 only at a = b = 0 (a² + b² underflows first).
    """
    a, b = np.asarray(p.a), np.asarray(p.b)
    s = a * a + b * b
    if s.dtype == object:
        return np.sqrt(s), p.step(s)
    h = np.hypot(a, b)
    return h, p.step(h)


def _hypot_partial(own: str) -> Partial:
    def grad(p: Point) -> Any:
        """a/h (or b/h); at a = b = 0 the minimum-norm subgradient 0 (denominator kept away from 0 there)."""
        h, active = _hypot_parts(p)
        at_zero = np.vectorize(lambda v: 1 if v == 0 else 0, otypes=[object])(h) if h.dtype == object else (h == 0) * 1.0
        return active * np.asarray(getattr(p, own)) / (h + (1 - active) + at_zero)

    # One division by h, h correctly rounded or nearly (libm's hypot errs by about 1 ulp): T + 2.
    return Partial(S.DIAGONAL, grad, lambda p: np.abs(grad(p)), _const(T + 2),
                   rf"\frac{{\partial \mathbf{{y}}}}{{\partial \mathbf{{{own}}}}} = \operatorname{{diag}}(\mathbf{{{own}}} / \mathbf{{y}})")


def _hypot_nearest(p: Point, arg: str, kind: str, probe: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Where a_i = b_i = 0, the partial w.r.t. either argument is any s_i ∈ [-1, 1] (the disc's shadow on
    one axis): the engine's value clipped to [-|probe_i|, |probe_i|]; elsewhere the closed form times the probe."""
    grad = _hypot_partial(arg).closed_form(p)
    at_kink = (np.asarray(p.a) == 0) & (np.asarray(p.b) == 0)
    reach = np.abs(probe)
    return np.where(at_kink, np.clip(value, -reach, reach), grad * probe)


def _hypot_case() -> Case:
    return Case(
        id="binary.hypot_native",
        section="beyond: element-wise",
        formula=r"\mathbf{y} = \sqrt{\mathbf{a}^2 + \mathbf{b}^2} \text{ (the library's own hypot)}",
        args=(Arg("a", ("n",)), Arg("b", ("n",))),
        output=("n",),
        primal=lambda xp, a, b: xp.hypot(a, b),
        requires=("hypot",),
        partials={"a": _hypot_partial("a"), "b": _hypot_partial("b")},
        kink=Kink(
            where="a_i = b_i = 0",
            subdifferential="the unit disc {(s, t) : s² + t² ≤ 1} per element (each partial in [-1, 1])",
            # |a| + |b| is 0 exactly where both are, in any format (a² + b² could underflow).
            locus=lambda p: (np.abs(np.asarray(p.a)) + np.abs(np.asarray(p.b)), 0.0, 0),
            project=lambda values: {**values, "a": np.zeros_like(values["a"]), "b": np.zeros_like(values["b"])},
            convention_note="Any (s, t) in the disc is right at 0 (jax returns (½, ½)); NaN is not in it. "
            "Each argument's partial is checked on its own, so the joint constraint s² + t² ≤ 1 is not.",
            nearest=_hypot_nearest,
        ),
        notes="The library's own hypot (numpy.hypot, torch.hypot, ...): the 2-norm of each pair (a_i, b_i), "
        "not differentiable where both are 0.",
    )


def _sinc_terms(p: Point) -> tuple[Any, Any, Any, Any, Any]:
    """x, the mask of x = 0, x with 0 replaced by 1 (where the terms are not used), and πx cos πx and sin πx there."""
    x = np.asarray(p.x)
    zero = np.asarray(x == 0, dtype=bool)
    safe = np.where(zero, x * 0 + 1, x)  # x * 0 + 1: a one of x's own kind (exact, symbolic or float)
    return x, zero, safe, np.pi * safe * np.cos(np.pi * safe), np.sin(np.pi * safe)


def _sinc_grad(p: Point) -> Any:
    """d/dx Σ sinc(xᵢ) = (πx cos πx − sin πx)/(πx²); 0 at x = 0, where sinc is smooth (its Taylor series is even)."""
    x, zero, safe, c, s = _sinc_terms(p)
    return np.where(zero, x * 0, (c - s) / (np.pi * safe * safe))


def _sinc_magnitude(p: Point) -> Any:
    """The terms' sizes over πx², with t = πx: |t cos t| + |sin t|, the quotient as written (it cancels near 0,
    both terms ≈ t, and an engine differentiating sin(πx)/(πx) as written forms it), and t's own rounding
    carried through both, |t|(|cos t − t sin t| + |cos t|) (at t ≈ 20 an ulp of t moves cos t by 20 ulps of
    1); at x = 0 exactly, 0 (a correct engine returns 0 there)."""
    _, zero, safe, c, s = _sinc_terms(p)
    safe = np.asarray(safe, dtype=np.float64)
    t = np.pi * safe
    through_t = np.abs(t) * (np.abs(np.cos(t) - t * np.sin(t)) + np.abs(np.cos(t)))
    terms = np.abs(np.asarray(c, dtype=np.float64)) + np.abs(np.asarray(s, dtype=np.float64)) + through_t
    return np.where(zero, 0.0, terms / (np.pi * safe * safe) + np.abs(_sinc_grad(p)))


def _sinc_case() -> Case:
    return Case(
        id="unary.sinc_native",
        section="beyond: element-wise",
        formula=r"y = \sum_i \operatorname{sinc}(x_i),\ \operatorname{sinc}(x) = \frac{\sin \pi x}{\pi x},\ \operatorname{sinc}(0) = 1 \text{ (the library's own sinc)}",
        args=(Arg("x", ("n",)),),
        output=(),
        primal=lambda xp, x: xp.sum(xp.sinc(x)),
        requires=("sinc",),
        partials={
            # πx, the cosine and sine (T each), the product, the difference, x², the division: 2T + 5.
            "x": Partial(S.ROW, _sinc_grad, _sinc_magnitude, _const(2 * T + 5),
                         r"\frac{\partial y}{\partial x_i} = \frac{\pi x_i \cos \pi x_i - \sin \pi x_i}{\pi x_i^2},\ 0 \text{ at } x_i = 0"),
        },
        notes="sinc is smooth everywhere; x = 0 is a removable singularity of its formula, where a library must "
        "special-case both the value and the derivatives (0, then −π²/3).",
    )


def laplace_det(a: Any) -> Any:
    """det(a) by Laplace expansion along the first row: exact for exact or symbolic entries (small n only)."""
    n = np.shape(a)[0]
    if n == 1:
        return a[0, 0]
    return sum((-1) ** j * a[0, j] * laplace_det(np.delete(np.delete(a, 0, axis=0), j, axis=1)) for j in range(n))


def _cofactors(a: Any, absolute: bool) -> Any:
    """C_ij = (−1)^(i+j) det(a without row i and column j), or with ``absolute`` the same expansion of |a| without
    signs (the sum of the terms' sizes, which bounds each cofactor's rounding)."""
    n = np.shape(a)[0]
    out = np.empty((n, n), dtype=object)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, axis=0), j, axis=1)
            if minor.size == 0:
                out[i, j] = a[i, j] * 0 + 1
            elif absolute:
                out[i, j] = _permanent(np.abs(minor))
            else:
                out[i, j] = (-1) ** (i + j) * laplace_det(minor)
    return out if np.asarray(a).dtype == object else out.astype(np.float64)


def _cofactor_magnitude(p: Point) -> Any:
    """Each cofactor's own terms |a||d| + |b||c|, plus the largest cofactor's: an LU factorisation (or det · A⁻ᵀ)
    is backward stable normwise, not entry by entry, so a small cofactor beside large ones errs by rounding the
    large ones (fd's complex step through numpy's LU: 4e-17 on a cofactor of 0.0039 beside cofactors of 1)."""
    own = _cofactors(np.asarray(p.A, dtype=np.float64), absolute=True)
    return own + np.max(own)


def _permanent(a: Any) -> Any:
    """Σ over permutations of Π a_{k σ(k)}: the Leibniz expansion's terms summed without signs."""
    n = np.shape(a)[0]
    if n == 1:
        return a[0, 0]
    return sum(a[0, j] * _permanent(np.delete(np.delete(a, 0, axis=0), j, axis=1)) for j in range(n))


def _det_case() -> Case:
    return Case(
        id="linalg.det_native",
        section="beyond: linear algebra",
        formula=r"y = \det A,\ A \in \mathbb{R}^{3 \times 3} \text{ (the library's own determinant)}",
        # 3 × 3: every cofactor is a 2 × 2 determinant ad − bc, so the closed form and its rounding are exact to write.
        args=(Arg("A", (3, 3)),),
        output=(),
        primal=lambda xp, A: xp.det(A),
        requires=("det",),
        partials={
            # An engine forms det and the cofactors from an LU factorisation (or det · A⁻ᵀ): a handful of roundings
            # per entry of |A|'s expansion, counted generously (n³ = 27 multiply-adds of the factorisation).
            "A": Partial(S.ROW, lambda p: _cofactors(np.asarray(p.A), absolute=False), _cofactor_magnitude, _const(27),
                         r"\frac{\partial y}{\partial A_{ij}} = C_{ij} = (-1)^{i+j} \det A_{\setminus i, \setminus j}"),
        },
        notes="det is a polynomial, differentiable everywhere: at a singular A its gradient is the cofactor matrix "
        "(adj A)ᵀ, 0 only where the rank is below n − 1; a library computing det · A⁻ᵀ must special-case singular A.",
    )


# ----------------------------------------------------------- linear algebra


def _matmul_dA(p: Point) -> Any:
    """∂(AB)_ij/∂A_kl = δ_ik B_lj: (m, n, m, N)."""
    m = np.shape(p.A)[0]
    return np.eye(m)[:, None, :, None] * np.transpose(p.B)[None, :, None, :]


def _matmul_dB(p: Point) -> Any:
    """∂(AB)_ij/∂B_kl = A_ik δ_jl: (m, n, N, n)."""
    n = np.shape(p.B)[1]
    return np.asarray(p.A)[:, None, :, None] * np.eye(n)[None, :, None, :]


def _tmatmul_dA(p: Point) -> Any:
    """∂(AᵀB)_ij/∂A_kl = δ_li B_kj: (m, n, N, m)."""
    m = np.shape(p.A)[1]
    return np.transpose(p.B)[None, :, :, None] * np.eye(m)[:, None, None, :]


def _tmatmul_dB(p: Point) -> Any:
    """∂(AᵀB)_ij/∂B_kl = A_ki δ_jl: (m, n, N, n)."""
    n = np.shape(p.B)[1]
    return np.transpose(p.A)[:, None, :, None] * np.eye(n)[None, :, None, :]


def _outer_dw(p: Point) -> Any:
    """∂(w xᵀ)_ij/∂w_k = δ_ik x_j: (m, n, m)."""
    m = np.shape(p.w)[0]
    return np.eye(m)[:, None, :] * np.asarray(p.x)[None, :, None]


def _outer_dx(p: Point) -> Any:
    """∂(w xᵀ)_ij/∂x_k = w_i δ_jk: (m, n, n)."""
    n = np.shape(p.x)[0]
    return np.asarray(p.w)[:, None, None] * np.eye(n)[None, :, :]


def _absolute(closed_form: Any) -> Any:
    return lambda p: np.abs(closed_form(p))


def _linalg() -> list[Case]:
    # Every entry of these Jacobians is one input (or 0): exact, one rounding in the VJP's product.
    one = _const(1)
    return [
        Case(
            id="linalg.matmul",
            section="beyond: linear algebra",
            formula=r"Y = A B,\ A \in \mathbb{R}^{m \times N},\ B \in \mathbb{R}^{N \times n}",
            args=(Arg("A", ("m", "N")), Arg("B", ("N", "n"))),
            output=("m", "n"),
            primal=lambda xp, A, B: A @ B,
            partials={
                "A": Partial(S.DENSE, _matmul_dA, _absolute(_matmul_dA), one, r"\frac{\partial Y_{ij}}{\partial A_{kl}} = \delta_{ik} B_{lj}"),
                "B": Partial(S.DENSE, _matmul_dB, _absolute(_matmul_dB), one, r"\frac{\partial Y_{ij}}{\partial B_{kl}} = A_{ik} \delta_{jl}"),
            },
            notes="Square and non-square draws: a Jacobian transposed only for square matrices fails the square ones.",
        ),
        Case(
            id="linalg.outer",
            section="beyond: linear algebra",
            formula=r"Y = \mathbf{w} \mathbf{x}^T",
            args=(Arg("w", ("m",)), Arg("x", ("n",))),
            output=("m", "n"),
            primal=lambda xp, w, x: xp.reshape(w, (w.shape[0], 1)) @ xp.reshape(x, (1, x.shape[0])),
            partials={
                "w": Partial(S.DENSE, _outer_dw, _absolute(_outer_dw), one, r"\frac{\partial Y_{ij}}{\partial w_k} = \delta_{ik} x_j"),
                "x": Partial(S.DENSE, _outer_dx, _absolute(_outer_dx), one, r"\frac{\partial Y_{ij}}{\partial x_k} = w_i \delta_{jk}"),
            },
        ),
        Case(
            id="linalg.transpose_matmul",
            section="beyond: linear algebra",
            formula=r"Y = A^T B,\ A \in \mathbb{R}^{N \times m},\ B \in \mathbb{R}^{N \times n}",
            args=(Arg("A", ("N", "m")), Arg("B", ("N", "n"))),
            output=("m", "n"),
            primal=lambda xp, A, B: A.T @ B,
            partials={
                "A": Partial(S.DENSE, _tmatmul_dA, _absolute(_tmatmul_dA), one, r"\frac{\partial Y_{ij}}{\partial A_{kl}} = \delta_{li} B_{kj}"),
                "B": Partial(S.DENSE, _tmatmul_dB, _absolute(_tmatmul_dB), one, r"\frac{\partial Y_{ij}}{\partial B_{kl}} = A_{ki} \delta_{jl}"),
            },
        ),
    ]


# ------------------------------------------------------------- broadcasting


def _col_plus_row_da(p: Point) -> Any:
    """∂(a + b)_ij/∂a_k0 = δ_ik: (m, n, m, 1)."""
    m, n = np.shape(p.a)[0], np.shape(p.b)[1]
    return np.broadcast_to(np.eye(m)[:, None, :, None], (m, n, m, 1)) * 1.0


def _col_plus_row_db(p: Point) -> Any:
    """∂(a + b)_ij/∂b_0l = δ_jl: (m, n, 1, n)."""
    m, n = np.shape(p.a)[0], np.shape(p.b)[1]
    return np.broadcast_to(np.eye(n)[None, :, None, :], (m, n, 1, n)) * 1.0


def _row_plus_matrix_dr(p: Point) -> Any:
    """∂(r + X)_ij/∂r_l = δ_jl: (m, n, n)."""
    m, n = np.shape(p.X)
    return np.broadcast_to(np.eye(n)[None, :, :], (m, n, n)) * 1.0


def _col_times_matrix_dc(p: Point) -> Any:
    """∂(c X)_ij/∂c_k0 = δ_ik X_ij: (m, n, m, 1)."""
    m = np.shape(p.X)[0]
    return (np.eye(m)[:, None, :] * np.asarray(p.X)[:, :, None])[..., None]


def _broadcasting() -> list[Case]:
    one = _const(1)
    return [
        Case(
            id="broadcast.col_plus_row",
            section="beyond: broadcasting",
            formula=r"Y = \mathbf{a} \mathbf{1}^T + \mathbf{1} \mathbf{b}^T,\ \mathbf{a} \in \mathbb{R}^{m \times 1},\ \mathbf{b} \in \mathbb{R}^{1 \times n}",
            args=(Arg("a", ("m", 1)), Arg("b", (1, "n"))),
            output=("m", "n"),
            primal=lambda xp, a, b: a + b,
            partials={
                "a": Partial(S.DENSE, _col_plus_row_da, _col_plus_row_da, _NO_ROUNDING, r"\frac{\partial Y_{ij}}{\partial a_{k}} = \delta_{ik}"),
                "b": Partial(S.DENSE, _col_plus_row_db, _col_plus_row_db, _NO_ROUNDING, r"\frac{\partial Y_{ij}}{\partial b_{l}} = \delta_{jl}"),
            },
            notes="The VJP must sum the cotangent over exactly the broadcast axis of each operand.",
        ),
        Case(
            id="broadcast.row_plus_matrix",
            section="beyond: broadcasting",
            formula=r"Y = \mathbf{1} \mathbf{r}^T + X",
            args=(Arg("r", ("n",)), Arg("X", ("m", "n"))),
            output=("m", "n"),
            primal=lambda xp, r, X: r + X,
            partials={
                "r": Partial(S.DENSE, _row_plus_matrix_dr, _row_plus_matrix_dr, _NO_ROUNDING, r"\frac{\partial Y_{ij}}{\partial r_l} = \delta_{jl}"),
                "X": Partial(S.IDENTITY, lambda p: None, _const(0.0), _NO_ROUNDING, r"\frac{\partial Y}{\partial X} = I"),
            },
        ),
        Case(
            id="broadcast.col_times_matrix",
            section="beyond: broadcasting",
            formula=r"Y_{ij} = c_i X_{ij},\ \mathbf{c} \in \mathbb{R}^{m \times 1}",
            args=(Arg("c", ("m", 1)), Arg("X", ("m", "n"))),
            output=("m", "n"),
            primal=lambda xp, c, X: c * X,
            partials={
                "c": Partial(S.DENSE, _col_times_matrix_dc, _absolute(_col_times_matrix_dc), one, r"\frac{\partial Y_{ij}}{\partial c_k} = \delta_{ik} X_{ij}"),
                "X": Partial(S.DIAGONAL, lambda p: np.broadcast_to(p.c, np.shape(p.X)), lambda p: np.broadcast_to(p.c, np.shape(p.X)), one,
                             r"\frac{\partial Y_{ij}}{\partial X_{ij}} = c_i"),
            },
        ),
        Case(
            id="broadcast.scalar_times_matrix",
            section="beyond: broadcasting",
            formula=r"Y = s X",
            args=(Arg("s"), Arg("X", ("m", "n"))),
            output=("m", "n"),
            primal=lambda xp, s, X: s * X,
            partials={
                "s": Partial(S.COLUMN, lambda p: p.X, lambda p: p.X, one, r"\frac{\partial Y}{\partial s} = X"),
                "X": Partial(S.DIAGONAL, lambda p: p.s, lambda p: p.s, one, r"\frac{\partial Y}{\partial X} = s I"),
            },
        ),
    ]


# ------------------------------------------------------------------- losses


def _mse_ops(p: Point) -> float:
    return p.pred.size + 4


def _xent_primal(xp, Z, labels):
    classes = xp.asarray(np.arange(Z.shape[1]))
    onehot = xp.reshape(labels, (labels.shape[0], 1)) == classes
    return -xp.mean(xp.sum(onehot * xp.log_softmax(Z, axis=1), axis=1))


def _onehot(p: Point) -> Any:
    return np.asarray(np.reshape(p.labels, (-1, 1)) == np.arange(np.shape(p.Z)[1]), dtype=np.float64)


def _xent_softmax(p: Point) -> Any:
    z = np.asarray(p.Z)
    e = np.exp(_shifted(z, 1))
    return e / np.sum(e, axis=1, keepdims=True)


def _xent_magnitude(p: Point) -> Any:
    z = np.abs(np.asarray(p.Z))
    scale = 1 + z + np.max(z, axis=1, keepdims=True) + math.log(z.shape[1])
    return (_xent_softmax(p) * scale + _onehot(p)) / np.shape(p.Z)[0]


def _mlp_primal(xp, W1, b1, w2, b2, X, y):
    hidden = xp.maximum(X @ W1.T + b1, 0.0 * b1)
    e = hidden @ w2 + b2 - y
    return xp.mean(e * e)


def _mlp_terms(p: Point) -> dict[str, Any]:
    """H = X W1ᵀ + b1, its mask [H > 0], A = relu(H), e = A w2 + b2 - y, δ = ∂C/∂H = (2/N) e w2ᵀ ⊙ [H > 0], with magnitudes."""
    X, W1, w2 = np.asarray(p.X), np.asarray(p.W1), np.asarray(p.w2)
    H = X @ W1.T + p.b1
    H_mag = np.abs(X) @ np.abs(W1).T + np.abs(p.b1)
    active = p.step(H, H_mag, np.shape(X)[1] + 1)
    A = active * H
    e = A @ w2 + p.b2 - p.y
    e_mag = (active * H_mag) @ np.abs(w2) + np.abs(p.b2) + np.abs(p.y)
    k = 2.0 / np.size(p.y)
    return {
        "active": active, "A": A, "A_mag": active * H_mag, "e": e, "e_mag": e_mag, "k": k,
        "delta": k * e[:, None] * w2[None, :] * active,
        "delta_mag": k * e_mag[:, None] * np.abs(w2)[None, :] * active,
    }


def _mlp_ops(p: Point) -> float:
    n, m, N = np.shape(p.X)[1], np.size(p.w2), np.size(p.y)
    return n + m + N + 8


def _mlp_project(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Sample 0's hidden pre-activations exactly 0: integer X and W1, b1 = -(W1 x_0)."""
    out = dict(values)
    for name in ("X", "W1"):
        out[name] = np.clip(np.round(out[name]), -8, 8).astype(out[name].dtype)
    out["b1"] = np.asarray(-(out["W1"] @ out["X"][0]), dtype=values["b1"].dtype)
    return out


def _mlp_locus(p: Point) -> tuple[Any, Any, float]:
    X, W1 = np.asarray(p.X), np.asarray(p.W1)
    return X @ W1.T + p.b1, np.abs(X) @ np.abs(W1).T + np.abs(p.b1), np.shape(X)[1] + 1


def _losses() -> list[Case]:
    mlp = _mlp_terms
    return [
        Case(
            id="losses.mse_mean",
            section="beyond: losses",
            formula=r"C = \operatorname{mean}_i (p_i - y_i)^2",
            args=(Arg("pred", ("N",)), Arg("y", ("N",))),
            output=(),
            primal=lambda xp, pred, y: xp.mean((pred - y) ** 2),
            partials={
                "pred": Partial(S.ROW, lambda p: 2 * (p.pred - p.y) / p.y.size, lambda p: 2 * (np.abs(p.pred) + np.abs(p.y)) / p.y.size,
                                _mse_ops, r"\frac{\partial C}{\partial p_i} = \frac{2}{N}(p_i - y_i)"),
                "y": Partial(S.ROW, lambda p: -2 * (p.pred - p.y) / p.y.size, lambda p: 2 * (np.abs(p.pred) + np.abs(p.y)) / p.y.size,
                             _mse_ops, r"\frac{\partial C}{\partial y_i} = -\frac{2}{N}(p_i - y_i)"),
            },
            notes="A mean whose backward forgets 1/N is off by ×N here, for every N > 1.",
        ),
        Case(
            id="losses.softmax_xent",
            section="beyond: losses",
            formula=r"C = -\frac{1}{N} \sum_i \log \operatorname{softmax}(Z_i)_{\ell_i}",
            args=(Arg("Z", ("N", "m")), Arg("labels", ("N",), LABEL, differentiable=False, classes="m")),
            output=(),
            primal=_xent_primal,
            partials={
                "Z": Partial(S.ROW, lambda p: (_xent_softmax(p) - _onehot(p)) / np.shape(p.Z)[0], _xent_magnitude,
                             lambda p: T + np.shape(p.Z)[1] + np.shape(p.Z)[0] + 8,
                             r"\frac{\partial C}{\partial Z_{ic}} = \frac{1}{N}(\operatorname{softmax}(Z_i)_c - [c = \ell_i])",
                             ones_jvp=0.0),  # shifting every logit by one constant changes no softmax
            },
            notes="Integer labels select the class through a comparison: they carry no derivative.",
        ),
        Case(
            id="losses.mlp_relu",
            section="beyond: losses",
            formula=r"C = \operatorname{mean}_i \left(\mathbf{w}_2 \cdot \max(0, W_1 \mathbf{x}_i + \mathbf{b}_1) + b_2 - y_i\right)^2",
            args=(Arg("W1", ("m", "n")), Arg("b1", ("m",)), Arg("w2", ("m",)), Arg("b2"),
                  Arg("X", ("N", "n"), differentiable=False), Arg("y", ("N",), differentiable=False)),
            output=(),
            primal=_mlp_primal,
            partials={
                "W1": Partial(S.ROW, lambda p: mlp(p)["delta"].T @ np.asarray(p.X), lambda p: mlp(p)["delta_mag"].T @ np.abs(p.X),
                              _mlp_ops, r"\frac{\partial C}{\partial W_1} = \Delta^T X,\ \Delta = \frac{2}{N} \mathbf{e} \mathbf{w}_2^T \odot [H > 0]"),
                "b1": Partial(S.ROW, lambda p: np.sum(mlp(p)["delta"], axis=0), lambda p: np.sum(mlp(p)["delta_mag"], axis=0),
                              _mlp_ops, r"\frac{\partial C}{\partial \mathbf{b}_1} = \mathbf{1}^T \Delta"),
                "w2": Partial(S.ROW, lambda p: mlp(p)["k"] * mlp(p)["e"] @ mlp(p)["A"],
                              lambda p: mlp(p)["k"] * mlp(p)["e_mag"] @ mlp(p)["A_mag"],
                              _mlp_ops, r"\frac{\partial C}{\partial \mathbf{w}_2} = \frac{2}{N} \mathbf{e}^T \max(0, H)"),
                "b2": Partial(S.SCALAR, lambda p: mlp(p)["k"] * np.sum(mlp(p)["e"]), lambda p: mlp(p)["k"] * np.sum(mlp(p)["e_mag"]),
                              _mlp_ops, r"\frac{\partial C}{\partial b_2} = \frac{2}{N} \sum_i e_i"),
            },
            kink=Kink(
                where="H_ij = w1_j·x_i + b1_j = 0 for some sample i and hidden unit j",
                subdifferential="hidden unit j of sample i contributes with a share t ∈ [0, 1]",
                locus=_mlp_locus,
                project=_mlp_project,
                convention_note="The usual ReLU convention (0 at 0) takes t = 0; any t ∈ [0, 1] is valid.",
            ),
            notes="e = max(0, H) w2 + b2 - y with H = X W1ᵀ + b1; the mean is over the N samples.",
        ),
    ]


def _unaries() -> list[Case]:
    return [
        _unary("unary.exp", r"y_i = e^{x_i}", lambda xp, x: xp.exp(x), lambda p: np.exp(p.x), lambda p: np.exp(p.x), T,
               r"\frac{\partial y_i}{\partial x_i} = e^{x_i}"),
        _unary("unary.tanh", r"y_i = \tanh x_i", lambda xp, x: xp.tanh(x), lambda p: 1 - np.tanh(p.x) ** 2, _tanh_magnitude,
               2 * T + 2, r"\frac{\partial y_i}{\partial x_i} = 1 - \tanh^2 x_i"),
        # σ(1 - σ) from σ with ≤ 2T + 3 roundings: the error of 1 - σ is absolute, so the product's is ~ u·σ.
        _unary("unary.sigmoid", r"y_i = \sigma(x_i)", lambda xp, x: xp.sigmoid(x),
               lambda p: _sigmoid(p.x) * (1 - _sigmoid(p.x)), lambda p: _sigmoid(p.x), 2 * T + 4,
               r"\frac{\partial y_i}{\partial x_i} = \sigma(x_i)(1 - \sigma(x_i))"),
        _unary("unary.sqrt", r"y_i = \sqrt{x_i},\ x_i > 0", lambda xp, x: xp.sqrt(x), lambda p: 0.5 / np.sqrt(p.x),
               lambda p: 0.5 / np.sqrt(p.x), T + 2, r"\frac{\partial y_i}{\partial x_i} = \frac{1}{2\sqrt{x_i}}", POSITIVE,
               notes="The domain is x > 0: at 0 the one-sided derivative is +inf."),
        _abs_case(),
        _unary("unary.square", r"y_i = x_i^2", lambda xp, x: x**2, lambda p: 2 * p.x, lambda p: 2 * np.abs(p.x), 1,
               r"\frac{\partial y_i}{\partial x_i} = 2 x_i", notes="At x = 0 the derivative is exactly 0, never NaN."),
        _unary("unary.cube", r"y_i = x_i^3", lambda xp, x: x**3, lambda p: 3 * p.x**2, lambda p: 3 * p.x**2, 3,
               r"\frac{\partial y_i}{\partial x_i} = 3 x_i^2", notes="At x = 0 the derivative is exactly 0, never NaN (MLX #504)."),
        _clip_case("unary.clip", r"y_i = \operatorname{clip}(x_i, -1.5, 2)", -1.5, 2.0,
                   lambda xp, x: xp.clip(x, -1.5, 2.0), "torch takes 1 at both bounds, jax ½, autograd 0: all valid."),
        _clip_case("unary.relu6", r"y_i = \min(\max(x_i, 0), 6)", 0.0, 6.0,
                   lambda xp, x: xp.minimum(xp.maximum(x, xp.zeros_like(x)), xp.zeros_like(x) + 6.0),
                   "Each bound is its own kink (pytorch #184572): the share may differ between 0 and 6."),
        _clip_case("unary.hardtanh", r"y_i = \operatorname{clip}(x_i, -1, 1)", -1.0, 1.0,
                   lambda xp, x: xp.clip(x, -1.0, 1.0), "Any share in [0, 1] at ±1 is valid (pytorch #184574)."),
    ]


FAMILY_CASES: tuple[Case, ...] = (
    *_unaries(),
    _where_case(),
    _where_nonfinite_case(),
    *_reductions(),
    _full_sum("sum"),
    _full_sum("mean"),
    _full_extremum("max", 1),
    _full_extremum("min", -1),
    _softmax_case(log=False),
    _softmax_case(log=True),
    _norm_case(native=False),
    _norm_case(native=True),
    _norminf_case(),
    _std_case(),
    _hypot_case(),
    _sinc_case(),
    _det_case(),
    *_linalg(),
    *_broadcasting(),
    *_losses(),
)
