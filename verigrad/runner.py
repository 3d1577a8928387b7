"""Running checks: the plan (which checks exist), and hypothesis driving each one to a verdict."""

from __future__ import annotations

import fnmatch
import secrets
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Flaky

from verigrad import exhibits
from verigrad import strategies as vs
from verigrad.calls import CheckTimeout, time_limit
from verigrad.checks import PROPERTIES, Outcome, Target
from verigrad.compare import DISTRIBUTION_SAMPLES as DISTRIBUTION_SAMPLES  # re-exported
from verigrad.compare import (
    check_id,
    failed_verdict,
    new_verdict,
    record_failure,
    summarize,
    timed_out,
    unsupported,
)
from verigrad.compare import supports as supports  # re-exported
from verigrad.diagnosis import Diagnosis
from verigrad.dtypes import DEFAULT_DTYPES, as_dtype
from verigrad.records import PASS, Verdict
from verigrad.reference import CASES, Case, get_case
from verigrad.tolerance import PROBABILISTIC

#: Hypothesis profiles: ``dev`` is quick and random (a new seed each run); ``ci`` is
#: deterministic (one fixed seed: the same examples every run) and draws more.
PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"max_examples": 5, "seed": None},
    "ci": {"max_examples": 40, "seed": 0},
}
DTYPES = DEFAULT_DTYPES
#: Appended to the message of a failure reported as drawn (``shrink=False``, ``--no-shrink``).
NOT_SHRUNK = " (the first failing example as drawn: not shrunk, as asked)"
NOT_RECURRED = " (not shrunk: it did not recur when this engine was re-run alone)"
T = TypeVar("T")


@dataclass(frozen=True)
class CheckSpec:
    """One check: a property on a case's argument (or argument pair) for one engine and dtype."""

    property: str
    case: str
    arg: str | None
    pair: tuple[str, str] | None
    engine: str
    dtype: str

    @property
    def subject(self) -> str:
        if self.pair:
            return "+".join(self.pair)
        return self.arg or "all"

    @property
    def id(self) -> str:
        return check_id(self.property, self.case, self.subject, self.engine, self.dtype)


def plan(
    engines: Iterable[str],
    dtypes: Iterable[str] = DTYPES,
    cases: Iterable[Case] = CASES,
    properties: Iterable[str] | None = None,
    case_pattern: str | None = None,
) -> list[CheckSpec]:
    """Every check for these engines, dtypes, cases and properties, in a stable order."""
    chosen_properties = list(properties or PROPERTIES)
    unknown = [p for p in chosen_properties if p not in PROPERTIES]
    if unknown:
        raise ValueError(f"unknown properties {unknown}; known: {', '.join(PROPERTIES)}")
    specs = []
    for case in cases:
        if case_pattern and not any(fnmatch.fnmatchcase(case.id, pat.strip()) for pat in case_pattern.split(",")):
            continue
        for name in chosen_properties:
            prop = PROPERTIES[name]
            subjects: list[tuple[str | None, tuple[str, str] | None]]
            if prop.scope == "arg":
                subjects = [(arg, None) for arg in case.differentiable_args if prop.applies(case, arg)]
            elif prop.scope == "pair":
                subjects = [(None, pair) for pair in case.aliasable_pairs()]
            else:
                subjects = [(None, None)] if prop.applies(case, None) else []
            for engine in engines:
                for dtype in dtypes:
                    specs.extend(CheckSpec(name, case.id, arg, pair, engine, dtype) for arg, pair in subjects)
    return specs


def shard(items: list[T], index: int, count: int) -> list[T]:
    """The ``index``-th (1-based) of ``count`` interleaved shards of checks (or groups): balanced across cases."""
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: need 1 <= i <= k")
    return items[index - 1 :: count]


class _Falsified(Exception):
    def __init__(self, outcome: Outcome, example: vs.Example) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome
        self.example = example


class FunctionCache:
    """One bound primal per (case, namespace, params), so engines can cache compiled code by its identity.

    Keyed by the engine's namespace, not the engine: wrappers (mutants) share their
    base's namespace and so its compiled code.  Entries hold their namespace, so a
    recycled id() never returns another namespace's function.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], tuple[Any, Callable[..., Any]]] = {}

    def get(self, case: Case, engine: Any, params: Mapping[str, Any]) -> Callable[..., Any]:
        key = (case.id, id(engine.xp), tuple(sorted(params.items())))
        entry = self._cache.get(key)
        if entry is None or entry[0] is not engine.xp:
            entry = self._cache[key] = (engine.xp, case.bind(engine.xp, **params))
        return entry[1]


FUNCTIONS = FunctionCache()


@dataclass
class _Member:
    """One engine's share of a hypothesis run: its spec, outcomes, and failure if any."""

    spec: CheckSpec
    engine: Any
    budget: float | None = None  # seconds left for its checks, when engines share a run
    outcomes: list[Outcome] = field(default_factory=list)
    failure: tuple[Outcome, vs.Example] | None = None
    timed_out: CheckTimeout | None = None
    seconds: float = 0.0

    @property
    def active(self) -> bool:
        return self.failure is None and self.timed_out is None


