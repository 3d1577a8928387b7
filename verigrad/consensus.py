"""Failures that independent engines share: evidence against the reference, not against the engines.

Engines of different libraries compute a derivative by different code. When three or more of them fail the same
check on the same example with the same value, the likelier culprit is the one thing they share: the closed form,
its rounding bound, or how a kink is handled (verigrad's side, or a user's ``--catalog`` closed form). The hunt of
session 11 met exactly this: five engines' ``b1`` gradients of ``losses.mlp_relu`` in float16, all 0.107 against a
reference of 0.0136, were one defect of verigrad's share fit at many exact kinks, not five engine bugs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from verigrad.oracles.registry import LIBRARIES
from verigrad.records import FAIL, Verdict

#: Independent libraries that must agree before the reference is suspected (two could share a bug by copying).
MINIMUM_LIBRARIES = 3
#: How close two engines' values must be to count as one value: the coarsest format's rounding (bfloat16, 2⁻⁸),
#: a little widened; a reference failing them is farther off than its bound, far beyond this.
AGREEMENT = 2.0**-6


@dataclass(frozen=True)
class Consensus:
    """One check that several libraries fail alike: the check (engine left out), who agrees, on what value, where."""

    check: str
    engines: tuple[str, ...]
    libraries: int
    index: tuple[int, ...]
    engine_value: float
    reference: float

    def line(self) -> str:
        return (f"{self.check}: {', '.join(self.engines)} ({self.libraries} libraries) agree on {self.engine_value:.6g} "
                f"at {list(self.index)} against the reference {self.reference:.6g}: suspect the closed form, its bound "
                "or its kink handling before the engines")

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "line": self.line()}


def _library(engine: str) -> str:
    return LIBRARIES.get(engine, engine)  # a user's engine counts as a library of its own


def _agree(a: float, b: float) -> bool:
    """Within :data:`AGREEMENT` of each other, or the same infinity, or both NaN (several engines' NaN is one value)."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return True
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= AGREEMENT * max(abs(a), abs(b))


def consensus_failures(verdicts: list[Verdict], minimum_libraries: int = MINIMUM_LIBRARIES) -> list[Consensus]:
    """Each check (property, case, argument, dtype) that at least ``minimum_libraries`` libraries fail unexpectedly
    at the same index with values that agree, unlike the reference: one line each, not one per engine."""
    groups: dict[tuple[str, str, str, str], list[Verdict]] = defaultdict(list)
    for verdict in verdicts:
        diagnosis = verdict.diagnosis or {}
        # Pinned failures have been looked into (their pins give the reason); only the news is suspected.
        if (verdict.status == FAIL and not verdict.as_expected and diagnosis.get("engine") is not None
                and diagnosis.get("reference") is not None):
            groups[(verdict.property, verdict.case, verdict.arg, verdict.dtype)].append(verdict)
    found = []
    for (prop, case, arg, dtype), failing in groups.items():
        by_value: dict[tuple[tuple[int, ...], float], list[Verdict]] = defaultdict(list)
        for verdict in failing:
            index, value = tuple(verdict.diagnosis.get("index") or ()), float(verdict.diagnosis["engine"])
            key = next((k for k in by_value if k[0] == index and _agree(k[1], value)), (index, value))
            by_value[key].append(verdict)
        for (index, value), members in by_value.items():
            libraries = {_library(v.engine) for v in members}
            reference = float(members[0].diagnosis["reference"])
            if len(libraries) >= minimum_libraries and not _agree(reference, value):
                engines = tuple(sorted(v.engine for v in members))
                found.append(Consensus(f"{prop}[{case}-{arg}-*-{dtype}]", engines, len(libraries), index, value, reference))
    return found
