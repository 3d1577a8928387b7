"""Check any function's gradients: ``check_function`` and ``assert_gradients``.

::

    from verigrad import check_function, assert_gradients

    result = check_function(fn, (x,), engine="torch")   # fn written in torch tensors; x a numpy array
    result.passed                                        # bool
    result.verdicts                                      # the Verdict records `verigrad check` writes
    assert_gradients(fn, (x,), engine="torch")           # AssertionError: diagnosis + reproduction

See ``verigrad.function_check`` for the properties and the rounding bound,
``verigrad.function_reference`` for the reference (finite differences of the
float64 forward, a closed-form VJP, or another engine) and the kinks, and
``docs/guide/check-your-functions.md`` for a guide.
"""

from __future__ import annotations

import functools
import inspect
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from verigrad.checks import Outcome
from verigrad.dtypes import as_dtype, is_floating
from verigrad.function_check import (
    FUNCTION_OPS,
    FUNCTION_PROPERTIES,
    FunctionTarget,
    NotDifferentiableHere,
    aliasable_pairs,
    custom_function_class,
    function_name,
    run_property,
    skipped,
)
from verigrad.function_points import Point, boxes
from verigrad.function_reference import (
    FiniteDifferenceReference,
    Forward,
    Reference,
    SummedReference,
    aliased_forward,
    resolve_reference,
)
from verigrad.records import FAIL, RecordsWriter, Verdict
from verigrad.runner import supports
from verigrad.session import load_one
from verigrad.tolerance import MODES, PROBABILISTIC

__all__ = ["FunctionResult", "assert_gradients", "check_function", "failure_report", "replay"]

DEFAULT_DTYPES = ("float64", "float32")
#: Drawn points per property and dtype, after the user's own inputs.
DEFAULT_EXAMPLES = 20
#: Messages with which engines refuse forward mode for a function (a reverse-only custom rule):
#: the JVP properties are then skipped, saying so, instead of failing.
FORWARD_MODE_UNDEFINED = (
    "custom_vjp",  # jax: "can't apply forward-mode autodiff (jvp) to a custom_vjp function."
    "implement the jvp function",  # torch.autograd.Function without a jvp staticmethod
    "forward AD",  # torch: an operation without a forward-mode formula
)


@dataclass
class FunctionResult:
    """What ``check_function`` found: one verdict per property × dtype."""

    verdicts: list[Verdict]
    seed: int

    @property
    def passed(self) -> bool:
        """No verdict failed (skipped ones say why in their message)."""
        return all(v.status != FAIL for v in self.verdicts)

    @property
    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == FAIL]

    def summary(self) -> str:
        """One line per verdict: status, check id, the error as a fraction of the bound, the convention at kinks."""
        lines = []
        for v in self.verdicts:
            detail = v.message if v.status != "pass" else f"{v.max_bound_fraction:.3g}× the bound, {v.max_ulps:.3g} ulps"
            convention = f", convention t = {v.convention:.6g} at kinks" if v.convention is not None else ""
            lines.append(f"{v.status:4}  {v.check_id}: {detail}{convention}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _inputs(inputs: Any) -> tuple[np.ndarray, ...]:
    if isinstance(inputs, np.ndarray) or not isinstance(inputs, Sequence) or isinstance(inputs, str):
        raise TypeError(f"inputs must be a tuple of numpy arrays, one per argument of fn (e.g. (x,)), got {type(inputs).__name__}")
    arrays = []
    for k, value in enumerate(inputs):
        array = np.asarray(value)
        if not np.issubdtype(array.dtype, np.floating):
            raise TypeError(f"inputs[{k}] has dtype {array.dtype}: verigrad differentiates with respect to floating arrays only")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"inputs[{k}] holds NaN or Inf")
        arrays.append(array.astype(np.float64))
    if not arrays:
        raise ValueError("inputs is empty: fn needs at least one array to differentiate")
    return tuple(arrays)


def _engine(engine: Any) -> tuple[Any, str]:
    """An engine object and how to name it in a reproduction."""
    if isinstance(engine, str):
        return load_one(engine)[1], engine
    missing = [name for name in ("name", "vjp", "jvp") if not hasattr(engine, name)]
    if missing:
        raise TypeError(f"engine= takes a name ('torch', 'jax', 'module:attribute') or an engine object; "
                        f"{type(engine).__name__} lacks {', '.join(missing)}")
    return engine, f"{type(engine).__module__}:{type(engine).__qualname__}"


