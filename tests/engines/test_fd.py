"""The finite-difference oracle against the reference closed forms, and its error estimates.

Every case at fixed points (derived from the case id, in the case's domain, away
from its kinks), float64 and float32: ``|fd - reference| <= error_estimate +
reference rounding bound`` (``Partial.ops · u · magnitude``), and the estimate
not absurdly loose.  Then the properties that make fd an oracle: the complex
step where it is safe and Richardson where it is not, the step at large |x|,
the diagonal of an element-wise function, honest answers at and near kinks,
non-finite values.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

from verigrad.oracles import VOCABULARY, Engine, EstimatedArray, load_engine
from verigrad.oracles.fd import FiniteDifferences
from verigrad.reference import CASES, CASES_BY_ID, LABEL, NONZERO, NONZERO_MIN_ABS, POSITIVE, Point, resolve_shape

U64 = 2.0**-53
U32 = 2.0**-24
SIZES = {"n": 3, "m": 2, "N": 4}
RANGE = 3.0
KINK_CLEARANCE = 0.25
FD = FiniteDifferences()
RICHARDSON_ONLY = FiniteDifferences(complex_step=False)


def _param_sets(case):
    if not case.params:
        return [{}]
    return [dict(zip(case.params, combo, strict=True)) for combo in itertools.product(*case.params.values())]


def _point(case, params, index):
    """Arrays for the case, derived from its id and ``index``: in its domain, clear of its kink."""
    rng = np.random.default_rng([zlib.crc32(case.id.encode()), index])
    for _ in range(1000):
        values = {}
        for arg in case.args:
            shape = resolve_shape(arg.shape, SIZES)
            if arg.domain == LABEL:
                values[arg.name] = rng.integers(0, SIZES[arg.classes], shape)
            elif arg.domain in (NONZERO, POSITIVE):
                signs = rng.choice([-1.0, 1.0], shape) if arg.domain == NONZERO else 1.0
                values[arg.name] = rng.uniform(2 * NONZERO_MIN_ABS, RANGE, shape) * signs
            else:
                values[arg.name] = rng.uniform(-RANGE, RANGE, shape)
        if case.kink is not None:
            z, _, _ = case.kink.locus(Point({**values, **params}))
            if np.min(np.abs(z)) < KINK_CLEARANCE:
                continue
        return values, rng
    raise AssertionError(f"no point clear of the kink for {case.id}")


CASE_POINTS = [
    pytest.param(case.id, params, index, id=f"{case.id}{''.join(f'-{k}{v}' for k, v in params.items())}-{index}")
    for case in CASES
    for params in _param_sets(case)
    for index in range(2)
]


def _reference(case, params, values, dtype):
    """The point as the engine sees it (values rounded to dtype), and its float64 closed forms."""
    arrays = {name: np.asarray(v, dtype=dtype) if np.asarray(v).dtype.kind == "f" else np.asarray(v) for name, v in values.items()}
    point = Point({**{name: a.astype(np.float64) for name, a in arrays.items()}, **params})
    return arrays, point


def _assert_honest(result, reference, rounding_bound, dtype, what, loose=1e-8):
    value = np.asarray(result, dtype=np.float64)
    estimate = result.error_estimate
    true_error = np.abs(value - reference)
    assert np.all(true_error <= estimate + rounding_bound), (
        f"{what}: error {true_error} above the estimate {estimate} + reference rounding {rounding_bound}"
    )
    # Not absurdly loose: below `loose` relative to the result's scale (the float32 cast aside).
    scale = np.max(np.abs(reference), initial=0.0) + 1.0
    cast = 0.0 if dtype == np.float64 else 2 * U32 * np.abs(reference)
    assert np.all(estimate <= loose * scale + cast), f"{what}: estimate {estimate} too loose for scale {scale}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("case_id", "params", "index"), CASE_POINTS)
def test_fd_matches_reference(case_id, params, index, dtype):
    case = CASES_BY_ID[case_id]
    values, rng = _point(case, params, index)
    arrays, point = _reference(case, params, values, dtype)
    fn = case.bind(FD.xp, **params)
    primals = tuple(arrays[a.name] for a in case.args)
    out_shape = np.shape(fn(*[p.astype(np.float64) for p in primals]))
    cotangent = rng.uniform(-2, 2, out_shape).astype(dtype)
    u = cotangent.astype(np.float64)

    grads = FD.vjp(fn, primals, cotangent)
    assert len(grads) == len(primals)
    for arg, grad, primal in zip(case.args, grads, primals, strict=True):
        assert isinstance(grad, EstimatedArray)
        assert grad.shape == primal.shape and grad.dtype == primal.dtype
        if not arg.differentiable:
            continue
        partial = case.partials[arg.name]
        reference = partial.jacobian(point, out_shape, primal.shape).vjp(u)
        bound = partial.ops(point) * U64 * partial.magnitude_jacobian(point, out_shape, primal.shape).vjp(np.abs(u))
        _assert_honest(grad, reference, bound, dtype, f"vjp {case_id} d/d{arg.name}")

    tangents = tuple(
        rng.uniform(-2, 2, p.shape).astype(dtype) if a.differentiable else np.zeros(p.shape, p.dtype)
        for a, p in zip(case.args, primals, strict=True)
    )
    result = FD.jvp(fn, primals, tangents)
    assert isinstance(result, EstimatedArray)
    assert result.shape == out_shape and result.dtype == dtype
    reference = np.zeros(out_shape)
    bound = np.zeros(out_shape)
    for arg, primal, tangent in zip(case.args, primals, tangents, strict=True):
        if arg.differentiable:
            partial = case.partials[arg.name]
            v = tangent.astype(np.float64)
            reference = reference + partial.jacobian(point, out_shape, primal.shape).jvp(v)
            magnitude = partial.magnitude_jacobian(point, out_shape, primal.shape).jvp(np.abs(v))
            bound = bound + partial.ops(point) * U64 * magnitude
    _assert_honest(result, reference, bound, dtype, f"jvp {case_id}")


@pytest.mark.parametrize(("case_id", "params", "index"), [p for p in CASE_POINTS if p.values[2] == 0])
def test_richardson_alone_matches_reference(case_id, params, index):
    """With the complex step switched off, Richardson's estimates are honest too (looser: ~1e-6)."""
    case = CASES_BY_ID[case_id]
    values, rng = _point(case, params, index)
    fn = case.bind(FD.xp, **params)
    primals = tuple(values[a.name] for a in case.args)
    point = Point({**values, **params})
    out_shape = np.shape(fn(*primals))
    u = rng.uniform(-2, 2, out_shape)
    for arg, grad, primal in zip(case.args, RICHARDSON_ONLY.vjp(fn, primals, u), primals, strict=True):
        if arg.differentiable:
            assert grad.method in ("richardson", "none")
            partial = case.partials[arg.name]
            reference = partial.jacobian(point, out_shape, primal.shape).vjp(u)
            bound = partial.ops(point) * U64 * partial.magnitude_jacobian(point, out_shape, primal.shape).vjp(np.abs(u))
            _assert_honest(grad, reference, bound, np.float64, f"richardson vjp {case_id} d/d{arg.name}", loose=1e-6)


