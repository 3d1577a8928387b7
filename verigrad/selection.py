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
property adds.  A cover, rather than one check per (case, property), keeps the
default run's engine checks about as many as the catalog has cases: the full
cross product runs in ``--verigrad-full`` and in ``.ci/run``'s sweep.  The
selection depends only on the plan and on which (engine, dtype) pairs can run,
never on a random draw or on the time of day, so a given catalog always runs
the same checks (their examples are drawn by the profile, as for any check).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

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


def quick_selection(specs: Sequence[CheckSpec], runnable: Callable[[CheckSpec], bool] = lambda spec: True) -> list[CheckSpec]:
    """A cover of ``specs``: every value of :data:`COVERED` at least once, by the rule of the module docstring.

    ``runnable(spec)`` says whether a check can run at all (``False``: it would be
    a skip), so that a value is covered by a real check wherever it can be.
    The result keeps plan order.
    """
    # Columns first (one pass of each key over the plan), then each check's values as a tuple of ints:
    # the cover is recomputed whenever a plugin collects, on plans of ~20 000 checks.
    columns = [[of(spec) for spec in specs] for of in COVERED.values()]
    value_ids: dict[tuple[str, object], int] = {}
    values = [tuple(value_ids.setdefault((key, value), len(value_ids)) for key, value in zip(COVERED, row, strict=True))
              for row in zip(*columns, strict=True)]
    can_run = [runnable(spec) for spec in specs]
    uncovered = [True] * len(value_ids)
    pair_uses: Counter[tuple[str, str]] = Counter()
    property_uses: Counter[str] = Counter()
    case_uses: Counter[str] = Counter()
    chosen: set[int] = set()

    def take(candidates: list[int]) -> None:
        best = min(candidates, key=lambda i: (not can_run[i], -sum(uncovered[v] for v in values[i]),
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