def _hypothesis_run(
    members: list[_Member], profile: str, seed: int | None, max_examples: int | None, mode: str, *, stop_at_failure: bool,
    shrink: bool = True,
) -> Callable[[], None]:
    """The hypothesis test that checks every member engine on each drawn example.

    One body serves a single engine (``stop_at_failure``: hypothesis then shrinks
    the failure, unless ``shrink`` is False) and several engines sharing examples (a failing engine drops out
    and the others go on).  A run with a seed draws the same examples either way:
    an engine that failed in a shared run fails at the same example when re-run alone.
    ``seed`` None takes the profile's (None there: hypothesis picks one).
    """
    spec = members[0].spec
    case, prop, dtype = get_case(spec.case), PROPERTIES[spec.property], as_dtype(spec.dtype)

    def body(example: vs.Example) -> None:
        for member in members:
            if not member.active:
                continue
            target = Target(case, spec.arg, member.engine, dtype, mode, FUNCTIONS.get(case, member.engine, example.params), spec.pair)
            started = time.perf_counter()
            try:
                with time_limit(member.budget):
                    outcome = prop.check(target, example)
            except CheckTimeout as error:
                if member.budget is None:  # the limit of the whole run (run_check's): it ends the run
                    raise
                member.timed_out = error
                continue
            finally:
                elapsed = time.perf_counter() - started
                member.seconds += elapsed
                if member.budget is not None:
                    member.budget = max(member.budget - elapsed, 1e-3)
            member.outcomes.append(outcome)
            if not outcome.passed:
                if stop_at_failure:
                    raise _Falsified(outcome, example)
                member.failure = (outcome, example)

    seed = PROFILES[profile]["seed"] if seed is None else seed
    test = settings(
        max_examples=PROFILES[profile]["max_examples"] if max_examples is None else max_examples,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        # No "explain" phase: it re-runs a failing check many times to annotate
        # source lines, which says nothing about an engine's arrays.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, *([Phase.shrink] if shrink else [])],
    )(given(prop.strategy(case, dtype, spec.arg, spec.pair))(body))
    # With no database, hypothesis needs no key; computing it (a hash of the body's
    # cleaned source) cost more than drawing a dev run's examples.
    test._hypothesis_internal_database_key = None
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    return test


def _new_verdict(spec: CheckSpec, mode: str) -> Verdict:
    return new_verdict(spec.property, spec.case, spec.subject, spec.engine, spec.dtype, mode)


def run_check(
    spec: CheckSpec,
    engine: Any,
    profile: str = "dev",
    *,
    seed: int | None = None,
    max_examples: int | None = None,
    timeout: float | None = None,
    mode: str = PROBABILISTIC,
    source: str | None = None,
    shrink: bool = True,
) -> Verdict:
    """Drive one check with hypothesis and return its verdict (never raises for engine faults).

    ``source`` is how the engine was named when loaded (``module:attribute``), for
    the reproduction snippet; it defaults to ``spec.engine``.  ``shrink`` False reports
    the first failing example as drawn (no minimizing: faster, and the message says so).
    """
    verdict = _new_verdict(spec, mode)
    if unsupported(verdict, engine, get_case(spec.case).requires):
        return verdict
    member = _Member(spec, engine)
    test = _hypothesis_run([member], profile, seed, max_examples, mode, stop_at_failure=True, shrink=shrink)
    started = time.perf_counter()
    try:
        with time_limit(timeout):
            test()
    except _Falsified as failure:
        _fail(verdict, failure.outcome, failure.example, spec, source or spec.engine)
        _exhibit(verdict, failure.outcome, failure.example, spec, engine, exhibits.seconds_left(timeout, started))
        if not shrink:
            verdict.message += NOT_SHRUNK
    except CheckTimeout as error:
        timed_out(verdict, error)
    except Flaky as error:
        failing = next((o for o in reversed(member.outcomes) if not o.passed), None)
        diagnosis = Diagnosis("nondeterministic", f"a failure did not reproduce when re-run: {type(error).__name__}")
        failed_verdict(verdict, diagnosis, f"nondeterministic: {diagnosis.summary}" + (f"; first failure: {failing.message}" if failing else ""))
    verdict.seconds = time.perf_counter() - started
    summarize(verdict, member.outcomes)
    return verdict


