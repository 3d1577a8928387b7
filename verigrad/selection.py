"""The quick selection: a fixed, deterministic subset of a plan that still touches everything.

The full plan crosses every case, property, argument, engine and dtype; the
default ``pytest`` of this repository runs only a *covering* selection of it,
and ``--verigrad-full`` runs the rest.  The rule, applied to whatever
:func:`verigrad.runner.plan` yields (so new cases, properties, engines and
dtypes are covered without editing a list):

1. Gather the plan's checks by (case, property), in plan order.
2. From each such group take exactly one check, among the checks that can run
   (the engine supports the dtype), or among all of them if none can.
3. Choose it by least use so far, in this order of keys: the
   (property, engine, dtype) triple, then the (engine, dtype) pair, then the
   case's argument (or pair); ties go to the earlier check in plan order.

Step 3 is a round robin: each property is run on every engine × dtype as soon
as it has that many groups, every engine × dtype carries about the same share,
and the properties of one case spread over its arguments.  The selection
depends only on the plan and on which (engine, dtype) pairs can run, never on
a random draw or on the time of day, so a given catalog always runs the same
checks (their examples are drawn by the profile, as for any check).
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
    "case × property": lambda spec: (spec.case, spec.property),
}


def quick_selection(specs: Sequence[CheckSpec], runnable: Callable[[CheckSpec], bool] = lambda spec: True) -> list[CheckSpec]:
    """One check per (case, property) of ``specs``, chosen by the round robin of the module docstring.

    ``runnable(spec)`` says whether a check can run at all (``False``: it would be
    a skip), so that a group's one check is a real one wherever it can be.
    The result keeps plan order.
    """
    by_group: dict[tuple[str, str], list[int]] = {}
    for index, spec in enumerate(specs):
        by_group.setdefault((spec.case, spec.property), []).append(index)
    triple_uses: Counter[tuple[str, str, str]] = Counter()
    pair_uses: Counter[tuple[str, str]] = Counter()
    subject_uses: Counter[tuple[str, str]] = Counter()
    chosen: list[int] = []
    for indices in by_group.values():
        candidates = [i for i in indices if runnable(specs[i])] or indices

        def load(index: int) -> tuple[int, int, int, int]:
            spec = specs[index]
            return (triple_uses[spec.property, spec.engine, spec.dtype], pair_uses[spec.engine, spec.dtype],
                    subject_uses[spec.case, spec.subject], index)

        best = min(candidates, key=load)
        pick = specs[best]
        triple_uses[pick.property, pick.engine, pick.dtype] += 1
        pair_uses[pick.engine, pick.dtype] += 1
        subject_uses[pick.case, pick.subject] += 1
        chosen.append(best)
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
