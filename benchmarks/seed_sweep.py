"""False-failure sweep: every check on correct engines under many random seeds.

    python benchmarks/seed_sweep.py --seeds 20 --engines jax torch fd autograd mygrad tinygrad
    python benchmarks/seed_sweep.py --seeds 20 --engines jax torch mlx --dtypes float64,float32,float16,bfloat16

A correct engine must pass every check under every seed; each unexpected outcome
here is a false failure of verigrad (or a new real bug in the engine, which the
printed reproduction lets you tell apart).  Known engine bugs are pinned by
oracles/known_outcomes.txt.  Writes benchmarks/results/seed_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from verigrad import expectations as expect
from verigrad.dtypes import DEFAULT_DTYPES
from verigrad.oracles import load_engine
from verigrad.runner import groups, plan, run_group

RESULTS = Path(__file__).parent / "results"
KNOWN = Path(__file__).parent.parent / "oracles" / "known_outcomes.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--engines", nargs="+", default=["jax", "torch", "fd"])
    parser.add_argument("--examples", type=int, default=None, help="examples per check (default: the dev profile's)")
    parser.add_argument("--dtypes", default=",".join(DEFAULT_DTYPES), help="comma list (float64,float32,float16,bfloat16)")
    parser.add_argument("--cases", default=None, help="comma list of case-id globs (default: all)")
    parser.add_argument("--out", default=str(RESULTS / "seed_sweep.json"))
    parser.add_argument("--expect", default=str(KNOWN), help="expected outcomes (default: the known engine bugs)")
    args = parser.parse_args()
    engines = {name: load_engine(name) for name in args.engines}
    expectations = expect.parse(args.expect) if args.expect else []
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    specs = plan(args.engines, dtypes, case_pattern=args.cases)
    failures = []
    started = time.perf_counter()
    per_engine = {name: {"checks": 0, "failures": 0} for name in args.engines}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        seed_started = time.perf_counter()
        for group in groups(specs):  # the engines share each check's examples
            for spec, verdict in zip(group, run_group(group, engines, seed=seed, max_examples=args.examples), strict=True):
                expect.apply(expectations, verdict, set())
                per_engine[spec.engine]["checks"] += 1
                if verdict.status == "pass":  # how close correct results come to the bound, per dtype
                    worst = per_engine[spec.engine].setdefault("max_bound_fraction", {})
                    worst[spec.dtype] = round(max(worst.get(spec.dtype, 0.0), verdict.max_bound_fraction), 4)
                if not verdict.as_expected:
                    per_engine[spec.engine]["failures"] += 1
                    failures.append({"seed": seed, "check": spec.id, "message": verdict.message,
                                     "reproduction": verdict.reproduction})
                    print(f"seed {seed}: FAIL {spec.id}: {verdict.message[:200]}", flush=True)
        print(f"seed {seed}: {len(specs)} checks in {time.perf_counter() - seed_started:.1f} s, "
              f"{len(failures)} failures so far", flush=True)
        # Written after every seed: a sweep stopped part-way still leaves the seeds it finished.
        summary = {
            "seeds": list(range(args.first_seed, seed + 1)),
            "engines": per_engine,
            "dtypes": dtypes,
            "checks_per_seed": len(specs),
            "false_failures": len(failures),
            "seconds": round(time.perf_counter() - started, 1),
            "failures": failures,
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"}, indent=2))


if __name__ == "__main__":
    main()
