"""Synthetic verdicts at full scale, for the report's benchmark and tests (no engine is run).

:func:`synthetic_run` plans every check of the case table for the given engines
(the real plan, real check ids) and invents plausible outcomes: mostly passes
with rounding-sized error distributions, some failures with a diagnosis, a
minimal counterexample of the right shapes, evidence and a reproduction
snippet, some expected failures and skips, and kink conventions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from verigrad.exhibits import fd_step_scan
from verigrad.records import FAIL, PASS, SKIP, Verdict

__all__ = ["ENGINES", "synthetic_run"]

ENGINES = ("jax", "torch", "fd", "autograd", "mygrad", "tinygrad")
_KINDS = ("wrong_sign", "scaled", "transposed", "missing_term", "precision", "structure", "engine_raised", "unclassified")
_SIZES = {"n": 2, "m": 3, "N": 4}


def _example(case: Any, dtype: np.dtype, rng: np.random.Generator) -> Any:
    from verigrad.reference import resolve_shape
    from verigrad.strategies import Example

    values = {a.name: np.asarray(np.round(rng.uniform(-3, 3, resolve_shape(a.shape, _SIZES)), 2), dtype=dtype) for a in case.args}
    params = {name: choices[0] for name, choices in case.params.items()}
    out = case.output_shape(_SIZES, params)
    cotangent = np.asarray(np.round(rng.uniform(-2, 2, out), 2), dtype=dtype)
    tangents = {name: np.zeros_like(v) for name, v in values.items()}
    return Example(values, params, cotangent, tangents, dict(_SIZES))


def synthetic_run(engines: tuple[str, ...] = ENGINES, *, seed: int = 0, fail_rate: float = 0.03, xfail_rate: float = 0.02,
                  skip_rate: float = 0.02, samples: int = 200) -> tuple[list[dict[str, Any]], list[Verdict]]:
    """A run header and one verdict per planned check (about 566 per engine)."""
    from verigrad import truth
    from verigrad.reference import get_case
    from verigrad.runner import counterexample, plan, reproduction

    rng = np.random.default_rng(seed)
    specs = plan(list(engines))
    verdicts = []
    for spec in specs:
        case = get_case(spec.case)
        dtype = np.dtype(spec.dtype)
        v = Verdict(spec.id, spec.property, spec.case, spec.subject, spec.engine, spec.dtype, PASS, mode="probabilistic")
        draw = rng.random()
        v.examples = samples
        scale = 10 ** rng.uniform(-4, -0.5)
        v.bound_fractions = [round(float(x), 6) for x in np.abs(rng.normal(0, scale, samples))]
        v.ulps = [round(float(x) * 40, 4) for x in v.bound_fractions]
        v.max_bound_fraction = max(v.bound_fractions)
        v.max_ulps = max(v.ulps)
        v.seconds = float(rng.uniform(0.01, 0.3))
        if spec.property == "kink":
            v.convention = float(rng.choice([0.0, 0.5, 1.0]))
        if draw < skip_rate:
            v.status, v.message = SKIP, f"{spec.engine} does not support {spec.dtype}"
            v.ulps, v.bound_fractions, v.examples = [], [], 0
        elif draw < skip_rate + fail_rate + xfail_rate:
            v.status = FAIL
            if draw >= skip_rate + fail_rate:
                v.expected, v.expectation_reason = FAIL, "known upstream bug (synthetic)"
            kind = str(rng.choice(_KINDS))
            example = _example(case, dtype, rng)
            arg = spec.arg if spec.arg in case.partials else case.differentiable_args[0]
            reference = truth.jacobian(case, arg, example.values, example.params).vjp(example.cotangent.astype(np.float64))
            engine_value = -reference if kind == "wrong_sign" else 2 * reference if kind == "scaled" else reference + 1e-3
            index = [0] * np.ndim(reference)
            v.diagnosis = {"kind": kind, "summary": f"synthetic {kind} failure", "index": index,
                           "reference": float(np.ravel(reference)[0]), "engine": float(np.ravel(engine_value)[0]), "details": {}}
            v.message = f"{kind}: synthetic failure; worst at index {index}"
            v.max_ulps, v.max_bound_fraction = 1e6, 1e4
            v.bound_fractions = [*v.bound_fractions[:20], 1e4]
            v.ulps = [*v.ulps[:20], 1e6]
            v.counterexample = counterexample(example)
            v.reproduction = reproduction(spec, example)
            v.evidence = {"engine": np.asarray(engine_value).tolist(), "reference": np.asarray(reference).tolist()}
            v.examples = 21
        verdicts.append(v)
    header = {
        "started": "2026-01-01T00:00:00+00:00",
        "command": "verigrad check --engines " + ",".join(engines) + " --profile ci --seed 0",
        "engines": list(engines),
        "seed": seed,
        "profile": "ci",
        "mode": "probabilistic",
        "examples": samples,
        "checks": len(specs),
        "versions": {"python": "3.11", "numpy": np.__version__, **{e: "synthetic" for e in engines}},
        "fd_steps": fd_step_scan(),
    }
    return [header], verdicts