def _names(fn: Callable[..., Any], count: int) -> tuple[str, ...]:
    """Input names from fn's signature where it has one that fits, else x0, x1, ..."""
    owner = custom_function_class(fn)
    signed = owner.forward if owner is not None else fn  # a custom Function's apply: its forward(ctx, ...) names them
    try:
        parameters = [p.name for p in inspect.signature(signed).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "ctx"]
    except (TypeError, ValueError):
        parameters = []
    return tuple(parameters[:count]) if len(parameters) >= count else tuple(f"x{k}" for k in range(count))


def _forward(engine: Any, fn: Callable[..., Any]) -> Forward | None:
    evaluate = getattr(engine, "evaluate", None)
    if evaluate is None:
        return None
    return lambda *xs: evaluate(fn, tuple(np.asarray(x) for x in xs))


def _out_shape(forward: Forward | None, engine: Any, fn: Callable[..., Any], inputs: tuple[np.ndarray, ...]) -> tuple[int, ...]:
    """The output's shape: from the forward where the engine evaluates, else from a JVP with zero tangents."""
    if forward is not None:
        return tuple(np.shape(forward(*inputs)))
    return tuple(np.shape(engine.jvp(fn, inputs, tuple(np.zeros_like(x) for x in inputs))))


def _forward_mode(engine: Any, fn: Callable[..., Any], inputs: tuple[np.ndarray, ...]) -> str | None:
    """None where the engine has a JVP for fn; else why not (its own message)."""
    try:
        engine.jvp(fn, inputs, tuple(np.zeros_like(x) for x in inputs))
    except Exception as error:
        if any(pattern in str(error) for pattern in FORWARD_MODE_UNDEFINED):
            return f"{engine.name} has no forward mode for this function: {type(error).__name__}: {error}"
    return None


def _target(fn: Callable[..., Any], engine: Any, dtype: str, mode: str, reference: Any, inputs: tuple[np.ndarray, ...],
            ops: float) -> FunctionTarget:
    forward = _forward(engine, fn)
    if forward is None and hasattr(reference, "evaluate"):
        forward = _forward(reference, fn)
    out_shape = _out_shape(forward, engine, fn, inputs)
    base: Reference = resolve_reference(reference, fn, forward, lambda primals: out_shape)

    def aliased(first: int, second: int) -> Reference:
        if isinstance(base, FiniteDifferenceReference):
            return FiniteDifferenceReference(aliased_forward(base.forward, first, second))
        return SummedReference(base, first, second)

    return FunctionTarget(fn, engine, as_dtype(dtype), mode, base, forward, _names(fn, len(inputs)), out_shape, ops,
                          aliased_reference=aliased)


def _properties(properties: Iterable[str] | None) -> list[str]:
    chosen = list(properties) if properties is not None else [p for p in FUNCTION_PROPERTIES if p not in ON_REQUEST]
    unknown = [p for p in chosen if p not in FUNCTION_PROPERTIES]
    if unknown:
        raise ValueError(f"unknown properties {unknown}; known: {', '.join(FUNCTION_PROPERTIES)}")
    return chosen


def _dtypes(dtypes: Iterable[str] | str) -> list[str]:
    chosen = [dtypes] if isinstance(dtypes, str) else [str(as_dtype(d)) for d in dtypes]
    bad = [d for d in chosen if not is_floating(d)]
    if bad or not chosen:
        raise ValueError(f"dtypes= takes floating dtype names such as 'float64', 'float32', 'float16', 'bfloat16', got {dtypes!r}")
    return chosen


