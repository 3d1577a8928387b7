"""Root cause across checks: the primitive, and the operand of it, that the failing checks share.

Each case's primal is traced once through a recording namespace: every
operation (``exp``, ``sum``, the operators ``-``, ``@``, ...) is recorded with
the operand positions whose value depends on each case argument.  A check on
argument ``arg`` *exercises* ``(primitive, operand)`` when the primal applies
that primitive to something depending on ``arg`` in that operand.  For one
engine, the blamed primitive is the one exercised by the most failing
derivative checks and by no passing one: "subtract, w.r.t. its second operand:
wrong_sign in 12 of 12 checks that use it".  Only derivative properties (vjp,
jvp, kink) take part; a whole-case property (shape_dtype, deterministic) has
no argument.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from verigrad.consensus import consensus_failures
from verigrad.oracles.fd import FiniteDifferences
from verigrad.records import FAIL, PASS, Verdict
from verigrad.reference import CASES_BY_ID, get_case, resolve_shape

#: The derivative properties whose verdicts a root cause is read from.
PROPERTIES = ("vjp", "jvp", "kink")

#: How operators and functions are named in the explanation.
NAMES = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "divide", "pow": "power", "neg": "negate",
         "matmul": "matmul", "T": "transpose"}
ORDINALS = ("first", "second", "third", "fourth")

Event = tuple[str, int]  # (primitive, operand position)

#: Vocabulary functions whose result is a constant: they carry no dependence on their operand.
CONSTANTS = ("zeros_like", "asarray")


class _Traced:
    """A value in a traced primal: its numpy value (for shapes and branches) and the case arguments it depends on."""

    __array_priority__ = 1000  # numpy defers to these operators

    def __init__(self, value: Any, deps: frozenset[str], tape: list[tuple[str, tuple[frozenset[str], ...]]]) -> None:
        self.value = value if isinstance(value, np.ndarray) else np.asarray(value)
        self.deps, self.tape = deps, tape

    @property
    def shape(self) -> tuple[int, ...]:
        return np.shape(self.value)

    @property
    def T(self) -> _Traced:
        return _apply(self.tape, "T", lambda a: a.T, (self,))

    def _binary(self, name: str, other: Any, reverse: bool = False) -> _Traced:
        operands = (other, self) if reverse else (self, other)
        return _apply(self.tape, name, _OPERATORS[name], operands)

    def __add__(self, o: Any) -> _Traced: return self._binary("add", o)
    def __radd__(self, o: Any) -> _Traced: return self._binary("add", o, True)
    def __sub__(self, o: Any) -> _Traced: return self._binary("sub", o)
    def __rsub__(self, o: Any) -> _Traced: return self._binary("sub", o, True)
    def __mul__(self, o: Any) -> _Traced: return self._binary("mul", o)
    def __rmul__(self, o: Any) -> _Traced: return self._binary("mul", o, True)
    def __truediv__(self, o: Any) -> _Traced: return self._binary("truediv", o)
    def __rtruediv__(self, o: Any) -> _Traced: return self._binary("truediv", o, True)
    def __matmul__(self, o: Any) -> _Traced: return self._binary("matmul", o)
    def __rmatmul__(self, o: Any) -> _Traced: return self._binary("matmul", o, True)
    def __pow__(self, k: Any) -> _Traced: return self._binary("pow", k)
    def __neg__(self) -> _Traced: return _apply(self.tape, "neg", np.negative, (self,))

    # Comparisons are masks: no derivative flows through them, so they record nothing.
    def __gt__(self, o: Any) -> np.ndarray: return self.value > _value(o)
    def __lt__(self, o: Any) -> np.ndarray: return self.value < _value(o)
    def __ge__(self, o: Any) -> np.ndarray: return self.value >= _value(o)
    def __le__(self, o: Any) -> np.ndarray: return self.value <= _value(o)
    def __eq__(self, o: Any) -> np.ndarray: return self.value == _value(o)  # type: ignore[override]
    __hash__ = None  # type: ignore[assignment]


_OPERATORS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.divide, "matmul": np.matmul, "pow": np.power}


def _value(x: Any) -> Any:
    return x.value if isinstance(x, _Traced) else x


def _deps(x: Any) -> frozenset[str]:
    if isinstance(x, _Traced):
        return x.deps
    if isinstance(x, (list, tuple)):
        return frozenset().union(*(_deps(item) for item in x)) if x else frozenset()
    return frozenset()


def _apply(tape: list, name: str, function: Any, operands: tuple[Any, ...], **kwargs: Any) -> Any:
    values = [[_value(v) for v in o] if isinstance(o, (list, tuple)) else _value(o) for o in operands]
    with np.errstate(all="ignore"):
        result = function(*values, **kwargs)
    deps = tuple(_deps(o) for o in operands)
    if not any(deps):
        return result
    tape.append((name, deps))
    return _Traced(result, frozenset().union(*deps), tape)


class _Recorder:
    """The primal vocabulary over traced values, computed by numpy (fd's namespace) and recorded."""

    def __init__(self, tape: list) -> None:
        self._tape, self._numpy = tape, FiniteDifferences.xp

    def __getattr__(self, name: str) -> Any:
        function = getattr(self._numpy, name)
        if name in CONSTANTS:  # no derivative flows out of these
            return lambda *operands, **kwargs: function(*(_value(o) for o in operands), **kwargs)
        if name == "where":  # the condition is a mask: operands are the two branches
            return lambda cond, a, b: _apply(self._tape, name, lambda x, y: np.where(_value(cond), x, y), (a, b))
        return lambda *operands, **kwargs: _apply(self._tape, name, function, operands, **kwargs)


@lru_cache(maxsize=512)
def exercised(case_id: str, arg: str, params: tuple[tuple[str, Any], ...] = ()) -> frozenset[Event]:
    """The (primitive, operand) pairs the case's primal applies to values depending on ``arg``."""
    case = get_case(case_id)
    sizes = dict.fromkeys(case.size_symbols(), 3)
    tape: list = []
    arrays = []
    for a in case.args:
        value = np.linspace(0.5, 1.5, int(np.prod(resolve_shape(a.shape, sizes)))).reshape(resolve_shape(a.shape, sizes))
        arrays.append(_Traced(value, frozenset({a.name}), tape) if a.differentiable else value)
    bound = dict(params) or {name: choices[0] for name, choices in case.params.items()}
    case.primal(_Recorder(tape), *arrays, **bound)
    return frozenset((name, k) for name, deps in tape for k, dep in enumerate(deps) if arg in dep)


@dataclass(frozen=True)
class RootCause:
    """The primitive blamed for one engine's failures, with the evidence."""

    engine: str
    primitive: str
    operand: int
    kind: str
    failing: int
    using: int
    failing_total: int

    def line(self) -> str:
        name = NAMES.get(self.primitive, self.primitive)
        operand = ORDINALS[self.operand] if self.operand < len(ORDINALS) else f"#{self.operand + 1}"
        return (f"{self.engine}: {name}, w.r.t. its {operand} operand: {self.kind} in {self.failing} of {self.using} "
                f"checks that use it ({self.failing_total} failing derivative checks in all)")

    def record(self) -> dict[str, Any]:
        """The fields and the sentence, as the run's summary record holds them (the report shows ``line``)."""
        return {**asdict(self), "line": self.line()}


def _events(verdict: Verdict) -> frozenset[Event]:
    if verdict.case not in CASES_BY_ID:  # a user's function (check_function): no case primal to trace
        return frozenset()
    return exercised(verdict.case, verdict.arg)


def root_causes(verdicts: list[Verdict]) -> list[RootCause]:
    """Per engine with failing derivative checks: the primitive all (or most) of them share and no passing one uses."""
    by_engine: dict[str, list[Verdict]] = defaultdict(list)
    for verdict in verdicts:
        if verdict.property in PROPERTIES and verdict.arg:
            by_engine[verdict.engine].append(verdict)
    causes = []
    for engine, items in by_engine.items():
        failing = [v for v in items if v.status == FAIL and not v.as_expected]
        if not failing:
            continue
        passing_events = frozenset().union(*(_events(v) for v in items if v.status == PASS))
        counts = Counter(event for v in failing for event in _events(v) - passing_events)
        if not counts:
            continue
        (primitive, operand), hits = max(counts.items(), key=lambda item: (item[1], -len(item[0][0])))
        kinds = Counter((v.diagnosis or {}).get("kind", "unclassified") for v in failing if (primitive, operand) in _events(v))
        causes.append(RootCause(engine, primitive, operand, kinds.most_common(1)[0][0], hits, hits, len(failing)))
    return causes


def summary_record(verdicts: list[Verdict]) -> dict[str, Any]:
    """What a finished run's summary record (its footer) holds: the root cause per engine, and the failures that
    several libraries share (:mod:`verigrad.consensus`), for the report."""
    return {"root_causes": [cause.record() for cause in root_causes(verdicts)],
            "shared_by_engines": [shared.record() for shared in consensus_failures(verdicts)]}