def crashed(spec: CheckSpec, error: Exception, mode: str = PROBABILISTIC) -> Verdict:
    """A failed ``crashed`` verdict for a check during which verigrad itself raised (its traceback's last frame named)."""
    where = traceback.extract_tb(error.__traceback__)[-1]
    return failed_verdict(_new_verdict(spec, mode), Diagnosis(
        "crashed", f"verigrad raised {type(error).__name__} checking {spec.id}: {error} (at {Path(where.filename).name}:"
                   f"{where.lineno}); a bug of verigrad's, not of {spec.engine}: please report it"))


def group_key(spec: CheckSpec) -> tuple[Any, ...]:
    """Specs with one key are one check on different engines: they can share examples."""
    return (spec.property, spec.case, spec.arg, spec.pair, spec.dtype)


def groups(specs: list[CheckSpec]) -> list[list[CheckSpec]]:
    """``specs`` gathered by :func:`group_key`, in the order each group first appears."""
    by_key: dict[tuple[Any, ...], list[CheckSpec]] = {}
    for spec in specs:
        by_key.setdefault(group_key(spec), []).append(spec)
    return list(by_key.values())


def run_group(
    specs: list[CheckSpec],
    engines: Mapping[str, Any],
    profile: str = "dev",
    *,
    seed: int | None = None,
    max_examples: int | None = None,
    timeout: float | None = None,
    mode: str = PROBABILISTIC,
    sources: Mapping[str, str] | None = None,
    shrink: bool = True,
) -> list[Verdict]:
    """One check on several engines, which share hypothesis's examples; verdicts in ``specs`` order.

    Drawing examples costs about as much as checking one engine on them, so
    engines that share the draws cost less.  A failing engine drops out of the
    shared run and is re-run alone on the same example sequence (same digest,
    same seed), where hypothesis shrinks its failure: its verdict is the one
    :func:`run_check` gives.  Each engine keeps its own ``timeout``.  With ``shrink``
    False a failure is reported at the shared example that found it, with no re-run.
    """
    if len({group_key(s) for s in specs}) != 1:
        raise ValueError("run_group: the specs must differ only in their engine")
    sources = sources or {}
    requires = get_case(specs[0].case).requires
    verdicts = {s.engine: unsupported(_new_verdict(s, mode), engines[s.engine], requires) for s in specs}
    members = [_Member(s, engines[s.engine], timeout) for s in specs if verdicts[s.engine] is None]
    seed = PROFILES[profile]["seed"] if seed is None else seed
    if seed is None:
        # A seed of our own (from OS entropy, as hypothesis's would be), so a re-run alone draws the same examples.
        seed = secrets.randbits(64)
    if members:
        _hypothesis_run(members, profile, seed, max_examples, mode, stop_at_failure=False, shrink=shrink)()
    for member in members:
        spec = member.spec
        source = sources.get(spec.engine, spec.engine)
        if member.failure is not None:
            verdict = run_check(spec, member.engine, profile, seed=seed, max_examples=max_examples,
                                timeout=timeout, mode=mode, source=source) if shrink else None
            if verdict is None or verdict.status == PASS:  # not shrunk, as asked, or the failure did not recur alone
                verdict = _as_found(spec, member, source, mode, NOT_SHRUNK if verdict is None else NOT_RECURRED)
            verdicts[spec.engine] = verdict
            continue
        verdict = _new_verdict(spec, mode)
        if member.timed_out is not None:
            timed_out(verdict, member.timed_out)
        verdict.seconds = member.seconds
        summarize(verdict, member.outcomes)
        verdicts[spec.engine] = verdict
    return [verdicts[s.engine] for s in specs]


def _as_found(spec: CheckSpec, member: _Member, source: str, mode: str, why: str) -> Verdict:
    """The failed verdict of a shared run's member at the example that found its failure, unshrunk (``why`` says so)."""
    verdict = _new_verdict(spec, mode)
    _fail(verdict, *member.failure, spec, source)
    _exhibit(verdict, *member.failure, spec, member.engine, member.budget)
    verdict.message += why
    verdict.seconds = member.seconds
    return summarize(verdict, member.outcomes)


def _fail(verdict: Verdict, outcome: Outcome, example: vs.Example, spec: CheckSpec, source: str) -> None:
    record_failure(verdict, outcome)
    verdict.counterexample = counterexample(example)
    verdict.reproduction = reproduction(spec, example, source)