def check_function(
    fn: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    engine: Any = "torch",
    *,
    reference: Any = None,
    dtypes: Iterable[str] | str = DEFAULT_DTYPES,
    examples: int = DEFAULT_EXAMPLES,
    seed: int | None = None,
    properties: Iterable[str] | None = None,
    mode: str = PROBABILISTIC,
    domain: Any = None,
    report: str | Path | None = None,
    records: str | Path | None = None,
    ops: float = FUNCTION_OPS,
) -> FunctionResult:
    """Check the derivatives of ``fn`` (written in ``engine``'s arrays) at ``inputs`` and at drawn points near them.

    ``reference``: None (finite differences of fn's float64 forward, which needs
    ``engine.evaluate``), a numpy closed-form VJP ``reference(cotangent, *inputs)
    -> tuple`` (one float64 array per input), or an engine name / object whose
    derivative of the same fn is the reference.  ``dtypes``: the precisions the
    engine is checked in (float64, float32, float16, bfloat16).  ``examples``: drawn points per property and dtype
    (after the user's inputs).  ``seed``: hypothesis's (None: a random one, kept
    in the result).  ``properties``: names from ``FUNCTION_PROPERTIES`` (default
    all).  ``mode``: "probabilistic" or "worst" bound.  ``domain``: (low, high)
    for every input, or one per input (None: near the user's values).
    ``report``: write the HTML report there.  ``records``: write the JSON-lines
    records there.  ``ops``: roundings assumed per Jacobian entry.
    """
    arrays = _inputs(inputs)
    engine_object, source = _engine(engine)
    if mode not in MODES:
        raise ValueError(f"mode= takes one of {MODES}, got {mode!r}")
    if examples < 0:
        raise ValueError(f"examples= must be >= 0, got {examples}")
    chosen, dtype_names, domains = _properties(properties), _dtypes(dtypes), boxes(domain, len(arrays))
    seed = secrets.randbits(32) if seed is None else int(seed)
    name, engine_name = function_name(fn), str(engine_object.name)
    no_forward = _forward_mode(engine_object, fn, arrays)  # one JVP call: whether the engine has a forward mode for fn
    verdicts = []
    for dtype in dtype_names:
        if not supports(engine_object, dtype):
            verdicts += [skipped(p, name, engine_name, dtype, f"{engine_name} does not support {dtype}", mode) for p in chosen]
            continue
        target = _target(fn, engine_object, dtype, mode, reference, arrays, ops)
        target.forward_mode = no_forward is None
        if target.forward is not None and not np.all(np.isfinite(target.forward(*arrays))):
            raise ValueError(f"{name} is not finite at the given inputs (in float64): give inputs inside its domain")
        for prop in chosen:
            reason = _skip_reason(prop, no_forward, arrays, engine_object, target.out_shape)
            if reason:
                verdicts.append(skipped(prop, name, engine_name, dtype, reason, mode))
                continue
            repro = functools.partial(_reproduce, fn, source, reference, target.names, mode, ops)
            verdicts.append(run_property(target, FUNCTION_PROPERTIES[prop], arrays, domains, examples, seed, repro))
    result = FunctionResult(verdicts, seed)
    _write(result, name, source, mode, examples, records, report)
    return result


#: Properties run only where asked for (the rest run by default).
ON_REQUEST = ("hvp",)


def _skip_reason(prop: str, no_forward: str | None, inputs: tuple[np.ndarray, ...], engine: Any,
                 out_shape: tuple[int, ...]) -> str | None:
    if FUNCTION_PROPERTIES[prop].forward_mode and no_forward:
        return no_forward
    if prop == "hvp" and not hasattr(engine, "hvp"):
        return f"{engine.name} has no hvp() method"
    if prop == "hvp" and int(np.prod(out_shape, dtype=np.int64)) != 1:
        return f"hvp needs a scalar output; this function's has shape {out_shape}"
    if prop == "aliased" and not aliasable_pairs(inputs):
        return "no two inputs have one shape, so no array can be passed as both"
    return None


def _write(result: FunctionResult, name: str, source: str, mode: str, examples: int,
           records: str | Path | None, report: str | Path | None) -> None:
    header = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "command": f"check_function({name})",
              "engines": sorted({v.engine for v in result.verdicts}), "engine_sources": {source: source},
              "seed": result.seed, "mode": mode, "examples": examples, "checks": len(result.verdicts)}
    if records is not None:
        with RecordsWriter(records) as writer:
            writer.write_header(header)
            for verdict in result.verdicts:
                writer.write(verdict)
    if report is not None:
        from verigrad.report import write_report  # jinja and the renderer: only when a report is asked for

        write_report([header], result.verdicts, report)


def assert_gradients(fn: Callable[..., Any], inputs: Sequence[np.ndarray], engine: Any = "torch", **options: Any) -> FunctionResult:
    """:func:`check_function`, raising AssertionError with each failure's diagnosis and a copy-paste reproduction."""
    result = check_function(fn, inputs, engine, **options)
    if not result.passed:
        raise AssertionError(failure_report(result, fn))
    return result


