"""Batching all examples of a check into one engine call (verigrad/batching.py): compiles, time, bit-identity.

    python benchmarks/bench_batching.py                      # vjp, elementwise/reduction/chain/loss, jax+torch
    python benchmarks/bench_batching.py --cases 'elementwise.*' --engines jax --json out.json

For each engine, on the vjp checks of the slice under the ci profile (40 examples, seed 0):

1. whole checks, cold (a fresh engine each way): ``run_check`` against ``run_check_batched``, wall and CPU
   seconds, programs compiled, and whether the verdicts agree (same status; same max ulps);
2. the engine calls alone, warm: the 40 per-example ``engine.vjp`` calls against the batched calls;
3. bit-identity: every gradient of every example, batched against unbatched, compared bit for bit, and the
   largest difference where they differ, in ulps of the gradient's largest magnitude.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import emit, fmt, log, table

from verigrad import batching
from verigrad.oracles import load_engine
from verigrad.reference import get_case
from verigrad.runner import FUNCTIONS, plan, run_check

SLICE = "elementwise.*,reduction.*,chain.*,loss.*"
SEED = 0


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def _compiles(engine: Any) -> int:
    return len(getattr(engine, "_cache", {}))


def _ulps(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| in ulps of the array's largest magnitude (an elementwise ulp would blow up at values near 0)."""
    scale = float(np.max(np.abs(a.astype(np.float64)), initial=0.0))
    if scale == 0.0:
        return float("inf") if np.any(a != b) else 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) / float(np.spacing(a.dtype.type(scale)))


def _whole_checks(name: str, specs: list[Any]) -> dict[str, Any]:
    plain, batched_engine = load_engine(name), load_engine(name)
    start = _clock()
    unbatched = [run_check(s, plain, "ci") for s in specs]
    wall_a, cpu_a = _since(start)
    traced_before = batching.TRACES["jax"]
    start = _clock()
    batched = [batching.run_check_batched(s, batched_engine, "ci") for s in specs]
    wall_b, cpu_b = _since(start)
    pairs = list(zip(unbatched, batched, strict=True))
    same_status = sum(a.status == b.status for a, b in pairs)
    same_ulps = sum(a.max_ulps == b.max_ulps for a, b in pairs)
    return {"engine": name, "checks": len(specs), "unbatched_wall": wall_a, "unbatched_cpu": cpu_a,
            "unbatched_compiles": _compiles(plain), "batched_wall": wall_b, "batched_cpu": cpu_b,
            "batched_compiles": batching.TRACES["jax"] - traced_before + _compiles(batched_engine),
            "same_status": same_status, "same_max_ulps": same_ulps}


def _engine_calls(name: str, specs: list[Any]) -> dict[str, Any]:
    """Warm engine-call time per example and per batch, and the bitwise comparison."""
    engine = load_engine(name)
    per_example = per_batch = 0.0
    arrays = identical = 0
    worst = 0.0
    for spec in specs:
        case = get_case(spec.case)
        examples = batching.draw(spec, "ci", SEED)
        table_ = batching.batched_vjps(engine, spec, examples)  # compiles
        singles = [engine.vjp(FUNCTIONS.get(case, engine, e.params), e.primals(case.arg_names), e.cotangent) for e in examples]
        start = time.perf_counter()
        table_ = batching.batched_vjps(engine, spec, examples)
        per_batch += time.perf_counter() - start
        start = time.perf_counter()
        singles = [engine.vjp(FUNCTIONS.get(case, engine, e.params), e.primals(case.arg_names), e.cotangent) for e in examples]
        per_example += time.perf_counter() - start
        for example, single in zip(examples, singles, strict=True):
            found = table_.get(batching._key(example.primals(case.arg_names), example.cotangent))
            if found is None:
                continue
            for a, b in zip(single, found, strict=True):
                arrays += 1
                same = a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
                identical += same
                if not same:
                    worst = max(worst, _ulps(a, b))
    return {"engine": name, "warm_per_example_calls": per_example, "warm_batched_calls": per_batch,
            "arrays": arrays, "bit_identical": identical, "max_ulps_difference": worst}


def measure(cases: str = SLICE, engines: tuple[str, ...] = ("jax", "torch"), dtypes: tuple[str, ...] = ("float64", "float32")) -> dict[str, Any]:
    rows = []
    for name in engines:
        specs = plan([name], dtypes, properties=["vjp"], case_pattern=cases)
        log(f"{name}: {len(specs)} vjp checks, whole checks")
        whole = _whole_checks(name, specs)
        log(f"{name}: engine calls and bit-identity")
        rows.append({**whole, **_engine_calls(name, specs)})
    return {"cases": cases, "dtypes": list(dtypes), "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    body = [[r["engine"], r["checks"], f"{fmt(r['unbatched_wall'])} / {fmt(r['unbatched_cpu'])}",
             f"{fmt(r['batched_wall'])} / {fmt(r['batched_cpu'])}", f"{r['unbatched_compiles']} → {r['batched_compiles']}",
             f"{r['same_status']}/{r['checks']}, {r['same_max_ulps']}/{r['checks']}", f"{fmt(r['warm_per_example_calls'])} → {fmt(r['warm_batched_calls'])}",
             f"{r['bit_identical']}/{r['arrays']}", fmt(r["max_ulps_difference"])] for r in result["rows"]]
    return table(["engine", "vjp checks", "whole checks unbatched, s (wall / CPU)", "batched, s (wall / CPU)",
                  "programs compiled", "same status, same max ulps", "engine calls warm, s", "gradients bit-identical",
                  "max difference, ulps of the array's largest value"], body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=SLICE)
    parser.add_argument("--engines", nargs="+", default=["jax", "torch"])
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    emit(measure(args.cases, tuple(args.engines)), markdown, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
