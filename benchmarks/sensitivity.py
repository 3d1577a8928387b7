"""Sensitivity, measured: the smallest single-entry error each gradient checker catches.

    python benchmarks/sensitivity.py [--full]

A deliberately wrong engine perturbs ONE Jacobian entry by a relative δ: it
computes the correct VJP and adds δ·J_ij·u_i to entry j (the JVP gets δ·J_ij·v_j
in entry i).  It knows no cases (``verigrad.scale.SingleEntryEngine`` wraps the
correct PyTorch engine and reads J_ij from it).  For gradcheck and check_grads
the same perturbation sits in a custom backward (torch.autograd.Function,
jax.custom_vjp) of the same function.

Functions: y = w ⊗ x w.r.t. x (diagonal Jacobian; w, x uniform in ±8, the
positions are diagonal entries since δ·0 = 0 off the diagonal) at n = 10, 10³,
10⁶, and y = sin(W x) w.r.t. x (dense 50 × 1000 Jacobian; W uniform in ±1/√n,
x in ±1 so that finite differences stay meaningful) at n = 10³.

For every position the smallest δ of the half-decade grid 1e-16 … 100 that the
checker flags is found by galloping search (detection is monotone in δ);
a row reports the largest over the positions (the δ caught *at every position*)
and the median (∞: not even δ = 100 is caught).  Positions: 20 at n ≤ 10³
(without ``--full``, 5 for gradcheck slow and verigrad's full-Jacobian check
and 10 for check_grads, which cost up to a second per call), 3 at n = 10⁶.
Before that, each checker runs on the unperturbed function:
a failure there is a false failure and the row says so.  Checkers:

* verigrad, VJP with 4 random sign cotangents (``verigrad.scale.check_values``,
  ``directions=("vjp",)``, dense Jacobians by sign probes too);
* verigrad's default check (VJPs and JVPs; the full Jacobian by basis
  cotangents when there are at most 64 outputs), for the dense function;
* torch.autograd.gradcheck, slow and fast mode, default tolerances;
* jax.test_util.check_grads(order=1, modes=("rev",)), default tolerances.

Targets (issue #5): δ ≤ 1e-9 in float64 and δ ≤ 1e-5 in float32, zero false
failures on correct engines.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _util import (
    check_grads_fails,
    emit,
    fmt,
    gradcheck_fails,
    jax_perturbed,
    log,
    machine,
    smallest_detected,
    table,
    torch_perturbed,
    verdict_for_target,
)

TARGET = {"float64": 1e-9, "float32": 1e-5}
SEED = 20240605
#: Random probe seeds a correct engine is checked with (false failures).
CORRECT_SEEDS = 5


def _problem(name: str, n: int, dtype: str, rng: np.random.Generator) -> dict[str, Any]:
    if name == "mul":
        values = {"w": rng.uniform(-8, 8, n).astype(dtype), "x": rng.uniform(-8, 8, n).astype(dtype)}
        return {"case": "elementwise.mul", "arg": "x", "index": 1, "values": values, "out": n, "label": f"w ⊗ x, n = {n:,}"}
    m = 50
    values = {"W": (rng.uniform(-1, 1, (m, n)) / math.sqrt(n)).astype(dtype), "x": rng.uniform(-1, 1, n).astype(dtype)}
    return {"case": "chain.matvec_sin", "arg": "x", "index": 1, "values": values, "out": m,
            "label": f"sin(W x), {m} × {n:,}"}


def _torch_fn(problem: dict[str, Any]) -> Callable[[Any], Any]:
    import torch

    if problem["case"] == "elementwise.mul":
        w = torch.from_numpy(problem["values"]["w"])
        return lambda x: w * x
    W = torch.from_numpy(problem["values"]["W"])
    return lambda x: torch.sin(W @ x)


def _jax_fn(problem: dict[str, Any]) -> Callable[[Any], Any]:
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        if problem["case"] == "elementwise.mul":
            w = jnp.asarray(problem["values"]["w"])
            return lambda x: w * x
        W = jnp.asarray(problem["values"]["W"])
        return lambda x: jnp.sin(W @ x)


def _positions(problem: dict[str, Any], count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    n = problem["values"]["x"].size
    if problem["case"] == "elementwise.mul":
        chosen = np.arange(n) if count >= n else rng.choice(n, count, replace=False)
        return [(int(k), int(k)) for k in chosen]
    m = problem["out"]
    return [(int(rng.integers(m)), int(rng.integers(n))) for _ in range(count)]


def _entry(engine: Any, problem: dict[str, Any], i: int, j: int) -> float:
    """J_ij from the correct engine: a VJP with the basis cotangent e_i."""
    from verigrad.reference import get_case

    case = get_case(problem["case"])
    fn = case.bind(engine.xp)
    primals = tuple(problem["values"][a] for a in case.arg_names)
    e = np.zeros(problem["out"], dtype=primals[0].dtype)
    e[i] = 1
    return float(np.ravel(engine.vjp(fn, primals, e)[problem["index"]])[j])


def _checkers(problem: dict[str, Any], torch_engine: Any, dense: bool) -> dict[str, Callable[[float, int, int, float], bool]]:
    """name -> detect(delta, i, j, J_ij): True when the checker flags the perturbed function."""
    from verigrad.records import FAIL
    from verigrad.scale import SingleEntryEngine, check_values

    values, case, arg, index = problem["values"], problem["case"], problem["arg"], problem["index"]
    x = values["x"]
    torch_fn, jax_fn = _torch_fn(problem), _jax_fn(problem)

    def verigrad_signs(delta: float, i: int, j: int, entry: float, seed: int = 0) -> bool:
        engine = SingleEntryEngine(torch_engine, index, i, j, delta) if delta else torch_engine
        verdict = check_values(case, arg, engine, values, directions=("vjp",), probes=4, full_jacobian_calls=0, rng=seed)
        return verdict.status == FAIL

    def verigrad_default(delta: float, i: int, j: int, entry: float, seed: int = 0) -> bool:
        engine = SingleEntryEngine(torch_engine, index, i, j, delta) if delta else torch_engine
        return check_values(case, arg, engine, values, rng=seed).status == FAIL

    checkers: dict[str, Callable[..., bool]] = {"verigrad (VJP, 4 sign probes)": verigrad_signs}
    if dense:
        checkers["verigrad default (VJP+JVP, full J if ≤ 64 rows)"] = verigrad_default
    if x.size <= 100_000:
        checkers["gradcheck slow"] = lambda d, i, j, e, seed=0: gradcheck_fails(torch_perturbed(torch_fn, i, j, d * e), x, False)
    checkers["gradcheck fast"] = lambda d, i, j, e, seed=0: gradcheck_fails(torch_perturbed(torch_fn, i, j, d * e), x, True)
    checkers["check_grads (rev)"] = lambda d, i, j, e, seed=0: check_grads_fails(jax_perturbed(jax_fn, i, j, d * e), x)
    return checkers


def measure(full: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    from verigrad.oracles import load_engine

    torch_engine = load_engine("torch")
    configs = [("mul", 10), ("mul", 1000), ("mul", 1_000_000), ("matvec_sin", 1000)]
    # Positions per checker and size: 20 where a check is cheap, fewer where one costs seconds (see --full).
    slow_limits = {"gradcheck slow": 20 if full else 5, "check_grads (rev)": 20 if full else 10,
                   "verigrad default (VJP+JVP, full J if ≤ 64 rows)": 20 if full else 5}
    rows = []
    for name, n in configs:
        for dtype in ("float64", "float32"):
            rng = np.random.default_rng(SEED + n)
            problem = _problem(name, n, dtype, rng)
            count = 20 if n <= 10_000 else 3
            positions = _positions(problem, count, np.random.default_rng(SEED))
            entries = {(i, j): _entry(torch_engine, problem, i, j) for i, j in positions}
            for checker, detect in _checkers(problem, torch_engine, name == "matvec_sin").items():
                started = time.perf_counter()
                calls = 0

                def counted(delta: float, i: int, j: int, detect: Callable[..., bool] = detect,
                            entries: dict[tuple[int, int], float] = entries) -> bool:
                    nonlocal calls
                    calls += 1
                    return detect(delta, i, j, entries[(i, j)])

                false_failures = 0
                seeds = CORRECT_SEEDS if checker.startswith("verigrad") else 1
                for seed in range(seeds):
                    calls += 1
                    false_failures += bool(detect(0.0, *positions[0], 0.0, seed))
                limit = slow_limits.get(checker, len(positions)) if n >= 1000 else len(positions)
                tried = positions[:limit]
                found: list[float] = []
                if not false_failures:
                    hint = None
                    for i, j in tried:
                        delta = smallest_detected(lambda d, i=i, j=j: counted(d, i, j), hint)
                        found.append(delta)
                        hint = delta if math.isfinite(delta) else hint
                seconds = time.perf_counter() - started
                worst = max(found) if found else None
                row = {
                    "function": problem["label"], "case": problem["case"], "n": n, "dtype": dtype, "checker": checker,
                    "positions": len(tried), "false_failures": f"{false_failures}/{seeds}",
                    "delta_every_position": worst, "delta_median": statistics.median(found) if found else None,
                    "seconds": round(seconds, 2), "calls": calls, "seconds_per_call": seconds / max(calls, 1),
                    "target": TARGET[dtype],
                    "verdict": ("false failure on the correct function" if false_failures else
                                verdict_for_target(worst, TARGET[dtype])),
                }
                rows.append(row)
                log(f"  {problem['label']:>22} {dtype} {checker:48} δ_all={fmt(worst)} median={fmt(row['delta_median'])} "
                    f"false={row['false_failures']} ({seconds:.1f} s)")
    return {"rows": rows, "machine": machine(), "full": full}


def markdown(result: dict[str, Any]) -> str:
    headers = ["function", "dtype", "checker", "positions", "false failures (correct fn)", "smallest δ caught at every position",
               "median δ", "s per check", "target", "met?"]
    rows = [
        [r["function"], r["dtype"], r["checker"], r["positions"], r["false_failures"], r["delta_every_position"],
         r["delta_median"], r["seconds_per_call"], r["target"], r["verdict"]]
        for r in result["rows"]
    ]
    return table(headers, rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="20 positions for every checker (slow gradcheck: minutes)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    result = measure(args.full, log=log)
    return emit(result, markdown, args.json)


if __name__ == "__main__":
    main()
