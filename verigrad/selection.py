"""The quick selection: a fixed, deterministic subset of a plan that still touches everything.

The full plan crosses every case, property, argument, engine and dtype; the
default ``pytest`` of this repository runs only a *covering* selection of it,
and ``--verigrad-full`` runs the rest.  The selection must touch each value of
:data:`COVERED` at least once: every case, every property, every engine × dtype
and every property × engine.  It is a greedy cover, applied to whatever
:func:`verigrad.runner.plan` yields (so new cases, properties, engines and
dtypes are covered without editing a list):

1. Visit the cases in plan order; for each, take one of its checks: the one
   that covers the most values not covered yet, then the least-used
   engine × dtype, then the least-used property, then the least-used case,
   then the earlier check in plan order.
2. Then, for each value still uncovered (a property × engine pair, say), in
   plan order, take the check that covers it and the most other uncovered
   values, by the same tie-breaks.
3. Only checks that can run (the engine supports the dtype) are taken, unless
   no check that can run covers a value; then one that cannot is taken (it
   runs as a skip with its reason).

Step 1 costs one check per case, and spreads the cases over the engines and
dtypes; step 2 fills the property × engine grid, which is what a new engine or
property adds.

Given measured costs (:class:`CheckCosts`: what touching an engine on a case
costs, fitted to the records of a sweep), "the most values not covered yet"
becomes the most values *per second*, the weighted greedy set cover: a costly
engine still covers each of its property × engine and engine × dtype values,
on the cases that are cheap for it, and the cheap engines visit the rest of the
cases.  The cover grows by a few cheap checks and costs a fraction (measured:
``benchmarks/check_costs.py``).  Without costs every check costs 1 and the rule
is the one above.  A cover, rather than one check per (case, property), keeps the
default run's engine checks about as many as the catalog has cases: the full
cross product runs in ``--verigrad-full`` and in ``.ci/run``'s sweep.  The
selection depends only on the plan and on which (engine, dtype) pairs can run,
never on a random draw or on the time of day, so a given catalog always runs
the same checks (their examples are drawn by the profile, as for any check).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from verigrad.runner import CheckSpec

#: What the selection must touch at least once: each is a function of a check.
COVERED: dict[str, Callable[[CheckSpec], object]] = {
    "case": lambda spec: spec.case,
    "property": lambda spec: spec.property,
    "engine": lambda spec: spec.engine,
    "dtype": lambda spec: spec.dtype,
    "engine × dtype": lambda spec: (spec.engine, spec.dtype),
    "property × engine": lambda spec: (spec.property, spec.engine),
}


def quick_selection(specs: Sequence[CheckSpec], runnable: Callable[[CheckSpec], bool] = lambda spec: True,
                    cost: Callable[[CheckSpec], float] | None = None) -> list[CheckSpec]:
    """A cover of ``specs``: every value of :data:`COVERED` at least once, by the rule of the module docstring.

    ``runnable(spec)`` says whether a check can run at all (``False``: it would be
    a skip), so that a value is covered by a real check wherever it can be.
    ``cost(spec)`` (seconds; :meth:`CheckCosts.of` of a measured table) makes each
    step take the most uncovered values per second instead.
    The result keeps plan order.
    """
    # Columns first (one pass of each key over the plan), then each check's values as a tuple of ints:
    # the cover is recomputed whenever a plugin collects, on plans of ~20 000 checks.
    columns = [[of(spec) for spec in specs] for of in COVERED.values()]
    value_ids: dict[tuple[str, object], int] = {}
    values = [tuple(value_ids.setdefault((key, value), len(value_ids)) for key, value in zip(COVERED, row, strict=True))
              for row in zip(*columns, strict=True)]
    can_run = [runnable(spec) for spec in specs]
    costs = [cost(spec) for spec in specs] if cost is not None else [1.0] * len(specs)
    uncovered = [True] * len(value_ids)
    pair_uses: Counter[tuple[str, str]] = Counter()
    property_uses: Counter[str] = Counter()
    case_uses: Counter[str] = Counter()
    chosen: set[int] = set()

    def take(candidates: list[int]) -> None:
        best = min(candidates, key=lambda i: (not can_run[i], -sum(uncovered[v] for v in values[i]) / costs[i],
                                              pair_uses[specs[i].engine, specs[i].dtype],
                                              property_uses[specs[i].property], case_uses[specs[i].case], i))
        chosen.add(best)
        pair_uses[specs[best].engine, specs[best].dtype] += 1
        property_uses[specs[best].property] += 1
        case_uses[specs[best].case] += 1
        for value in values[best]:
            uncovered[value] = False

    by_case: dict[str, list[int]] = {}
    by_value: list[list[int]] = [[] for _ in value_ids]
    for index, spec_values in enumerate(values):
        by_case.setdefault(specs[index].case, []).append(index)
        for value in spec_values:
            by_value[value].append(index)
    for indices in by_case.values():
        take(indices)
    for value, indices in enumerate(by_value):  # plan order of first appearance
        if uncovered[value]:
            take(indices)
    return [specs[i] for i in sorted(chosen)]


@dataclass(frozen=True)
class Coverage:
    """What a selection misses of a plan: for each key of :data:`COVERED`, the values never selected."""

    missing: dict[str, list[object]]

    @property
    def complete(self) -> bool:
        return not any(self.missing.values())

    def __str__(self) -> str:
        gaps = [f"{key}: {', '.join(map(str, values))}" for key, values in self.missing.items() if values]
        return "; ".join(gaps) or "complete"


def coverage(plan: Iterable[CheckSpec], selection: Iterable[CheckSpec]) -> Coverage:
    """Which cases, properties, engines, dtypes and (case, property) pairs of ``plan`` ``selection`` leaves out."""
    plan, selection = list(plan), list(selection)
    missing = {}
    for key, of in COVERED.items():
        selected = {of(spec) for spec in selection}
        missing[key] = sorted({of(spec) for spec in plan} - selected, key=str)
    return Coverage(missing)


@dataclass(frozen=True)
class CheckCosts:
    """What touching an engine on a case costs, as a product: seconds ≈ ``engine[engine] × case[case]``.

    A check is cheap on an engine that has already run its case (the program is compiled, the
    reference warm) and dear on one that has not; a quick selection runs few checks of each
    (engine, case), so what it pays is the touch: every check of an engine on a case and dtype,
    summed.  :meth:`fit` explains the touches of a sweep's records (least squares on the logarithms:
    one factor per engine, one per case, the case factors' geometric mean 1).  An engine the table
    does not know costs the median engine factor, a case it does not know the average case (1), so a
    new one is selected as an average one until the table is measured again.
    """

    engine: Mapping[str, float]
    case: Mapping[str, float]

    def of(self, spec: CheckSpec) -> float:
        """The estimated seconds of a check's touch of its engine and case."""
        known = self.engine.get(spec.engine)
        engine = known if known is not None else (statistics.median(self.engine.values()) if self.engine else 1.0)
        return engine * self.case.get(spec.case, 1.0)

    def of_engine(self, engine: str) -> float | None:
        """An engine's factor (its touch of an average case); None for an engine the table lacks."""
        return self.engine.get(engine)

    @classmethod
    def fit(cls, seconds: Iterable[tuple[CheckSpec, float]]) -> CheckCosts:
        """The factors that best explain the touches of ``(check, seconds)`` pairs (least squares on the logarithms)."""
        touches: dict[tuple[str, str, str], float] = defaultdict(float)
        for spec, s in seconds:
            touches[spec.engine, spec.case, spec.dtype] += s
        if not touches:
            raise ValueError("no timed checks to fit costs to")
        engines = sorted({engine for engine, _, _ in touches})
        cases = sorted({case for _, case, _ in touches})
        column = {name: i for i, name in enumerate([*engines, *cases])}
        design = np.zeros((len(touches), len(column)))
        for row, (engine, case, _) in enumerate(touches):
            design[row, column[engine]] = design[row, column[case]] = 1.0
        logs = np.log(np.maximum(np.fromiter(touches.values(), float, len(touches)), 1e-4))
        solution = np.linalg.lstsq(design, logs, rcond=None)[0]
        # engine + c and case − c fit alike: the case factors' geometric mean is 1.
        shift = solution[len(engines):].mean()
        return cls({engine: _seconds(solution[column[engine]] + shift) for engine in engines},
                   {case: _seconds(solution[column[case]] - shift) for case in cases})

    def to_json(self) -> str:
        return json.dumps({"engine": self.engine, "case": self.case}, indent=1, sort_keys=True) + "\n"

    @classmethod
    def load(cls, path: str | Path) -> CheckCosts:
        """The table written by :meth:`to_json`; ValueError naming the file and what is wrong with it."""
        try:
            data = json.loads(Path(path).read_text())
            engine = {str(e): float(v) for e, v in data["engine"].items()}
            case = {str(c): float(v) for c, v in data["case"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"check costs {path}: {type(error).__name__}: {error} "
                             "(write it with: python benchmarks/check_costs.py RECORDS)") from None
        bad = [name for name, v in (*engine.items(), *case.items()) if not v > 0]
        if bad:
            raise ValueError(f"check costs {path}: factors must be positive seconds; not {', '.join(bad[:5])}")
        return cls(engine, case)


def _seconds(log_seconds: float) -> float:
    """A factor kept to three significant digits (the table is a measurement, not a proof)."""
    return float(f"{math.exp(log_seconds):.3g}")
