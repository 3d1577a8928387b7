"""Custom gradient rules, right and wrong: verigrad's check_function beside gradcheck and check_grads at their defaults.

    python benchmarks/bench_custom_rules.py [--examples N] [--seed S]

The corpus: eight functions, each written once as a ``torch.autograd.Function``
and once as a ``jax.custom_vjp`` rule with a hand-written backward: six smooth
(softplus, x·sin x, logsumexp, swish, tanh, the Euclidean norm) and two clamps
to [-1, 1] checked exactly at their bounds, one whose derivative there is ½,
one whose derivative there is 1 (torch's own clamp convention): both are valid
subgradients.  The wrong rules are the smooth ones with one mutation of their
backward (the sign flipped; one entry's gradient off by a relative 1e-4, or 1e-6)
and a clamp whose derivative at its bounds is 2 (outside [0, 1]).  Every rule runs
in float64 and in float32, at the same five inputs for every tool.

The tools, each at its defaults:

* verigrad: ``check_function(fn, inputs, engine, dtypes=[dtype], properties=["vjp"], examples=N, seed=S)``:
  the user's inputs, then N drawn points near them;
* ``torch.autograd.gradcheck(fn, inputs)`` (eps 1e-6, atol 1e-5, rtol 1e-3) for the torch rules;
* ``jax.test_util.check_grads(fn, inputs, order=1, modes=["rev"])`` for the jax rules (a custom_vjp
  rule has no forward mode).

A correct rule failed is a false failure; a wrong rule failed is a detection.
Results go to ``benchmarks/results/custom_rules.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch
from _util import ROOT, machine, table
from jax.test_util import check_grads

from verigrad import check_function

#: The five inputs (the clamps get the bounds ±1 among them).
SMOOTH_INPUTS = np.array([0.7, -1.3, 2.2, -0.4, 1.9])
CLAMP_INPUTS = np.array([-1.0, 0.3, 1.0, -2.5, 0.9])


@dataclass(frozen=True)
class Rule:
    """A function with a hand-written derivative: forward and VJP per framework, on that framework's arrays."""

    name: str
    torch_forward: Callable[[Any], Any]
    torch_vjp: Callable[[Any, Any], Any]
    jax_forward: Callable[[Any], Any]
    jax_vjp: Callable[[Any, Any], Any]
    inputs: np.ndarray


def _clamp_rule(name: str, at_bound: float) -> Rule:
    def torch_vjp(x: Any, g: Any) -> Any:
        return g * ((x.abs() < 1).to(g.dtype) + at_bound * (x.abs() == 1).to(g.dtype))

    def jax_vjp(x: Any, g: Any) -> Any:
        return g * ((jnp.abs(x) < 1) + at_bound * (jnp.abs(x) == 1)).astype(g.dtype)

    return Rule(name, lambda x: torch.clamp(x, -1.0, 1.0), torch_vjp, lambda x: jnp.clip(x, -1.0, 1.0), jax_vjp, CLAMP_INPUTS)


RULES: tuple[Rule, ...] = (
    Rule("softplus", torch.nn.functional.softplus, lambda x, g: g * torch.sigmoid(x),
         jax.nn.softplus, lambda x, g: g * jax.nn.sigmoid(x), SMOOTH_INPUTS),
    Rule("x·sin x", lambda x: x * torch.sin(x), lambda x, g: g * (torch.sin(x) + x * torch.cos(x)),
         lambda x: x * jnp.sin(x), lambda x, g: g * (jnp.sin(x) + x * jnp.cos(x)), SMOOTH_INPUTS),
    Rule("logsumexp", lambda x: torch.logsumexp(x, 0), lambda x, g: g * torch.softmax(x, 0),
         lambda x: jax.nn.logsumexp(x), lambda x, g: g * jax.nn.softmax(x), SMOOTH_INPUTS),
    Rule("swish", lambda x: x * torch.sigmoid(x),
         lambda x, g: g * (torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x)))),
         lambda x: x * jax.nn.sigmoid(x), lambda x, g: g * (jax.nn.sigmoid(x) * (1 + x * (1 - jax.nn.sigmoid(x)))),
         SMOOTH_INPUTS),
    Rule("tanh", torch.tanh, lambda x, g: g * (1 - torch.tanh(x) ** 2),
         jnp.tanh, lambda x, g: g * (1 - jnp.tanh(x) ** 2), SMOOTH_INPUTS),
    # ‖x‖ with x / max(‖x‖, tiny): 0 at x = 0, a subgradient (the subdifferential there is the unit ball).
    Rule("norm", lambda x: torch.sqrt(torch.sum(x * x)),
         lambda x, g: g * x / torch.clamp_min(torch.sqrt(torch.sum(x * x)), torch.finfo(x.dtype).tiny),
         lambda x: jnp.sqrt(jnp.sum(x * x)),
         lambda x, g: g * x / jnp.maximum(jnp.sqrt(jnp.sum(x * x)), jnp.finfo(x.dtype).tiny), SMOOTH_INPUTS),
    _clamp_rule("clamp, ½ at bounds", 0.5),
    _clamp_rule("clamp, 1 at bounds", 1.0),
)

