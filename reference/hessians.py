"""Closed-form Hessians of every scalar-output case, for checking Hessian-vector products.

For a scalar primal f of arguments a, b, ... the Hessian is a table of blocks
``H[a, b]`` of shape ``a.shape + b.shape`` with ``H[a, b][i..., j...] =
∂²f / ∂a[i...] ∂b[j...]``.  Only blocks for a ≤ b in argument order are written
(the others are their transposes; a missing block is zero), together with the
magnitudes that bound their rounding error exactly as a first derivative's do
(a correct evaluation errs by at most ``ops · u · magnitude`` per entry; where a
function is applied to a computed argument t, |t| times its derivative bound).

Piecewise cases (ReLU) have a Hessian on each open region of their kinks; the
mask ``p.step(z)`` takes the share t on a kink, as the first derivatives do.
Every block is proved equal to sympy's second derivative of the primal and its
float64 value checked against exact arithmetic in ``tests/reference``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from verigrad.reference.families import _cofactors, _mlp_ops, _mlp_terms, _xent_softmax
from verigrad.reference.spec import TRANSCENDENTAL, Point

T = TRANSCENDENTAL
Blocks = dict[tuple[str, str], np.ndarray]


@dataclass(frozen=True)
class Hessian:
    """The Hessian of one scalar-output case: value and magnitude blocks, and the op count."""

    blocks: Callable[[Point], Mapping[tuple[str, str], object]]
    magnitude: Callable[[Point], Mapping[tuple[str, str], object]]
    ops: Callable[[Point], float]
    #: The largest intermediate a correct evaluation of H v forms for vectors of size ≤ 1, where it outgrows
    #: the blocks (‖x‖'s: the second derivative of √s is -¼ s^(-3/2), 1/‖x‖³, before any vector enters):
    #: points where it leaves a format's range are outside what that format can evaluate, and the ``hvp``
    #: property does not draw them.  None: the blocks bound every intermediate.
    reach: Callable[[Point], float] | None = None


def _const(value: float) -> Callable[[Point], float]:
    return lambda p: value


def _none(p: Point) -> Blocks:
    return {}


ZERO = Hessian(_none, _none, _const(0))


def _one_arg(second: Callable[[Point], object], magnitude: Callable[[Point], object], ops: float, arg: str = "x") -> Hessian:
    return Hessian(lambda p: {(arg, arg): second(p)}, lambda p: {(arg, arg): magnitude(p)}, _const(ops))


def _cross_identity(first: str, second: str) -> Hessian:
    """f = first · second (+ terms linear in one argument): the cross block is I, exactly."""
    eye = lambda p: np.eye(np.size(getattr(p, first)))
    return Hessian(lambda p: {(first, second): eye(p)}, lambda p: {(first, second): 0 * eye(p)}, _const(0))


# ------------------------------------------------------------------- §2 scalars


def _power(p: Point) -> object:
    return p.n * (p.n - 1) * p.x ** max(p.n - 2, 0) if p.n > 1 else 0.0


def _power_magnitude(p: Point) -> object:
    return p.n * (p.n - 1) * np.abs(p.x) ** max(p.n - 2, 0) if p.n > 1 else 0.0


def _product(p: Point) -> object:
    return 2 * np.sin(p.x) + 4 * p.x * np.cos(p.x) - p.x**2 * np.sin(p.x)


def _product_magnitude(p: Point) -> object:
    return 2 * np.abs(np.sin(p.x)) + 4 * np.abs(p.x * np.cos(p.x)) + p.x**2 * np.abs(np.sin(p.x))


def _chain(p: Point) -> object:
    return 2 * np.cos(p.x**2) - 4 * p.x**2 * np.sin(p.x**2)


def _chain_magnitude(p: Point) -> object:
    # An error u·x² in t = x² moves cos t and sin t by up to u·x².
    return 2 * (np.abs(np.cos(p.x**2)) + p.x**2) + 4 * p.x**2 * (np.abs(np.sin(p.x**2)) + p.x**2)


# ------------------------------------------------------------------ §5 neuron


def _affine_z(p: Point) -> tuple[object, object, float]:
    return p.w @ p.x + p.b, np.abs(p.w) @ np.abs(p.x) + np.abs(p.b), p.w.size + 1


def _activation(p: Point) -> Blocks:
    z, magnitude, ops = _affine_z(p)
    return {("w", "x"): p.step(z, magnitude, ops) * np.eye(p.w.size)}


# -------------------------------------------------------------------- §6 loss


def _loss_parts(p: Point) -> tuple[object, object, object, float]:
    """Per sample: active mask s, error e = z - y, its magnitude, and k = 2/N."""
    z = p.X @ p.w + p.b
    z_magnitude = np.abs(p.X) @ np.abs(p.w) + np.abs(p.b)
    s = p.step(z, z_magnitude, p.w.size + 1)
    return s, z - p.y, z_magnitude + np.abs(p.y), 2.0 / p.y.size


def _loss_blocks(p: Point, absolute: bool) -> Blocks:
    """C = (1/N) Σ_i (y_i - max(0, x_i·w + b))², with k = 2/N and s_i = [z_i > 0]:

    ww = k Σ s_i x_i x_iᵀ, wb = k Σ s_i x_i, wX[m, j, l] = k s_j (X_jm w_l + e_j δ_ml),
    wy[m, j] = -k s_j X_jm, bb = k Σ s_i, bX[j, l] = k s_j w_l, by[j] = -k s_j,
    XX[i, m, j, l] = k s_i δ_ij w_m w_l, Xy[i, m, j] = -k s_i δ_ij w_m, yy = k I.
    ``absolute``: the same with |·| of every factor (e by its magnitude): the rounding magnitude.
    """
    s, e, e_magnitude, k = _loss_parts(p)
    X, w = (np.abs(p.X), np.abs(p.w)) if absolute else (p.X, p.w)
    e = e_magnitude if absolute else e
    sign = 1.0 if absolute else -1.0
    N, n = p.X.shape
    eye_n, eye_N = np.eye(n), np.eye(N)
    sX = s[:, None] * X
    return {
        ("w", "w"): k * X.T @ sX,
        ("w", "b"): k * np.sum(sX, axis=0),
        ("w", "X"): k * (sX.T[:, :, None] * w[None, None, :] + (s * e)[None, :, None] * eye_n[:, None, :]),
        ("w", "y"): sign * k * sX.T,
        ("b", "b"): k * np.sum(s),
        ("b", "X"): k * s[:, None] * w[None, :],
        ("b", "y"): sign * k * s,
        ("X", "X"): k * (s[:, None, None, None] * eye_N[:, None, :, None]) * (w[None, :, None, None] * w[None, None, None, :]),
        ("X", "y"): sign * k * (s[:, None, None] * eye_N[:, None, :]) * w[None, :, None],
        ("y", "y"): k * eye_N,
    }


def _mse_mean_blocks(p: Point) -> Blocks:
    """C = mean((pred - y)²): ±(2/N) I, its magnitude the same (one division: 2/N)."""
    scaled = np.eye(p.y.size) * (2 / p.y.size)
    return {("pred", "pred"): scaled, ("pred", "y"): -scaled, ("y", "y"): scaled}


def _sinc_blocks(p: Point, absolute: bool) -> Blocks:
    """y = Σ sinc(xᵢ): H = diag(sinc''(xᵢ)), sinc''(x) = π²(2 sin t − 2t cos t − t² sin t)/t³ at t = πx, −π²/3 at 0.

    Magnitude: π²(2|sin t| + 2|t cos t| + t²|sin t| + |t|³|cos t|)/|t|³ + |H| — the terms as written (they cancel
    near 0, as an engine differentiating sin(πx)/(πx) twice forms them) and t's own rounding through the
    numerator, whose derivative is −t² cos t; at 0, where a correct engine special-cases sinc, |H| = π²/3.
    """
    x = np.asarray(p.x)
    zero = np.asarray(x == 0, dtype=bool)
    safe = np.where(zero, x * 0 + 1, x)
    t = np.pi * safe
    sin, cos = np.sin(t), np.cos(t)
    # π²/t³ = 1/(π x³), and π² at 0 as π·π of x's own kind: π enters as the primal's one constant (exact kinds stay exact).
    pi_squared = (x * 0 + np.pi) * np.pi
    second = np.where(zero, -pi_squared / 3, (2 * sin - 2 * t * cos - t * t * sin) / (np.pi * safe * safe * safe))
    if absolute:
        t, sin, cos = (np.asarray(v, dtype=np.float64) for v in (t, sin, cos))
        terms = 2 * np.abs(sin) + 2 * np.abs(t * cos) + t * t * np.abs(sin) + np.abs(t) ** 3 * np.abs(cos)
        second = np.where(zero, np.pi**2 / 3, np.pi**2 * terms / np.abs(t) ** 3 + np.abs(np.asarray(second, dtype=np.float64)))
    return {("x", "x"): np.eye(x.size) * second[None, :]}


def _det_blocks(p: Point, absolute: bool) -> Blocks:
    """y = det A: ∂²y/∂A_ij∂A_kl = (−1)^(i+j) × the cofactor of A_kl in the minor without row i and column j
    (0 where k = i or l = j). The magnitude: the same expansion of |A| without signs (each entry a sum of
    products of n − 2 entries)."""
    a = np.asarray(p.A)
    n = a.shape[0]
    out = np.zeros((n, n, n, n), dtype=object if a.dtype == object else np.float64)
    for i in range(n):
        for j in range(n):
            rows, cols = [r for r in range(n) if r != i], [c for c in range(n) if c != j]
            inner = _cofactors(a[np.ix_(rows, cols)], absolute)
            for r, row in enumerate(rows):
                for c, col in enumerate(cols):
                    out[i, j, row, col] = inner[r, c] if absolute else (-1) ** (i + j) * inner[r, c]
    return {("A", "A"): out}


def _sinc_reach(p: Point) -> float:
    """The terms over t³ as written: about 4/t² near 0 (x = 0 itself is special-cased: π²/3)."""
    x = np.asarray(p.x, dtype=np.float64)
    t = np.pi * x[x != 0]
    if t.size == 0:
        return float(np.pi**2)
    return float(np.max(np.pi**2 * (2 * np.abs(np.sin(t)) + 2 * np.abs(t * np.cos(t)) + t * t) / np.abs(t) ** 3))


def _norm_active(p: Point) -> tuple[object, object]:
    """s = ‖x‖² and the mask of x ≠ 0: [s > 0] by ``p.step`` (the region, symbolically), and 0 at x = 0 exactly."""
    x = np.asarray(p.x)
    s = np.sum(x * x)
    at_zero = (1 if s == 0 else 0) if np.asarray(s).dtype == object else float(s == 0)
    return s, p.step(s) * (1 - at_zero)


def _norm2_blocks(p: Point, absolute: bool) -> Blocks:
    """y = ‖x‖: H = (I - x xᵀ/‖x‖²)/‖x‖ for x ≠ 0, its magnitude (I + |x||x|ᵀ/‖x‖²)/‖x‖.

    At x = 0, outside the domain where ‖·‖ is twice differentiable (H grows as
    1/‖x‖ there), the blocks are 0: the double ``where`` of the primal cuts every
    second-order term there, and the ``hvp`` property never draws that point
    (it lies on the case's kink).  The denominators are kept away from 0 there.
    """
    x = np.asarray(p.x)
    s, active = _norm_active(p)
    guard = 1 - active
    outer = x[:, None] * x[None, :]
    outer = np.abs(outer) if absolute else -outer
    return {("x", "x"): active * (np.eye(x.size) + outer / (s + guard)) / (np.sqrt(s) + guard)}


def _norm2_reach(p: Point) -> float:
    """1/‖x‖³: differentiating x/√s or ½ s^(-1/2) forms s^(-3/2) whatever the vector (x = 0: unbounded)."""
    s = float(np.sum(np.square(np.asarray(p.x, dtype=np.float64))))
    return s**-1.5 if s > 0 else float("inf")


def _norm2_ops(p: Point) -> float:
    """n products and n - 1 sums in s, each counted in x_i x_j / s (n + 2 with the product and the
    division) and half in √s (n/2, with √ as T), the subtraction and the last division: 1.5 n + T + 4."""
    return 1.5 * np.size(p.x) + T + 4


def _xent_blocks(p: Point, absolute: bool) -> Blocks:
    """C = -(1/N) Σ_i log softmax(Z_i)_{ℓ_i}: block (Z, Z)[i, c, j, d] = δ_ij (p_ic δ_cd - p_ic p_id) / N.

    The labels enter only the first derivative (a linear term).  Magnitude:
    p_ic (δ_cd + p_id) (1 + |z_ic| + |z_id| + 2 max|z_i|) / N.  A computed p_c =
    exp(z_c - max z) / Σ exp errs relatively by (2T + m + 1 + |z_c| + 3 max|z|)·u
    (the shift's error u·|z_c - max z| is exp's relative error; the sum's terms
    err by T + 2 max|z| at most, m - 1 additions, the division); the entry adds
    p_c's and p_d's errors and three roundings: (4T + 2m + 5 + |z_c| + |z_d| + 6 max|z|)·u
    relative, within ops · scale for ops = 4T + 2m + 5 ≥ 3.
    """
    z = np.asarray(p.Z)
    N, m = np.shape(z)
    prob = _xent_softmax(p)
    eye_N, eye_m = np.eye(N), np.eye(m)
    pair = prob[:, :, None] * prob[:, None, :]
    rows = prob[:, :, None] * eye_m[None, :, :] + (pair if absolute else -pair)
    if absolute:
        magnitude = np.abs(z)
        top = np.max(magnitude, axis=1)
        rows = rows * (1 + magnitude[:, :, None] + magnitude[:, None, :] + 2 * top[:, None, None])
    return {("Z", "Z"): eye_N[:, None, :, None] * rows[:, :, None, :] / N}


def _xent_ops(p: Point) -> float:
    return 4 * T + 2 * np.shape(p.Z)[1] + 5


def _mlp_blocks(p: Point, absolute: bool) -> Blocks:
    """C = mean_i e_i², e_i = w2 · relu(W1 x_i + b1) + b2 - y_i, with k = 2/N, s_ij = [H_ij > 0], A = s ⊙ H:

    On each open region of the kinks e_i is bilinear in (W1, b1) and w2, so
    H(C) = k Σ_i (∇e_i ∇e_iᵀ + e_i ∇²e_i) with ∂e_i/∂W1_jl = w2_j s_ij X_il,
    ∂e_i/∂b1_j = w2_j s_ij, ∂e_i/∂w2_j = A_ij, ∂e_i/∂b2 = 1 and ∇²e_i only
    ∂²e_i/∂b1_j∂w2_j = s_ij (times X_il for W1_jl).  The W1 blocks are the b1
    blocks with a factor X_il per W1 index.  At a kink (H_ij = 0) the mask is the
    share t and s_ij s_ij' for j = j' is read as s_ij: the blocks are then the
    mixture, with independent shares t, of the Hessians of the regions around
    it (t = 0, 1: one side's).  ``absolute``: every factor by its magnitude.
    """
    terms = _mlp_terms(p)
    s, k = terms["active"], terms["k"]
    X, w2 = (np.abs(p.X), np.abs(p.w2)) if absolute else (np.asarray(p.X), np.asarray(p.w2))
    A, e = (terms["A_mag"], terms["e_mag"]) if absolute else (terms["A"], terms["e"])
    N, m = np.shape(s)
    eye = np.eye(m)[None, :, :]
    pair = s[:, :, None] * s[:, None, :] + eye * (s * (1 - s))[:, :, None]
    unit_unit = w2[None, :, None] * w2[None, None, :] * pair  # (i, j, j'): b1 x b1 per sample
    unit_out = w2[None, :, None] * s[:, :, None] * A[:, None, :] + eye * (e[:, None] * s)[:, :, None]  # b1 x w2
    across = lambda block: block[:, :, None, :] * X[:, None, :, None]  # (i, j, j') -> (i, j, l, j'): the W1 factor
    return {
        ("W1", "W1"): k * np.sum(unit_unit[:, :, None, :, None] * X[:, None, :, None, None] * X[:, None, None, None, :], axis=0),
        ("W1", "b1"): k * np.sum(across(unit_unit), axis=0),
        ("W1", "w2"): k * np.sum(across(unit_out), axis=0),
        ("W1", "b2"): k * np.sum((w2[None, :] * s)[:, :, None] * X[:, None, :], axis=0),
        ("b1", "b1"): k * np.sum(unit_unit, axis=0),
        ("b1", "w2"): k * np.sum(unit_out, axis=0),
        ("b1", "b2"): k * np.sum(w2[None, :] * s, axis=0),
        ("w2", "w2"): k * np.sum(A[:, :, None] * A[:, None, :], axis=0),
        ("w2", "b2"): k * np.sum(A, axis=0),
        ("b2", "b2"): k * N,
    }


#: case id -> its Hessian (every scalar-output case of the catalog).
HESSIANS: dict[str, Hessian] = {
    "scalar.constant": ZERO,
    "scalar.multiple": Hessian(
        lambda p: {("x", "x"): 6 * p.c * p.x, ("x", "c"): 3 * p.x**2},
        lambda p: {("x", "x"): 6 * np.abs(p.c * p.x), ("x", "c"): 3 * p.x**2},
        _const(5 + T),
    ),
    "scalar.power": _one_arg(_power, _power_magnitude, 10 + T),
    "scalar.sum": _one_arg(lambda p: 2 - np.sin(p.x), lambda p: 2 + np.abs(np.sin(p.x)), 3 + T),
    "scalar.difference": _one_arg(lambda p: 2 + np.sin(p.x), lambda p: 2 + np.abs(np.sin(p.x)), 3 + T),
    "scalar.product": _one_arg(_product, _product_magnitude, 8 + T),
    "scalar.chain": _one_arg(_chain, _chain_magnitude, 8 + T),
    "scalar.total_derivative": _one_arg(_const(2.0), _const(0.0), 0),
    "grad.f": Hessian(
        lambda p: {("x", "x"): 6 * p.y, ("x", "y"): 6 * p.x},
        lambda p: {("x", "x"): 6 * np.abs(p.y), ("x", "y"): 6 * np.abs(p.x)},
        _const(5),
    ),
    "grad.g": Hessian(lambda p: {("y", "y"): 56 * p.y**6}, lambda p: {("y", "y"): 56 * p.y**6}, _const(12 + T)),
    "reduction.sum": ZERO,
    "reduction.sum_scaled": Hessian(
        lambda p: {("x", "z"): np.ones(p.x.shape)}, lambda p: {("x", "z"): np.zeros(p.x.shape)}, _const(0)
    ),
    "reduction.dot": _cross_identity("w", "x"),
    "neuron.affine": _cross_identity("w", "x"),
    "neuron.relu": ZERO,
    "neuron.activation": Hessian(_activation, lambda p: {("w", "x"): 0 * np.eye(p.w.size)}, _const(0)),
    "loss.relu_mse": Hessian(
        lambda p: _loss_blocks(p, absolute=False),
        lambda p: _loss_blocks(p, absolute=True),
        lambda p: p.w.size + p.y.size + 8,
    ),
    # ------------------------------------------------ the families beyond the seed
    # Sums, means, maxima and minima are linear on each region their ties bound: the Hessian is 0.
    "reduce.sum_all": ZERO,
    "reduce.mean_all": ZERO,
    "reduce.max_all": ZERO,
    "reduce.min_all": ZERO,
    "reduce.norminf_native": ZERO,  # piecewise linear: max |x_i|
    "losses.mse_mean": Hessian(_mse_mean_blocks, _mse_mean_blocks, _const(2)),
    "losses.softmax_xent": Hessian(lambda p: _xent_blocks(p, absolute=False), lambda p: _xent_blocks(p, absolute=True), _xent_ops),
    # The first derivatives' roundings (n + m + N + 8) cover e's and A's, the factors, k and the sum over N.
    "losses.mlp_relu": Hessian(lambda p: _mlp_blocks(p, absolute=False), lambda p: _mlp_blocks(p, absolute=True), _mlp_ops),
    "reduce.norm2": Hessian(lambda p: _norm2_blocks(p, absolute=False), lambda p: _norm2_blocks(p, absolute=True), _norm2_ops,
                            _norm2_reach),
}
# sin, cos (T each), t², t³, three products, two sums, the division, π²: 2T + 8.
HESSIANS["unary.sinc_native"] = Hessian(lambda p: _sinc_blocks(p, absolute=False), lambda p: _sinc_blocks(p, absolute=True),
                                        _const(2 * T + 8), _sinc_reach)
# 3 × 3: each entry is one entry of A (a 1 × 1 minor), or 0: nothing to round but the product with the vector.
HESSIANS["linalg.det_native"] = Hessian(lambda p: _det_blocks(p, absolute=False), lambda p: _det_blocks(p, absolute=True),
                                        _const(2))
# The library's own norm has the same Hessian as the composed one.
HESSIANS["reduce.norm2_native"] = HESSIANS["reduce.norm2"]

#: Scalar-output cases whose closed-form Hessian is not written yet: their ``hvp`` checks are not planned.
WITHOUT_HESSIAN: dict[str, str] = {
    "reduce.std_native": "(P − k g gᵀ)/(k y) is written in the notes, not yet with magnitudes that bound the mean's "
    "cancellation in its second order",
}


def block(blocks: Mapping[tuple[str, str], object], a: str, b: str, shapes: Mapping[str, tuple[int, ...]]) -> np.ndarray:
    """Block (a, b) as a float64 array of shape a.shape + b.shape: written, transposed, or zero."""
    if (a, b) in blocks:
        value = blocks[(a, b)]
    elif (b, a) in blocks:
        value = np.transpose(np.asarray(blocks[(b, a)]), _swap(len(shapes[b]), len(shapes[a])))
    else:
        return np.zeros(shapes[a] + shapes[b])
    return np.broadcast_to(np.asarray(value, dtype=np.float64), shapes[a] + shapes[b]).copy()


def _swap(left: int, right: int) -> tuple[int, ...]:
    """Axes that turn a (left dims + right dims) array into (right dims + left dims)."""
    return tuple(range(left, left + right)) + tuple(range(left))


def hvp(blocks: Mapping[tuple[str, str], object], vectors: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """(H v)[a] = Σ_b H[a, b] · v[b] for every argument a of ``vectors``."""
    return {
        a: sum(
            (np.tensordot(block(blocks, a, b, shapes), np.asarray(vectors[b], dtype=np.float64), axes=len(shapes[b])) for b in vectors),
            np.zeros(shapes[a]),
        )
        for a in vectors
    }