def _exhibit(verdict: Verdict, outcome: Outcome, example: vs.Example, spec: CheckSpec, engine: Any,
             seconds: float | None) -> None:
    """Store what the report draws of this failure: the Jacobians at the counterexample."""
    case = get_case(spec.case)
    exhibit = exhibits.jacobian_exhibit(
        case, spec.arg, engine, FUNCTIONS.get(case, engine, example.params), example.values, example.params,
        outcome.convention, at_kink=spec.property == "kink", engine_jacobian=(outcome.evidence or {}).get("engine_jacobian"),
        seconds=seconds,
    )
    if exhibit is not None:
        verdict.evidence = {**(verdict.evidence or {}), "jacobian": exhibit}


def _array_literal(array: np.ndarray) -> str:
    return f"np.array({np.asarray(array).tolist()!r}, dtype=np.{np.asarray(array).dtype})"


def counterexample(example: vs.Example) -> dict[str, Any]:
    """The failing example as plain JSON data."""
    return {
        "inputs": {name: np.asarray(v).tolist() for name, v in example.values.items()},
        "dtype": str(next(iter(example.values.values())).dtype),
        "params": example.params,
        "cotangent": np.asarray(example.cotangent).tolist(),
        "tangents": {name: np.asarray(v).tolist() for name, v in example.tangents.items()},
    }


def reproduction(spec: CheckSpec, example: vs.Example, source: str | None = None) -> str:
    """A copy-paste Python snippet that replays the failing call and prints both answers.

    JVP failures replay ``engine.jvp`` with the failing tangent; everything else
    replays ``engine.vjp``.  Aliased operands are one array passed twice.
    """
    case = get_case(spec.case)
    names = case.arg_names
    shared = spec.property == "aliased" and spec.pair is not None
    literals = ["shared" if shared and name in spec.pair else _array_literal(example.values[name]) for name in names]
    params = ", ".join(f"{k}={v!r}" for k, v in example.params.items())
    bind_params = f", {params}" if params else ""
    arg = spec.arg or (spec.pair[0] if spec.pair else case.differentiable_args[0])
    index = names.index(arg)
    lines = [
        "import numpy as np",
        "from verigrad.oracles import load_engine",
        "from verigrad.reference import get_case",
        "from verigrad.truth import reference_jvp, reference_vjp",
        "",
        f"engine = load_engine({source or spec.engine!r})",
        f"case = get_case({spec.case!r})",
        f"fn = case.bind(engine.xp{bind_params})",
    ]
    if shared:
        lines.append(f"shared = {_array_literal(example.values[spec.pair[0]])}  # one array, passed as {' and '.join(spec.pair)}")
    lines.append("primals = (" + "".join(f"\n    {literal}," for literal in literals) + "\n)")
    if spec.property == "jvp":
        tangents = [example.tangents[name] if name == arg else np.zeros_like(example.values[name]) for name in names]
        lines += [
            "tangents = (" + "".join(f"\n    {_array_literal(t)}," for t in tangents) + "\n)",
            "print('engine:   ', engine.jvp(fn, primals, tangents))",
            f"print('reference:', reference_jvp(case, {arg!r}, primals, tangents[{index}]{bind_params}))",
        ]
    elif spec.pair:
        other = spec.pair[1]
        lines += [
            f"cotangent = {_array_literal(example.cotangent)}",
            "gradients = engine.vjp(fn, primals, cotangent)",
            f"print('engine, both partials summed:', gradients[{index}] + gradients[{names.index(other)}])",
            f"print('reference, total derivative: ', reference_vjp(case, {arg!r}, primals, cotangent{bind_params})"
            f" + reference_vjp(case, {other!r}, primals, cotangent{bind_params}))",
        ]
    else:
        lines += [
            f"cotangent = {_array_literal(example.cotangent)}",
            f"print('engine:   ', engine.vjp(fn, primals, cotangent)[{index}])",
            f"print('reference:', reference_vjp(case, {arg!r}, primals, cotangent{bind_params}))",
        ]
    return "\n".join(lines) + "\n"


def run_all(
    specs: list[CheckSpec],
    engines: dict[str, Any],
    profile: str = "dev",
    *,
    seed: int | None = None,
    max_examples: int | None = None,
    timeout: float | None = None,
    mode: str = PROBABILISTIC,
    shrink: bool = True,
) -> Iterator[Verdict]:
    """Verdicts for every spec, in order, as they are decided."""
    for spec in specs:
        yield run_check(spec, engines[spec.engine], profile, seed=seed, max_examples=max_examples, timeout=timeout,
                        mode=mode, shrink=shrink)