#: Mutations of a backward's result (a torch tensor or jax array): name -> function of the gradient.
MUTATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "sign flipped": lambda grad, module: -grad,
    "one entry ×(1+1e-4)": lambda grad, module: grad * module.asarray([1 + 1e-4] + [1.0] * 4, dtype=grad.dtype),
    "one entry ×(1+1e-6)": lambda grad, module: grad * module.asarray([1 + 1e-6] + [1.0] * 4, dtype=grad.dtype),
}


def torch_function(rule: Rule, mutation: Callable[[Any, Any], Any] | None) -> Callable[..., Any]:
    """The rule as a torch.autograd.Function (its ``apply``), the backward mutated if asked."""

    class Custom(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x)
            return rule.torch_forward(x)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            (x,) = ctx.saved_tensors
            result = rule.torch_vjp(x, grad)
            return mutation(result, torch) if mutation else result

    Custom.__name__ = Custom.__qualname__ = rule.name
    return Custom.apply


def jax_function(rule: Rule, mutation: Callable[[Any, Any], Any] | None) -> Callable[..., Any]:
    """The rule as a jax.custom_vjp function, the backward mutated if asked."""
    custom = jax.custom_vjp(rule.jax_forward)

    def backward(x: Any, grad: Any) -> tuple[Any]:
        result = rule.jax_vjp(x, grad)
        return (mutation(result, jnp) if mutation else result,)

    custom.defvjp(lambda x: (custom(x), x), backward)
    return custom


def _kink_mutants() -> list[Rule]:
    """Rules wrong only where they are not differentiable: a clamp's bounds, the norm at 0 (x / ‖x‖ is NaN there)."""
    naive_norm = Rule("norm: x / ‖x‖, NaN at 0", RULES[5].torch_forward, lambda x, g: g * x / torch.sqrt(torch.sum(x * x)),
                      RULES[5].jax_forward, lambda x, g: g * x / jnp.sqrt(jnp.sum(x * x)), SMOOTH_INPUTS)
    return [_clamp_rule("clamp: 2 at bounds", 2.0), naive_norm]


