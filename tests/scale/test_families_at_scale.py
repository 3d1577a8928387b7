"""Scale checks of the families beyond the seed: sizes derived from the shapes, reductions row- and column-like,
every family in the default plan, correct engines pass, the families' mutants are caught at scale."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from verigrad import expectations
from verigrad.oracles.mutants import BroadcastAxisNotReduced, MeanWithoutOneOverN
from verigrad.records import FAIL, PASS, SKIP
from verigrad.reference import Structure, get_case, resolve_shape
from verigrad.scale import SHARED_SIZE, check_at_scale, draw_inputs, long_sizes, scale_cases, scale_plan, scale_sizes

KNOWN_OUTCOMES = Path(__file__).resolve().parents[2] / "oracles" / "known_outcomes.txt"

N = 100_000
#: Every new family's prefix (reference/families.py).
FAMILIES = ("unary.", "select.", "reduce.", "linalg.", "broadcast.", "losses.")
#: Dense Jacobians of the default plan whose sizes can grow (one per case, argument and swept parameter).
DENSE = sorted({(c, a, tuple(p.items())) for c, a, _, _, p, _ in scale_plan(["e"], ["float64"])
                if get_case(c).partials[a].structure is Structure.DENSE and long_sizes(get_case(c), a, p)})


@pytest.fixture(scope="module")
def torch_engine() -> object:
    pytest.importorskip("torch")
    from verigrad.oracles import load_engine

    return load_engine("torch")


@pytest.mark.parametrize("family", FAMILIES)
def test_every_new_family_is_in_the_default_scale_plan(family: str) -> None:
    assert any(case.id.startswith(family) for case in scale_cases())


@pytest.mark.parametrize(("case_id", "arg", "params"), DENSE, ids=[f"{c}-{a}-{dict(p)}" for c, a, p in DENSE])
def test_dense_sizes_keep_the_jacobian_linear_in_n(case_id: str, arg: str, params: tuple) -> None:
    case, params = get_case(case_id), dict(params)
    sizes = scale_sizes(case, N, arg, params)
    out = math.prod(case.output_shape(sizes, params))
    largest = max(math.prod(resolve_shape(a.shape, sizes)) for a in case.args)
    assert out * math.prod(resolve_shape(case.arg(arg).shape, sizes)) <= SHARED_SIZE**4 * N  # O(n) entries
    assert largest >= N // SHARED_SIZE**2  # and the check is still at scale


@pytest.mark.parametrize(("axis", "long"), [(0, "m"), (1, "n")])
def test_reductions_are_column_like_along_axis_0_and_row_like_along_axis_1(axis: int, long: str) -> None:
    sizes = scale_sizes(get_case("reduce.max"), N, "X", {"axis": axis})
    assert sizes[long] > N // (2 * SHARED_SIZE)
    assert min(sizes.values()) == SHARED_SIZE  # the kept axis: a few long rows (columns), never square


@pytest.mark.parametrize("axis", [0, 1])
def test_swept_axis_gives_each_check_its_own_id(axis: int) -> None:
    checks = [c for c in scale_plan(["torch"], ["float64"], "reduce.mean") if c.params == {"axis": axis}]
    assert [c.inputs for c in checks] == ["uniform", "equal"]  # a reduction: equal inputs too
    ids = {check_at_scale(c.case, c.arg, "torch", c.dtype, 60, params=c.params, inputs=c.inputs).check_id for c in checks}
    assert ids == {f"scale[reduce.mean-X-torch-float64-n=60-axis={axis}]", f"scale[reduce.mean-X-torch-float64-n=60-axis={axis}-equal]"}


def test_equal_inputs_are_drawn_only_for_arguments_the_case_reduces() -> None:
    plan = scale_plan(["torch"], ["float64"], "unary.exp,reduce.max_all,linalg.outer,losses.mse_mean")
    assert {(c.case, c.inputs) for c in plan} == {("unary.exp", "uniform"), ("reduce.max_all", "uniform"),
                                                   ("reduce.max_all", "equal"), ("linalg.outer", "uniform"),
                                                   ("losses.mse_mean", "uniform"), ("losses.mse_mean", "equal")}
    values = draw_inputs(get_case("reduce.max_all"), "float16", {"m": 4, "n": 5}, np.random.default_rng(0), "equal")
    (array,) = values.values()
    assert array.shape == (4, 5) and np.unique(array).size == 1


PASSING = [
    ("reduce.max", "X", {"axis": 0}),
    ("reduce.logsumexp_keepdims", "X", {"axis": 1}),
    ("broadcast.col_plus_row", "b", {}),
    ("linalg.outer", "w", {}),
    ("unary.sqrt", "x", {}),  # the positive domain
    ("losses.softmax_xent", "Z", {}),  # integer labels
]


@pytest.mark.parametrize(("case_id", "arg", "params"), PASSING, ids=[f"{c}-{a}" for c, a, _ in PASSING])
def test_correct_engine_passes_at_scale(torch_engine: object, case_id: str, arg: str, params: dict) -> None:
    verdict = check_at_scale(case_id, arg, torch_engine, "float64", 3000, 1, params=params)
    assert verdict.status == PASS, verdict.message


def test_a_product_of_thousands_is_skipped_with_the_reason(torch_engine: object) -> None:
    verdict = check_at_scale("reduce.prod", "X", torch_engine, "float64", 3000, 1, params={"axis": 1})
    assert verdict.status == SKIP and "overflows" in verdict.message


@pytest.mark.parametrize("axis", [0, 1])
def test_mean_without_one_over_n_is_caught_at_scale(torch_engine: object, axis: int) -> None:
    verdict = check_at_scale("reduce.mean", "X", MeanWithoutOneOverN(torch_engine), "float64", 3000, 2,
                             params={"axis": axis})
    assert verdict.status == FAIL and verdict.diagnosis["kind"] == "scaled", verdict.message


def test_broadcast_axis_not_reduced_is_caught_at_scale(torch_engine: object) -> None:
    verdict = check_at_scale("broadcast.col_plus_row", "a", BroadcastAxisNotReduced(torch_engine), "float64", 3000, 3)
    assert verdict.status == FAIL, verdict.message
    assert np.isfinite(verdict.max_ulps) or verdict.diagnosis["kind"] == "wrong_shape"


@pytest.mark.verigrad_full_only  # every new-family scale check on two engines and two dtypes: minutes
@pytest.mark.parametrize("engine_name", ["jax", "torch"])
def test_every_new_family_check_passes_or_says_why_not(engine_name: str) -> None:
    pytest.importorskip(engine_name)
    from verigrad.oracles import load_engine

    engine = load_engine(engine_name)
    pattern = ",".join(f"{family}*" for family in FAMILIES)
    # The engine bugs the product pins (jax's NaN std at a constant X, the equal draw) are expected, as in a run.
    known, used = expectations.parse(KNOWN_OUTCOMES), set()
    failed = []
    for case_id, arg, _, dtype, params, inputs in scale_plan([engine_name], ["float64", "float32"], pattern):
        verdict = check_at_scale(case_id, arg, engine, dtype, 5000, 4, params=params, inputs=inputs)
        expectations.apply(known, verdict, used)
        if not verdict.as_expected or (verdict.status == SKIP and not verdict.message):
            failed.append(f"{verdict.check_id}: {verdict.message}")
    assert not failed, "\n".join(failed)


def test_equal_inputs_catch_a_tie_count_the_format_cannot_hold(torch_engine: object) -> None:
    """10⁵ float16 ties: a correct max passes; counting the ties in float16 (stuck at 2048) leaves the simplex.

    Uniform inputs tie a handful of ways, so only the equal draw can see it (tinygrad #12296's kind of bug).
    """
    from verigrad.oracles.mutants import TieCountInDtype

    case = get_case("reduce.max_all")
    (arg,) = case.differentiable_args
    wrong = TieCountInDtype(torch_engine)
    # Reverse mode only: torch's own forward rule fails at these ties (findings/torch-amax-jvp-float16-ties).
    vjp = {"directions": ["vjp"]}
    assert check_at_scale(case, arg, torch_engine, "float16", 100_000, inputs="equal", **vjp).status == PASS
    assert check_at_scale(case, arg, wrong, "float16", 100_000, **vjp).status == PASS
    verdict = check_at_scale(case, arg, wrong, "float16", 100_000, inputs="equal", **vjp)
    assert verdict.status == FAIL, verdict.message
    assert "inputs='equal'" in verdict.reproduction


def test_an_engine_without_forward_mode_is_probed_by_vjps_only(torch_engine: object) -> None:
    class ReverseOnly:
        name, xp, forward_mode = "reverse-only", torch_engine.xp, False
        vjp = staticmethod(torch_engine.vjp)

        def jvp(self, *args: object) -> None:
            raise AssertionError("a scale check called the JVP of an engine without forward mode")

    verdict = check_at_scale("elementwise.mul", "x", ReverseOnly(), "float32", 1000)
    assert verdict.status == PASS, verdict.message
    assert {p["direction"] for p in verdict.evidence["scale"]["probes"]} == {"vjp"}
    assert "no forward mode" in verdict.evidence["scale"]["directions_dropped"]["jvp"]


def test_a_direction_a_correct_engine_overflows_in_is_dropped_saying_so(torch_engine: object) -> None:
    """z·Σx at 10⁵ equal float16 x: the JVP's terms Σ|z·v| pass float16's range, so it is dropped, saying so; the
    VJP of x is judged, and z's gradient (Σx = inf in any engine) is no business of this check."""
    verdict = check_at_scale("reduction.sum_scaled", "x", torch_engine, "float16", 100_000, inputs="equal")
    assert verdict.status == PASS, verdict.message
    assert list(verdict.evidence["scale"]["directions_dropped"]) == ["jvp"]
    assert "beyond float16's largest value" in verdict.evidence["scale"]["directions_dropped"]["jvp"]
    probes = verdict.evidence["scale"]["probes"]
    assert {p["direction"] for p in probes if p["direction"] != "value"} == {"vjp"}
    # Its value z·Σx is inf in torch and in a correct engine alike (the program overflows): no finding.
    assert [p["passed"] for p in probes if p["direction"] == "value"] == [True]
    skipped = check_at_scale("losses.mlp_relu", "W1", torch_engine, "float16", 100_000)
    assert skipped.status == SKIP and "vjp: the closed form's terms" in skipped.message  # nothing left to probe


def test_an_engine_raising_on_a_low_precision_dtype_is_a_skip_as_in_the_suite(torch_engine: object) -> None:
    class NoBfloat16:
        name, xp = "no-bfloat16", torch_engine.xp

        def vjp(self, fn: object, primals: tuple, cotangent: object) -> tuple:
            if str(primals[0].dtype) == "bfloat16":
                raise TypeError(f"cannot hold {primals[0].dtype}")
            return torch_engine.vjp(fn, primals, cotangent)

        def jvp(self, fn: object, primals: tuple, tangents: tuple) -> object:
            if str(primals[0].dtype) == "bfloat16":
                raise TypeError(f"cannot hold {primals[0].dtype}")
            return torch_engine.jvp(fn, primals, tangents)

    class Raises(NoBfloat16):
        name = "raises"

        def vjp(self, fn: object, primals: tuple, cotangent: object) -> tuple:
            raise TypeError(f"cannot hold {primals[0].dtype}")

        jvp = vjp

    verdict = check_at_scale("elementwise.mul", "x", NoBfloat16(), "bfloat16", 1000)
    assert verdict.status == SKIP and "does not support bfloat16" in verdict.message
    assert check_at_scale("elementwise.mul", "x", NoBfloat16(), "float32", 1000).status == PASS
    # An engine that raises in float32 too does not lack the format: a failure, in bfloat16 as in float32.
    raising = check_at_scale("elementwise.mul", "x", Raises(), "bfloat16", 1000)
    assert raising.status == FAIL and "in float32 too" in raising.message, raising.message
    assert check_at_scale("elementwise.mul", "x", Raises(), "float32", 1000).status == FAIL


class _FlushesFloat16:
    """torch, except that float16 gradients below float16's smallest normal number come back 0 (flush to zero)."""

    def __init__(self, inner: object) -> None:
        self.inner, self.name, self.xp = inner, "flushes-float16", inner.xp

    def vjp(self, fn: object, primals: tuple, cotangent: object) -> tuple:
        tiny = np.finfo(np.float16).tiny
        return tuple(np.where(np.abs(g) < tiny, np.zeros_like(g), g) for g in self.inner.vjp(fn, primals, cotangent))

    def jvp(self, fn: object, primals: tuple, tangents: tuple) -> object:
        return self.inner.jvp(fn, primals, tangents)


def test_a_mean_share_flushed_to_zero_in_float16_is_caught(torch_engine: object) -> None:
    """1/n at n = 10⁵ is a float16 subnormal, which float16's gradual underflow keeps: a share is one rounding from
    exact, so 0 is no rounding of it (mygrad's mean, findings/mygrad-mean-float16); torch keeps it and passes."""
    flushed = check_at_scale("reduce.mean_all", "X", _FlushesFloat16(torch_engine), "float16", 100_000)
    assert flushed.status == FAIL and flushed.diagnosis["kind"] == "vanished", flushed.message
    assert check_at_scale("reduce.mean_all", "X", torch_engine, "float16", 100_000).status == PASS
    assert get_case("reduce.mean_all").partials["X"].share and not get_case("reduce.sum_all").partials["X"].share
