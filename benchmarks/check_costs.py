"""Measure what each engine check costs, for the default run's choice of checks (pyproject's ``verigrad_costs``).

    verigrad check jax torch fd autograd mygrad tinygrad mlx jax-jit --profile dev --seed 0 -j 2 \\
        --expect oracles/known_outcomes.txt --records reports/costs.jsonl --no-report
    python benchmarks/check_costs.py reports/costs.jsonl          # writes benchmarks/results/check-costs.json

The sweep runs every check of the plan with the ``dev`` profile (5 examples, as the default ``pytest`` runs
them), so a check's seconds are mostly what the default run pays for it: a compile per new program, a
finite-difference Jacobian, the reference.  The fit (``verigrad.selection.CheckCosts.fit``) explains each
check's seconds as an engine × property factor times a case factor; the quick selection and the
``verigrad_cover`` rotations then weigh checks by it (``docs/guide/test-selection.md``).

The script prints how well the fit explains the sweep (the spread of measured / fitted) and what the quick
selection costs by the measured seconds, unweighted and weighted: the figure to read, since a selection is
a few checks of the sweep, each timed there.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verigrad.records import RecordsError, Verdict, read_records  # noqa: E402
from verigrad.runner import CheckSpec, plan  # noqa: E402
from verigrad.selection import CheckCosts, coverage, quick_selection  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "check-costs.json"


def _spec(verdict: Verdict) -> CheckSpec:
    """The check a verdict is of, as far as its cost goes (engine, property, case)."""
    return CheckSpec(verdict.property, verdict.case, verdict.arg, None, verdict.engine, verdict.dtype)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="+", help="records of a dev-profile sweep of every engine")
    parser.add_argument("--out", default=str(OUT), help="where to write the table (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        _, verdicts = read_records([Path(r) for r in args.records])
    except RecordsError as error:
        print(f"check_costs: {error}", file=sys.stderr)
        return 2
    timed = [(v, v.seconds) for v in verdicts if v.kind == "verdict" and v.status != "skip" and v.seconds > 0]
    if not timed:
        print("no timed verdicts in the records", file=sys.stderr)
        return 2
    costs = CheckCosts.fit((_spec(v), s) for v, s in timed)
    touches: dict[tuple[str, str, str], float] = defaultdict(float)
    for verdict, seconds in timed:
        touches[verdict.engine, verdict.case, verdict.dtype] += seconds
    ratios = [math.log(s / costs.of(CheckSpec("", case, None, None, engine, dtype))) for (engine, case, dtype), s in touches.items()]
    print(f"fitted {len(touches)} touches (engine, case, dtype) of {len(timed)} timed checks, {sum(touches.values()):.0f} s in "
          f"all: measured / fitted within ×{math.exp(statistics.pstdev(ratios)):.2f} (one standard deviation of the log)")
    engines = list(dict.fromkeys(v.engine for v, _ in timed))  # the sweep's order
    dtypes = list(dict.fromkeys(v.dtype for v, _ in timed))
    checks = plan(engines, dtypes)
    for name, cost in (("unweighted", None), ("weighted", costs.of)):
        chosen = quick_selection(checks, cost=cost)
        touched = {(spec.engine, spec.case, spec.dtype) for spec in chosen}
        measured = sum(touches.get(touch, 0.0) for touch in touched)
        per_engine = Counter(spec.engine for spec in chosen)
        print(f"quick selection, {name}: {len(chosen)} checks, {len(touched)} touches costing {measured:.1f} s in the sweep, "
              f"cover {coverage(checks, chosen)}; per engine {dict(per_engine)}")
    print("engine factors (s, an average case's touch): " + ", ".join(f"{e} {c:.3g}" for e, c in costs.engine.items()))
    Path(args.out).write_text(costs.to_json())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