def failure_report(result: FunctionResult, fn: Callable[..., Any]) -> str:
    """Every failed verdict: its diagnosis, its minimal counterexample and a copy-paste reproduction."""
    parts = [f"{len(result.failures)} of {len(result.verdicts)} gradient checks of {function_name(fn)} failed (seed {result.seed}):"]
    for verdict in result.failures:
        parts.append(f"\n{verdict.check_id}\n  {verdict.message}")
        if verdict.counterexample:
            parts.append(f"  counterexample: {verdict.counterexample['inputs']} ({verdict.counterexample['pattern']})")
        if verdict.reproduction:
            parts.append("  reproduction:\n" + "\n".join(f"    {line}" for line in verdict.reproduction.splitlines()))
    return "\n".join(parts)


# ------------------------------------------------------------- reproduction


def _import_line(obj: Any, alias: str) -> str:
    """``from module import name as alias`` for an importable object, else a line saying to define it."""
    owner = custom_function_class(obj) if callable(obj) else None
    holder = owner if owner is not None else obj
    module, qualname = getattr(holder, "__module__", None), getattr(holder, "__qualname__", None)
    if qualname and qualname.startswith("_") and getattr(obj, "__name__", None):  # a builtin: torch.log
        qualname = obj.__name__
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return f"{alias} = ...  # define {function_name(obj) if callable(obj) else alias} here, as in your code"
    top, _, rest = qualname.partition(".")
    attribute = f".{rest}" if rest else ""
    suffix = f".{obj.__name__}" if holder is not obj else ""
    return f"from {module} import {top}\n{alias} = {top}{attribute}{suffix}"


def _literal(array: np.ndarray) -> str:
    return f"np.array({np.asarray(array).tolist()!r}, dtype=np.{np.asarray(array).dtype})"


def reproduction(fn: Callable[..., Any], source: str, reference: Any, prop: str, point: Point,
                 names: tuple[str, ...], mode: str, ops: float) -> str:
    """A copy-paste snippet that replays one failing point and prints the engine's and the reference's values."""
    lines = ["import numpy as np", "from verigrad.api import replay", _import_line(fn, "fn")]
    reference_arg = ""
    if isinstance(reference, str):
        reference_arg = f", reference={reference!r}"
    elif reference is not None:
        lines.append(_import_line(reference, "reference"))
        reference_arg = ", reference=reference"
    lines.append("inputs = (" + "".join(f"\n    {_literal(x)},  # {n}" for x, n in zip(point.inputs, names, strict=True)) + "\n)")
    lines.append(f"cotangent = {_literal(point.cotangent)}")
    lines.append("tangents = (" + "".join(f"\n    {_literal(t)}," for t in point.tangents) + "\n)")
    options = f", mode={mode!r}" + (f", ops={ops!r}" if ops != FUNCTION_OPS else "")
    lines.append(f"replay(fn, inputs, {source!r}, {prop!r}, cotangent, tangents{reference_arg}{options})")
    return "\n".join(lines) + "\n"


def _reproduce(fn: Callable[..., Any], source: str, reference: Any, names: tuple[str, ...], mode: str, ops: float,
               point: Point, prop: str) -> str:
    return reproduction(fn, source, reference, prop, point, names, mode, ops)


def replay(fn: Callable[..., Any], inputs: Sequence[np.ndarray], engine: Any, prop: str, cotangent: np.ndarray,
           tangents: Sequence[np.ndarray], *, reference: Any = None, mode: str = PROBABILISTIC, ops: float = FUNCTION_OPS) -> Outcome:
    """Run one property at exactly these inputs and probes (in the inputs' dtype), print what it saw, return the outcome."""
    engine_object, _ = _engine(engine)
    arrays = tuple(np.asarray(x) for x in inputs)
    target = _target(fn, engine_object, str(arrays[0].dtype), mode, reference, tuple(x.astype(np.float64) for x in arrays), ops)
    target.forward_mode = _forward_mode(engine_object, fn, arrays) is None
    point = Point(arrays, np.asarray(cotangent), tuple(np.asarray(t) for t in tangents))
    try:
        outcome = FUNCTION_PROPERTIES[prop].check(target, point)
    except NotDifferentiableHere as error:
        print(f"not checked: the function has no finite derivative here ({error})")
        return Outcome(True, message=f"not differentiable here: {error}")
    evidence = outcome.evidence or {}
    for key in ("engine", "reference", "bound"):
        if key in evidence:
            print(f"{key + ':':11}{np.asarray(evidence[key])}")
    print("passed" if outcome.passed else f"failed: {outcome.message}")
    return outcome