def test_follows_engine_protocol():
    assert isinstance(FD, Engine)
    assert FD.name == "fd" and FD.xp.exp is np.exp  # numpy, plus the composed sigmoid, logsumexp, softmax, log_softmax
    assert all(callable(getattr(FD.xp, name)) for name in VOCABULARY)
    assert isinstance(load_engine("fd"), FiniteDifferences)


def test_smooth_cases_use_the_complex_step():
    case = CASES_BY_ID["chain.matvec_sin"]
    values, _ = _point(case, {}, 0)
    fn = case.bind(np)
    primals = (values["W"], values["x"])
    assert all(g.method == "complex-step" for g in FD.vjp(fn, primals, np.ones(SIZES["m"])))
    assert FD.jvp(fn, primals, (np.ones_like(values["W"]), np.ones_like(values["x"]))).method == "complex-step"


@pytest.mark.parametrize("engine", [FD, RICHARDSON_ONLY], ids=["default", "richardson-only"])
def test_periodic_function_at_large_x(engine):
    """sin at x = 1e6: a step proportional to |x| (1e6·eps^(1/3) ≈ 6) would be useless."""
    x = np.array(1e6)
    exact = np.cos(1e6)
    (grad,) = engine.vjp(np.sin, (x,), np.array(1.0))
    assert abs(float(grad) - exact) <= grad.error_estimate <= 1e-12
    result = engine.jvp(np.sin, (x,), (np.array(1.0),))
    assert abs(float(result) - exact) <= result.error_estimate <= 1e-12
    # The V of plain central differences: truncation at large steps, rounding at small ones.
    step = FD.chosen_step(np.sin, (x,), (np.array(1.0),))
    assert 1e-6 < step < 1e-3
    assert 1e-3 < FD.chosen_step(np.sin, (x,), (np.array(1.0),), richardson=True) < 1.0
    scan = dict(FD.step_scan(np.sin, (x,), (np.array(1.0),), [6.0, step, 1e-11]))
    errors = {s: abs(float(v) - exact) for s, v in scan.items()}
    assert errors[step] < 1e-9 and min(errors[6.0], errors[1e-11]) > 1e-3