def run_gradcheck(fn: Callable[..., Any], x: np.ndarray, dtype: str) -> bool:
    tensor = torch.tensor(x.astype(dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns about float32 inputs, and then checks them
        try:
            return bool(torch.autograd.gradcheck(fn, (tensor,), raise_exception=False))
        except Exception:
            return False


def run_check_grads(fn: Callable[..., Any], x: np.ndarray, dtype: str) -> bool:
    with jax.enable_x64(True):
        try:
            check_grads(fn, (jnp.asarray(x.astype(dtype)),), order=1, modes=["rev"])
            return True
        except AssertionError:
            return False


def run_verigrad(fn: Callable[..., Any], x: np.ndarray, engine: str, dtype: str, examples: int, seed: int) -> tuple[bool, str]:
    result = check_function(fn, (x,), engine, dtypes=[dtype], properties=["vjp"], examples=examples, seed=seed)
    verdict = result.verdicts[0]
    detail = verdict.diagnosis["kind"] if verdict.diagnosis else (
        f"t = {verdict.convention:g}" if verdict.convention is not None else "")
    return verdict.status == "pass", detail


def corpus() -> list[tuple[str, Rule, str | None, bool]]:
    """(label, rule, mutation name or None, correct?) for every rule of the corpus."""
    rows = [(rule.name, rule, None, True) for rule in RULES]
    rows += [(f"{rule.name}: {m}", rule, m, False) for rule in RULES[:6] for m in MUTATIONS]
    rows += [(rule.name, rule, None, False) for rule in _kink_mutants()]
    return rows


def measure(examples: int, seed: int) -> list[dict[str, Any]]:
    results = []
    for label, rule, mutation_name, correct in corpus():
        mutation = MUTATIONS.get(mutation_name) if mutation_name else None
        for framework, make, anchor, anchor_name in (("torch", torch_function, run_gradcheck, "gradcheck"),
                                                     ("jax", jax_function, run_check_grads, "check_grads")):
            fn = make(rule, mutation)
            for dtype in ("float64", "float32"):
                started = time.perf_counter()
                passed, detail = run_verigrad(fn, rule.inputs, framework, dtype, examples, seed)
                verigrad_seconds = time.perf_counter() - started
                started = time.perf_counter()
                anchor_passed = anchor(fn, rule.inputs, dtype)
                anchor_seconds = time.perf_counter() - started
                results.append({"rule": label, "framework": framework, "dtype": dtype, "correct": correct,
                                "at_kink": "clamp" in label or "at 0" in label, "verigrad_passed": passed, "verigrad_detail": detail,
                                "verigrad_seconds": verigrad_seconds, "anchor": anchor_name,
                                "anchor_passed": anchor_passed, "anchor_seconds": anchor_seconds})
                print(f"{label:32} {framework:5} {dtype:7} correct={correct!s:5} verigrad={'pass' if passed else 'FAIL'} "
                      f"({detail}) {verigrad_seconds:.2f}s  {anchor_name}={'pass' if anchor_passed else 'FAIL'}", flush=True)
    return results


def false_failure_sweep(seeds: list[int], examples: int) -> list[dict[str, Any]]:
    """The correct rules only, in float32, under more seeds and examples: verigrad's false failures, if any."""
    rows = []
    for seed in seeds:
        for rule in RULES:
            for framework, make in (("torch", torch_function), ("jax", jax_function)):
                passed, detail = run_verigrad(make(rule, None), rule.inputs, framework, "float32", examples, seed)
                rows.append({"rule": rule.name, "framework": framework, "seed": seed, "passed": passed, "detail": detail})
    return rows


def summarize(results: list[dict[str, Any]]) -> list[list[Any]]:
    """Per tool and dtype: detections of wrong rules, false failures of correct ones, median time per function."""
    rows = []
    for tool, key, seconds in (("verigrad", "verigrad_passed", "verigrad_seconds"), ("anchor", "anchor_passed", "anchor_seconds")):
        for framework in ("torch", "jax"):
            for dtype in ("float64", "float32"):
                chosen = [r for r in results if r["framework"] == framework and r["dtype"] == dtype]
                wrong = [r for r in chosen if not r["correct"]]
                right = [r for r in chosen if r["correct"]]
                name = "verigrad" if tool == "verigrad" else chosen[0]["anchor"]
                rows.append([name, framework, dtype, f"{sum(not r[key] for r in wrong)} / {len(wrong)}",
                             f"{sum(not r[key] for r in right)} / {len(right)}",
                             float(np.median([r[seconds] for r in chosen]))])
    return rows


def _failed(rows: list[dict[str, Any]], key: str) -> str:
    return f"{sum(not r[key] for r in rows)} / {len(rows)}"


def by_mutation(results: list[dict[str, Any]]) -> list[list[Any]]:
    """Which kinds of mistake each tool catches, per dtype (both frameworks together)."""
    kinds = [("correct, smooth", lambda r: r["correct"] and not r["at_kink"]),
             ("correct, at a kink", lambda r: r["correct"] and r["at_kink"])]
    kinds += [(m, lambda r, m=m: r["rule"].endswith(m)) for m in MUTATIONS]
    kinds += [(rule.name, lambda r, name=rule.name: r["rule"] == name) for rule in _kink_mutants()]
    rows = []
    for kind, belongs in kinds:
        for dtype in ("float64", "float32"):
            chosen = [r for r in results if belongs(r) and r["dtype"] == dtype]
            torch_rows = [r for r in chosen if r["framework"] == "torch"]
            jax_rows = [r for r in chosen if r["framework"] == "jax"]
            rows.append([kind, dtype, _failed(chosen, "verigrad_passed"), _failed(torch_rows, "anchor_passed"),
                         _failed(jax_rows, "anchor_passed")])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=20, help="drawn points per check after the user's inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep-seeds", type=int, default=3, help="seeds of the float32 false-failure sweep (0: none)")
    parser.add_argument("--sweep-examples", type=int, default=60, help="drawn points per check in the sweep")
    args = parser.parse_args()
    started = time.time()
    results = measure(args.examples, args.seed)
    sweep = false_failure_sweep(list(range(args.seed + 1, args.seed + 1 + args.sweep_seeds)), args.sweep_examples)
    summary = summarize(results)
    mistakes = by_mutation(results)
    float32_false = sum(1 for r in results if r["correct"] and r["dtype"] == "float32" and not r["verigrad_passed"])
    tiny = [r for r in results if r["rule"].endswith("×(1+1e-6)") and r["dtype"] == "float64"]
    gradcheck_1e4 = [r for r in results if r["rule"].endswith("×(1+1e-4)") and r["dtype"] == "float64" and r["framework"] == "torch"]
    goals = [
        ["no false failure in float32 (verigrad)", "0", str(float32_false), "met" if float32_false == 0 else "missed"],
        ["single-entry relative error 1e-6 caught in float64 (verigrad)", f"{len(tiny)} / {len(tiny)}",
         f"{sum(not r['verigrad_passed'] for r in tiny)} / {len(tiny)}",
         "met" if all(not r["verigrad_passed"] for r in tiny) else "missed"],
        [f"float32 sweep: correct rules × {args.sweep_seeds} more seeds × {args.sweep_examples} points", "0 failed",
         f"{sum(not r['passed'] for r in sweep)} of {len(sweep)} failed", "met" if all(r["passed"] for r in sweep) else "missed"],
        ["gradcheck on a single-entry relative error 1e-4, float64", "(reported)",
         f"{sum(not r['anchor_passed'] for r in gradcheck_1e4)} / {len(gradcheck_1e4)} caught", "measured"],
    ]
    text = "\n\n".join([
        "# Custom gradient rules: verigrad beside gradcheck and check_grads",
        f"`python benchmarks/bench_custom_rules.py --examples {args.examples} --seed {args.seed}` — "
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {time.time() - started:.0f} s; {machine()}.",
        "Corpus: 8 correct rules (6 smooth, 2 clamps checked at their bounds with derivative ½ and 1 there) and 20 wrong "
        "ones (each smooth rule with its sign flipped, one entry off by a relative 1e-4, or by 1e-6; a clamp with "
        "derivative 2 at its bounds; the norm's naive x / ‖x‖, NaN at x = 0), each as a torch.autograd.Function and a jax.custom_vjp rule, in float64 and float32. "
        "verigrad checks the VJP at the rule's inputs and at drawn points near them; gradcheck and check_grads (order 1, "
        "reverse mode) at the rule's inputs, at their default tolerances.",
        "## Goals", table(["goal", "wanted", "measured", "met?"], goals),
        "## Detections and false failures",
        table(["tool", "framework", "dtype", "wrong rules caught", "correct rules failed", "median time per function (s)"], summary),
        "## By kind of mistake (rules failed / rules)",
        table(["rules", "dtype", "verigrad", "gradcheck (torch)", "check_grads (jax)"], mistakes),
        "## Every rule",
        table(["rule", "framework", "dtype", "correct", "verigrad", "diagnosis / convention", "anchor", "anchor"],
              [[r["rule"], r["framework"], r["dtype"], r["correct"], "pass" if r["verigrad_passed"] else "fail",
                r["verigrad_detail"], r["anchor"], "pass" if r["anchor_passed"] else "fail"] for r in results]),
    ])
    out = ROOT / "benchmarks" / "results"
    (out / "custom_rules.md").write_text(text + "\n", encoding="utf-8")
    (out / "custom_rules.json").write_text(json.dumps({"examples": args.examples, "seed": args.seed, "results": results, "float32_sweep": sweep},
                                                      indent=1) + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
