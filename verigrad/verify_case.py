"""Verify a case's closed forms against its own primal: for your cases as for the built-in ones.

``verify_case(case)`` draws points from the case's own shapes and domains
(``verigrad.strategies``, the same draws the property suite makes), evaluates the
primal with numpy in float64, differentiates it with the fd oracle (complex step
where it is exact, Richardson with an error estimate elsewhere) and compares
every entry of every closed-form Jacobian with it, within the oracle's estimate
plus the case's own rounding bound (its declared magnitude and op count).  At a
kink every closed form between the shares t = 0 and t = 1 is accepted.  It
returns the mismatches, an empty list when there are none.

It samples; ``verigrad.prove.prove_case`` proves (sympy, every region of every
kink) or checks in exact arithmetic, for your cases as for the built-in catalog,
whose proofs in ``tests/reference`` call it.  This check is the one for primals
the symbolic namespace cannot follow.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed

from verigrad import strategies as vs
from verigrad import truth
from verigrad.oracles.fd import FiniteDifferences
from verigrad.oracles.protocol import error_estimate
from verigrad.reference import Case
from verigrad.tolerance import FLOAT64_U, Tolerance

__all__ = ["verify_case"]


def _mismatches_at(case: Case, example: vs.Example, fd: FiniteDifferences) -> list[str]:
    names = case.arg_names
    primal = case.bind(np, **example.params)
    primals = example.primals(names)
    found = []
    for arg in case.differentiable_args:
        k = names.index(arg)
        numeric = fd.jacobian(primal, primals, k)
        estimate = np.asarray(error_estimate(numeric), dtype=np.float64)
        closed = [truth.jacobian(case, arg, example.values, example.params, t, FLOAT64_U).dense() for t in (0.0, 1.0)]
        low, high = np.minimum(*closed), np.maximum(*closed)
        magnitude = truth.magnitude(case, arg, example.values, example.params, FLOAT64_U).dense()
        ops = truth.ops(case, arg, example.values, example.params)
        bound = Tolerance(np.dtype(np.float64), "worst").bound(ops, magnitude) + estimate
        value = np.asarray(numeric, dtype=np.float64)
        distance = np.maximum(low - value, value - high)
        for index in zip(*np.nonzero(~(distance <= bound)), strict=True):
            found.append(f"{case.id} ∂/∂{arg} entry {tuple(int(i) for i in index)} at {_inputs(example)}: "
                         f"closed form {float(closed[0][index])!r}, finite differences of the primal {float(value[index])!r} "
                         f"± {float(bound[index]):.3g}")
    return found


def _inputs(example: vs.Example) -> str:
    values = {name: np.asarray(v).tolist() for name, v in example.values.items()}
    return f"{values} {example.params}" if example.params else str(values)


def verify_case(case: Case, examples: int = 50, seed: int = 0) -> list[str]:
    """Mismatches between ``case``'s closed forms and finite differences of its primal at drawn points ([] if none)."""
    fd = FiniteDifferences()
    found: list[str] = []

    @settings(max_examples=examples, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(vs.examples(case, np.float64, tangents=()))
    def run(example: vs.Example) -> None:
        found.extend(_mismatches_at(case, example, fd))

    hypothesis_seed(seed)(run)()
    return found