def test_diagonal_of_an_elementwise_function():
    x = np.random.default_rng(7).uniform(-3, 3, 100)
    fn = lambda x: np.sin(x) * np.exp(0.1 * x)
    exact = (np.cos(x) + 0.1 * np.sin(x)) * np.exp(0.1 * x)
    diag = FD.diagonal(fn, (x,), 0)
    assert diag.shape == x.shape and diag.dtype == np.float64 and diag.method == "complex-step"
    assert np.max(np.abs(diag - exact)) <= 2e-13
    assert np.all(np.abs(diag - exact) <= diag.error_estimate)
    jac = FD.jacobian(fn, (x,), 0)
    assert jac.shape == (100, 100)
    np.testing.assert_array_equal(jac, np.diag(np.diag(jac)))
    assert np.max(np.abs(np.diag(jac) - exact)) <= 2e-13


def test_diagonal_of_a_non_analytic_elementwise_function():
    x = np.array([-2.5, -1.0, 0.3, 1.7, 2.9])
    diag = FD.diagonal(lambda x: np.abs(x) * np.sin(x), (x,), 0)
    exact = np.sign(x) * np.sin(x) + np.abs(x) * np.cos(x)
    assert diag.method == "richardson"
    assert np.all(np.abs(diag - exact) <= diag.error_estimate)
    assert np.all(diag.error_estimate <= 1e-10)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x * np.sum(x),
        lambda x: np.roll(x, 1) ** 2,
        lambda x: np.abs(np.roll(x, 1)),
        lambda x: np.sin(x) + np.abs(x[::-1]),
    ],
    ids=["sum", "roll", "abs-roll", "hidden-in-abs"],
)
def test_diagonal_rejects_coupled_functions(fn):
    with pytest.raises(ValueError, match="element-wise"):
        FD.diagonal(fn, (np.array([0.5, -1.2, 2.0, 0.7]),), 0)


def test_diagonal_rejects_a_reduction():
    with pytest.raises(ValueError, match="element-wise"):
        FD.diagonal(np.sum, (np.ones(3),), 0)


def test_non_analytic_functions_fall_back_to_richardson():
    """abs returns a real array for complex input: Richardson, right away from the kink."""
    x = np.array([-1.5, 0.7, 2.0])
    v = np.array([1.0, -2.0, 0.5])
    fn = lambda x: np.abs(x) * np.sin(x)
    jac = np.diag(np.sign(x) * np.sin(x) + np.abs(x) * np.cos(x))
    (grad,) = FD.vjp(fn, (x,), np.ones(3))
    assert grad.method != "complex-step"  # off-diagonal zeros still come from the complex step
    assert np.all(np.abs(grad - np.ones(3) @ jac) <= grad.error_estimate)
    result = FD.jvp(fn, (x,), (v,))
    assert result.method != "complex-step"
    assert np.all(np.abs(result - jac @ v) <= result.error_estimate)
    assert np.all(result.error_estimate <= 1e-10)
    (scalar,) = FD.vjp(np.abs, (np.array(-0.3),), np.array(1.0))
    assert scalar.method == "richardson" and abs(float(scalar) + 1.0) <= scalar.error_estimate <= 1e-12


def test_wrong_complex_results_are_caught_by_central_differences():
    """x·conj(x) = |x|² returns complex with zero imaginary part: only the central-difference check sees it."""
    x = np.array([-1.2, 0.4, 2.5])
    fn = lambda x: np.sum(x * np.conj(x))
    (grad,) = FD.vjp(fn, (x,), np.array(1.0))
    assert grad.method == "richardson"
    assert np.all(np.abs(grad - 2 * x) <= grad.error_estimate)
    assert np.all(grad.error_estimate <= 1e-12)
    result = FD.jvp(fn, (x,), (np.ones(3),))
    assert result.method == "richardson" and abs(float(result) - 2 * np.sum(x)) <= result.error_estimate <= 1e-12


def test_maximum_is_exact_away_from_ties_and_symmetric_at_ties():
    w = np.array([1.0, 2.0, 3.0])
    x = np.array([1.0, 1.5, 3.5])  # a tie at element 0
    fn = lambda w, x: np.maximum(w, x)
    gw, gx = FD.vjp(fn, (w, x), np.ones(3))
    np.testing.assert_array_equal(gw[1:], [1.0, 0.0])
    np.testing.assert_array_equal(gx[1:], [0.0, 1.0])
    # At the tie the complex steps from both sides of the real axis disagree (each picks a branch):
    # the result is their mean, the limit of the central difference (which Richardson confirms),
    # a valid subgradient (t, 1 - t) = (1/2, 1/2).
    assert float(gw[0]) == 0.5 and float(gx[0]) == 0.5
    assert gw.error_estimate[0] <= 1e-14 and gx.error_estimate[0] <= 1e-14
    # Richardson alone gives the same mean, but cannot tell a tie from a kink closer to x than any
    # step, where the derivative is one of the one-sided slopes: its estimate spans both.
    (richardson,) = RICHARDSON_ONLY.vjp(lambda w: fn(w, x), (w,), np.ones(3))
    assert abs(richardson[0] - 0.5) <= 1e-12 and richardson.error_estimate[0] >= 0.5
    # jvp at the tie is linear in the tangent (per-element differences): (v_w + v_x) / 2.
    result = FD.jvp(fn, (w, x), (np.array([1.0, 1.0, 1.0]), np.array([-1.0, 1.0, 1.0])))
    assert abs(result[0]) <= result.error_estimate[0] <= 1e-14
    np.testing.assert_array_equal(result[1:], [1.0, 1.0])


