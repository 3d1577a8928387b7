"""Structure-aware checks at scale (verigrad.scale): correct engines pass, single wrong entries fail.

Sizes are 10⁵ so the whole file runs in seconds; the seeds are hypothesis's.
No timing assertions: benchmarks/ measures time and memory.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutant_table import SCALE_VALUE_MUTANTS
from tie_split import TieSplit

from verigrad.records import FAIL, PASS, SKIP
from verigrad.reference import get_case
from verigrad.scale import (
    DegradedEngine,
    SingleEntryEngine,
    check_at_scale,
    check_values,
    draw_inputs,
    round_to_bfloat16,
    run_scale,
    scale_cases,
    scale_plan,
    scale_sizes,
)

N = 100_000
SEEDS = st.integers(0, 2**32 - 1)
FEW = settings(max_examples=2, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def engines() -> dict[str, object]:
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    from verigrad.oracles import load_engine

    return {"jax": load_engine("jax"), "torch": load_engine("torch")}


# ------------------------------------------------------------- correct engines


CORRECT = [
    ("elementwise.mul", "x"),
    ("vector.identity", "x"),
    ("scalar_expansion.mul", "z"),
    ("reduction.dot", "w"),
    ("loss.relu_mse", "w"),
    ("loss.relu_mse", "X"),
]


@pytest.mark.parametrize("engine_name", ["jax", "torch"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("case", "arg"), CORRECT, ids=[f"{c}-{a}" for c, a in CORRECT])
@pytest.mark.verigrad_cover("case", rotate="engine_name")  # default run: each case, the engines in turn
@FEW
@given(seed=SEEDS)
def test_correct_engine_passes(engines, engine_name, dtype, case, arg, seed):
    verdict = check_at_scale(case, arg, engines[engine_name], dtype, N, seed)
    assert verdict.status == PASS, verdict.message
    assert verdict.examples >= 2
    assert 0.0 <= verdict.max_bound_fraction <= 1.0
    assert "guarantee" in verdict.evidence["scale"]


def test_correct_engine_passes_in_worst_mode(engines):
    for name in ("jax", "torch"):
        verdict = check_at_scale("loss.relu_mse", "w", engines[name], "float32", N, 7, "worst")
        assert verdict.status == PASS, verdict.message


def test_dense_case_uses_the_full_jacobian_when_small(engines):
    verdict = check_at_scale("chain.matvec_sin", "x", engines["torch"], "float64", 2000, 5)
    assert verdict.status == PASS, verdict.message
    probes = verdict.evidence["scale"]["probes"]
    m = verdict.evidence["scale"]["jacobian"][0]
    assert sum(p["probe"].startswith("basis") for p in probes) == m
    assert "every Jacobian entry compared on its own" in verdict.evidence["scale"]["guarantee"]


def test_too_large_dense_case_is_skipped(engines):
    # softmax shares both sizes with its output: no size choice keeps its dense closed form linear in n
    verdict = check_at_scale("reduce.softmax", "X", engines["torch"], "float64", 10**6, 0)
    assert verdict.status == SKIP
    assert "dense Jacobian" in verdict.message


# ---------------------------------------------------------------- wrong engines


@pytest.mark.parametrize("engine_name", ["jax", "torch"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=2, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(seed=SEEDS, i=st.integers(0, N - 1), j=st.integers(0, N - 1))
def test_single_off_diagonal_entry_is_caught(engines, engine_name, dtype, seed, i, j):
    if i == j:
        j = (i + 1) % N
    # y = w ⊗ x has a diagonal Jacobian; the mutant adds J[i, j] = 1e-3 (|diagonal| ≤ 8).
    wrong = SingleEntryEngine(engines[engine_name], 1, i, j, absolute=1e-3)
    verdict = check_at_scale("elementwise.mul", "x", wrong, dtype, N, seed, directions=("vjp",))
    assert verdict.status == FAIL, "an off-diagonal entry of 1e-3 went unnoticed"
    assert verdict.diagnosis["index"] == [j]
    # Forward mode sees the same entry in row i.
    verdict = check_at_scale("elementwise.mul", "x", wrong, dtype, N, seed, directions=("jvp",))
    assert verdict.status == FAIL
    assert verdict.diagnosis["index"] == [i]


def test_off_diagonal_leak_into_the_identity_is_caught(engines):
    wrong = SingleEntryEngine(engines["torch"], 0, 12, 34, absolute=1e-12)
    verdict = check_at_scale("vector.identity", "x", wrong, "float64", N, 0)
    assert verdict.status == FAIL
    assert verdict.diagnosis["index"] == [34]


CASES_FOR_DELTA = [
    ("elementwise.mul", "x", 1, "diagonal"),
    ("scalar_expansion.mul", "x", 0, "diagonal"),
    ("reduction.dot", "w", 0, "row"),
    ("scalar_expansion.mul", "z", 1, "column"),
]


@pytest.mark.parametrize(("case", "arg", "index", "kind"), CASES_FOR_DELTA, ids=[f"{c}-{a}" for c, a, _, _ in CASES_FOR_DELTA])
@settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(seed=SEEDS, position=st.integers(0, N - 1))
def test_single_entry_relative_delta_1e6_is_caught_in_float64(engines, case, arg, index, kind, seed, position):
    # One Jacobian entry J_ij scaled by (1 + 1e-6), everything else exact.
    i, j = {"diagonal": (position, position), "row": (0, position), "column": (position, 0)}[kind]
    values = draw_inputs(get_case(case), "float64", scale_sizes(get_case(case), N), np.random.default_rng(seed))
    entry = {"elementwise.mul": lambda: values["w"][j], "scalar_expansion.mul": lambda: values["z"] if arg == "x" else values["x"][i],
             "reduction.dot": lambda: values["x"][j]}[case]()
    if abs(float(entry)) < 1e-3:  # a (near-)zero entry changes by (almost) nothing
        return
    wrong = SingleEntryEngine(engines["torch"], index, i, j, delta=1e-6)
    verdict = check_values(case, arg, wrong, values, rng=seed)
    assert verdict.status == FAIL, f"δ = 1e-6 at ({i}, {j}) went unnoticed"
    assert verdict.diagnosis["kind"] == "precision"


def test_dense_single_entry_delta_is_caught(engines):
    rng = np.random.default_rng(11)
    n, m = 300, 20
    values = {"W": rng.uniform(-1, 1, (m, n)) / np.sqrt(n), "x": rng.uniform(-1, 1, n)}
    for full in (64, 0):  # the full Jacobian, then random sign probes only
        assert check_values("chain.matvec_sin", "x", engines["torch"], values, full_jacobian_calls=full).status == PASS
        wrong = SingleEntryEngine(engines["torch"], 1, 7, 123, delta=1e-6)
        verdict = check_values("chain.matvec_sin", "x", wrong, values, full_jacobian_calls=full)
        assert verdict.status == FAIL


def test_wrong_kink_share_is_still_a_subgradient():
    """At scale the kink share is fitted per kink variable; shares outside [0, 1] are errors."""
    from verigrad.compare import fit_shares

    r0 = np.zeros(4)
    d1, d2 = np.array([1.0, 0, 0, 0]), np.array([0, 0, -2.0, 0])
    reference, shares = fit_shares(r0 + d1 + 0 * d2, r0, [d1, d2])
    assert shares == pytest.approx([1.0, 0.0])
    np.testing.assert_allclose(reference, d1)
    reference, shares = fit_shares(r0 + 3 * d1, r0, [d1, d2])
    assert shares[0] == pytest.approx(3.0)
    np.testing.assert_allclose(reference, d1)  # clipped to the subdifferential


# ------------------------------------------------------- tolerance modes, degradation


def test_degraded_engine_fails_probabilistic_but_passes_worst_case(engines):
    """ReLU-MSE ∂C/∂w in float32 at N × n = 10⁶ from bfloat16-rounded inputs (~4e-3 relative per term).

    The worst-case bound (k·u, k ≈ 2000) is loose enough to let it through; the
    probabilistic bound (λ√k·u) flags it: the point of the default mode.
    """
    degraded = DegradedEngine(engines["torch"], "bfloat16")
    worst = check_at_scale("loss.relu_mse", "w", degraded, "float32", 10**6, 1, "worst", directions=("vjp",))
    probabilistic = check_at_scale("loss.relu_mse", "w", degraded, "float32", 10**6, 1, "probabilistic", directions=("vjp",))
    assert worst.status == PASS, worst.message
    assert probabilistic.status == FAIL
    correct = check_at_scale("loss.relu_mse", "w", engines["torch"], "float32", 10**6, 1, "probabilistic", directions=("vjp",))
    assert correct.status == PASS, correct.message


# ------------------------------------------------------------------ plumbing


def test_scale_sizes():
    assert scale_sizes(get_case("loss.relu_mse"), 10**6) == {"N": 1000, "n": 1000}
    assert scale_sizes(get_case("elementwise.mul"), 10**6) == {"n": 10**6}
    sizes = scale_sizes(get_case("chain.matvec_sin"), 10**4)
    assert sizes["m"] != sizes["n"]
    assert scale_sizes(get_case("scalar.sum"), 10) == {}


@settings(max_examples=10, deadline=None, database=None)
@given(seed=SEEDS)
def test_inputs_depend_only_on_the_seed(seed):
    case = get_case("elementwise.div")
    a = draw_inputs(case, "float32", {"n": 100}, np.random.default_rng(seed))
    state = np.random.get_state()
    np.random.seed(0)
    b = draw_inputs(case, "float32", {"n": 100}, np.random.default_rng(seed))
    np.random.set_state(state)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
        assert a[name].dtype == np.float32
    assert np.all(np.abs(a["x"]) >= 0.125)


def test_bfloat16_rounding():
    # bfloat16 keeps 8 significant bits: the spacing at 1 is 2⁻⁷.
    x = np.array([1.0, 1.0 + 2**-8, 1.0 + 2**-7 + 2**-9, 1.0 + 2**-7 + 2**-8 + 2**-10, 3.14159], dtype=np.float32)
    rounded = round_to_bfloat16(x)
    assert rounded.dtype == np.float32
    np.testing.assert_array_equal(rounded[:4], [1.0, 1.0, 1.0 + 2**-7, 1.0 + 2**-6])  # 1 + 2⁻⁸ is a tie: to even
    assert abs(rounded[4] - 3.14159) <= 2**-9 * 3.14159
    np.testing.assert_array_equal(round_to_bfloat16(rounded), rounded)


def test_plan_and_run(engines):
    assert {c.id for c in scale_cases("loss.*")} == {"loss.relu_mse", "loss.gd_step"}
    plan = scale_plan(["torch"], ["float64"], "elementwise.add,reduction.sum")
    assert plan == [("elementwise.add", "w", "torch", "float64", {}, "uniform"), ("elementwise.add", "x", "torch", "float64", {}, "uniform"),
                    ("reduction.sum", "x", "torch", "float64", {}, "uniform"), ("reduction.sum", "x", "torch", "float64", {}, "equal")]
    verdicts = list(run_scale({"torch": engines["torch"]}, 1000, 3, dtypes=["float64"], case_pattern="reduction.sum"))
    assert [v.status for v in verdicts] == [PASS, PASS]
    assert verdicts[1].check_id.endswith("-equal]") and verdicts[1].counterexample["input_pattern"] == "equal"
    assert verdicts[0].property == "scale"
    assert verdicts[0].counterexample["seed"] == 3
    assert "check_at_scale" in verdicts[0].reproduction
    verdicts[0].to_json()  # JSON-serializable for the records file


def test_engine_contract_violations_become_verdicts(engines):
    class Broken:
        name = "broken"
        xp = engines["torch"].xp

        def vjp(self, fn, primals, cotangent):
            return tuple(np.zeros(3) for _ in primals)

        def jvp(self, fn, primals, tangents):
            raise RuntimeError("no forward mode")

    verdict = check_at_scale("elementwise.mul", "x", Broken(), "float64", 1000, 0)
    assert verdict.status == FAIL
    assert verdict.diagnosis["kind"] == "wrong_shape"
    verdict = check_at_scale("elementwise.mul", "x", Broken(), "float64", 1000, 0, directions=("jvp",))
    assert verdict.diagnosis["kind"] == "engine_raised"


def test_bound_primals_follow_the_namespace_not_the_engine_id():
    """A recycled id() must never hand one engine's namespace to another (jax's jnp to torch)."""
    from types import SimpleNamespace

    from verigrad.runner import FUNCTIONS

    case = get_case("reduction.sum")
    calls = []
    first = SimpleNamespace(sum=lambda x: calls.append("first") or 1.0)
    second = SimpleNamespace(sum=lambda x: calls.append("second") or 2.0)
    assert FUNCTIONS.get(case, SimpleNamespace(xp=first), {})(np.ones(2)) == 1.0
    assert FUNCTIONS.get(case, SimpleNamespace(xp=second), {})(np.ones(2)) == 2.0
    assert FUNCTIONS.get(case, SimpleNamespace(xp=first), {}) is FUNCTIONS.get(case, SimpleNamespace(xp=first), {})
    assert calls == ["first", "second"]


#: Arguments whose domain is not the real line: (case, argument, what every drawn value must satisfy).
DOMAIN_ARGS = {
    "positive": ("unary.sqrt", "x", lambda values, sizes: bool(np.all(values > 0))),
    "label": ("losses.softmax_xent", "labels", lambda values, sizes: values.dtype.kind == "i" and bool(np.all((values >= 0) & (values < max(sizes.values()))))),
}


@pytest.mark.parametrize("name", list(DOMAIN_ARGS))
def test_scale_inputs_respect_the_argument_domain(name: str) -> None:
    case_id, arg, holds = DOMAIN_ARGS[name]
    case = get_case(case_id)
    sizes = scale_sizes(case, 1000)
    values = draw_inputs(case, np.float16, sizes, np.random.default_rng(0))
    assert holds(values[arg], sizes), values[arg][:10]


@pytest.mark.parametrize(("mass", "status"), [(1.0, PASS), (2.0, FAIL)], ids=["even-split", "mass-2"])
def test_scale_max_over_float16_ties_takes_any_member_of_the_simplex(mass: float, status: str) -> None:
    # 10^5 float16 values in ±8 tie at their maximum (seed 1: 5 ways); the closed form's own pick is one tie.
    verdict = check_at_scale("reduce.max_all", "X", TieSplit(mass), "float16", n=100_000, seed=1)
    assert verdict.status == status, verdict.message


def test_shares_go_to_the_variables_nearest_their_kink_and_the_rest_by_side() -> None:
    from verigrad.scale import MAX_KINK_SHARES, _share_chunks

    z = np.array([0.0, 0.0, -0.5, 0.4, 0.01, -0.02, 0.3, -0.3, 0.2, 0.25, 0.0, 0.1])
    chunks = _share_chunks(np.arange(z.size), z, np.ones(z.size))
    assert len(chunks) <= MAX_KINK_SHARES and sorted(np.concatenate(chunks).tolist()) == list(range(z.size))
    assert [4] in [c.tolist() for c in chunks] and [5] in [c.tolist() for c in chunks]  # the likeliest to flip
    assert [0, 1, 10] in [c.tolist() for c in chunks]  # exact zeros: one convention, one share


def test_scale_skips_a_size_whose_terms_overflow_the_dtype() -> None:
    # float16 MLP at n = 10^5: squared errors reach 2e9, so a correct float16 engine gives inf too.
    verdict = check_at_scale("losses.mlp_relu", "W1", type("Unused", (), {"name": "unused"})(), "float16", n=100_000, seed=1)
    assert verdict.status == SKIP and "largest value 65504" in verdict.message, verdict.message


# ------------------------------------------------------------ the value probe (equal inputs)


@pytest.mark.parametrize("name", list(SCALE_VALUE_MUTANTS))
def test_a_forward_value_that_overflows_where_a_correct_engine_stays_finite_is_caught(engines, name: str) -> None:
    mutant, arguments, kind, check = SCALE_VALUE_MUTANTS[name]
    verdict = check_at_scale(engine=mutant(engines["torch"], **arguments), **check)
    assert verdict.status == FAIL and verdict.diagnosis["kind"] == kind, verdict.message
    assert "a correct float16 engine's is" in verdict.message
    correct = check_at_scale(engine=engines["torch"], **check)
    assert correct.status == PASS and correct.evidence["scale"]["probes"][-1]["direction"] == "value", correct.message


def test_the_value_probe_runs_at_equal_inputs_only(engines) -> None:
    from verigrad.oracles.mutants import ForwardOverflows

    uniform = check_at_scale("reduce.mean_all", "X", ForwardOverflows(engines["torch"], limit=100), "float16", n=1000, seed=1)
    assert uniform.status == PASS and all(p["direction"] != "value" for p in uniform.evidence["scale"]["probes"])


def test_the_correct_engine_model_rounds_each_primitive_once() -> None:
    """A float16 mean of 70,000 ones is 1 (one primitive); their sum is inf (the program overflows: no finding)."""
    from verigrad.oracles.fd import FiniteDifferences
    from verigrad.scale import _RoundedPrimitives

    xp = _RoundedPrimitives(FiniteDifferences.xp, np.dtype(np.float16))
    ones = np.ones(70_000)
    assert xp.mean(ones) == 1.0 and xp.logsumexp(ones) == np.float16(1 + np.log(70_000))
    assert np.isinf(xp.sum(ones)) and np.isinf(xp.log(xp.sum(xp.exp(ones))))


def test_an_engine_whose_evaluate_raises_fails_as_engine_raised(engines) -> None:
    from verigrad.oracles.mutants import MutantEngine

    class EvaluateRaises(MutantEngine):
        label = "evaluate-raises"

        def evaluate(self, fn, primals):
            raise RuntimeError("no forward here")

    # float32: in float16 an engine that raises is taken not to support the dtype (a skip, as in the suite).
    verdict = check_at_scale("reduce.mean_all", "X", EvaluateRaises(engines["torch"]), "float32", n=1000, seed=1,
                             inputs="equal")
    assert verdict.status == FAIL and verdict.diagnosis["kind"] == "engine_raised", verdict.message
    assert "mutant-evaluate-raises.evaluate raised RuntimeError: no forward here" in verdict.message


# ------------------------------------------------------------ the translation law (an all-ones JVP)


@pytest.mark.parametrize("case", ["reduce.max_all", "reduce.mean_all", "reduce.logsumexp"])
def test_a_forward_rule_that_sums_its_tangents_in_the_format_is_caught_by_the_translation_law(engines, case: str) -> None:
    """Random-sign tangents cancel and every other JVP probe of a 10⁵-element float16 row is screened out; the
    law J·1 = 1 holds under every convention, and the ones' sum in float16 is inf."""
    from verigrad.oracles.mutants import SumsTangentsInFormat

    mutant = check_at_scale(case, "X", SumsTangentsInFormat(engines["torch"]), "float16", n=100_000, seed=1)
    assert mutant.status == FAIL and mutant.diagnosis["kind"] == "non_finite", mutant.message
    assert "translation law" in mutant.message
    correct = check_at_scale(case, "X", engines["jax"], "float16", n=100_000, seed=1)
    assert correct.status == PASS, correct.message
    assert any(p["probe"] == "ones (translation law)" for p in correct.evidence["scale"]["probes"])


def test_the_translation_law_is_probed_only_where_the_case_declares_it(engines) -> None:
    verdict = check_at_scale("reduce.sum_all", "X", engines["jax"], "float32", n=1000, seed=1)
    assert verdict.status == PASS and all(p["probe"] != "ones (translation law)" for p in verdict.evidence["scale"]["probes"])