def test_relu_at_and_near_the_kink():
    relu = lambda z: np.maximum(z, np.zeros_like(z))
    (at,) = FD.vjp(relu, (np.array(0.0),), np.array(1.0))
    assert float(at) == 0.5  # the symmetric average: a subgradient
    (near,) = FD.vjp(relu, (np.array(1e-300),), np.array(1.0))
    assert abs(float(near) - 1.0) <= near.error_estimate  # the complex step sees the side
    # Without the complex step, every step straddles the kink: the estimate must reach the one-sided slopes.
    (blind,) = RICHARDSON_ONLY.vjp(relu, (np.array(1e-300),), np.array(1.0))
    assert abs(float(blind) - 1.0) <= blind.error_estimate


def test_non_finite_values_give_non_finite_estimates():
    for engine in (FD, RICHARDSON_ONLY):
        (grad,) = engine.vjp(np.log, (np.array([-1.0, 2.0]),), np.array([1.0, 1.0]))
        assert np.all(np.isnan(grad)) and np.all(np.isinf(grad.error_estimate))
        result = engine.jvp(np.log, (np.array([0.0, 2.0]),), (np.array([1.0, 1.0]),))
        assert np.isnan(result[0]) and np.isinf(result.error_estimate[0])
        assert abs(result[1] - 0.5) <= result.error_estimate[1]


def test_jvp_and_vjp_agree():
    case = CASES_BY_ID["loss.gd_step"]
    values, rng = _point(case, {"eta": 0.5}, 0)
    fn = case.bind(np, eta=0.5)
    primals = tuple(values[a.name] for a in case.args)
    v = tuple(
        rng.uniform(-1, 1, p.shape) if a.differentiable else np.zeros(p.shape)
        for a, p in zip(case.args, primals, strict=True)
    )
    u = rng.uniform(-1, 1, np.shape(fn(*primals)))
    jv = FD.jvp(fn, primals, v)
    grads = FD.vjp(fn, primals, u)
    left = float(u @ jv)
    right = sum(float(np.sum(g * t)) for g, t in zip(grads, v, strict=True))
    budget = float(np.abs(u) @ jv.error_estimate) + sum(
        float(np.sum(g.error_estimate * np.abs(t))) for g, t in zip(grads, v, strict=True)
    )
    assert abs(left - right) <= budget + 1e-14


def test_jacobian_is_dense_by_columns():
    case = CASES_BY_ID["chain.matvec_sin"]
    values, _ = _point(case, {}, 1)
    fn = case.bind(np)
    point = Point(values)
    jac = FD.jacobian(fn, (values["W"], values["x"]), 1)
    assert jac.shape == (SIZES["m"], SIZES["n"])
    exact = case.partials["x"].jacobian(point, (SIZES["m"],), (SIZES["n"],)).dense()
    assert np.all(np.abs(jac - exact) <= jac.error_estimate + 1e-15)


def test_float32_inputs_are_differentiated_in_float64():
    x = np.array([0.1, 1.3, 2.7], dtype=np.float32)
    (grad,) = FD.vjp(lambda x: np.sin(x) * x, (x,), np.ones(3, np.float32))
    x64 = x.astype(np.float64)
    exact = np.cos(x64) * x64 + np.sin(x64)
    assert grad.dtype == np.float32
    np.testing.assert_array_equal(grad, exact.astype(np.float32))  # float64 accuracy, then one rounding


def test_zero_tangent_and_constant_output_are_exact_zeros():
    result = FD.jvp(lambda x, c: c * x**2, (np.array(1.5), np.array(2.0)), (np.array(0.0), np.array(0.0)))
    assert float(result) == 0.0 and float(result.error_estimate) == 0.0
    case = CASES_BY_ID["scalar.constant"]
    gx, gc = FD.vjp(case.bind(np), (np.array(0.7), np.array(3.0)), np.array(1.0))
    assert float(gx) == 0.0 and float(gc) == 1.0
