"""Batched VJPs (an experiment, opt-in, not used by default): every example of a check in one vectorized call.

A check calls ``engine.vjp`` once per example (40 under the ci profile).  For
engines that vectorize (``jax.vmap``, ``torch.func.vmap``) the examples that
share shapes and parameters can go through one call instead.  The verdict path
stays the one of :func:`verigrad.runner.run_check`: the examples are drawn
first (same seed, so the same sequence), their VJPs computed in batches, and
the ordinary hypothesis run then gets each example's VJP from that table
through :class:`ReplayEngine`.  An input not in the table (a shrunk
counterexample, another property's call) goes to the real engine, so a
failing example is still shrunk and reported alone, and a batch that raises
falls back to per-example calls.

Measured in ``benchmarks/bench_batching.py`` and ``docs/guide/test-selection.md``:
not a clear win, so :func:`run_check_batched` is not wired into the runner.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from verigrad import strategies as vs
from verigrad.checks import PROPERTIES
from verigrad.dtypes import as_dtype
from verigrad.records import Verdict
from verigrad.reference import get_case
from verigrad.runner import FUNCTIONS, PROFILES, CheckSpec, run_check
from verigrad.tolerance import PROBABILISTIC

#: A batched VJP: (engine, fn, stacked primals, stacked cotangents) -> stacked gradients, one per primal.
BatchedVjp = Callable[[Any, Callable[..., Any], tuple[np.ndarray, ...], np.ndarray], tuple[np.ndarray, ...]]


def _jax_batched_vjp(engine: Any, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangents: np.ndarray) -> tuple[np.ndarray, ...]:
    import jax

    key = ("batched-vjp", fn)
    compiled = BATCH_COMPILES.get(key)
    if compiled is None:

        def one(primals: tuple[Any, ...], cotangent: Any) -> tuple[Any, ...]:
            TRACES["jax"] += 1  # runs at trace time only
            out, pullback = jax.vjp(fn, *primals)
            return pullback(cotangent.astype(out.dtype).reshape(out.shape))

        compiled = BATCH_COMPILES[key] = jax.jit(jax.vmap(one))
    with jax.enable_x64(True):
        grads = compiled(primals, cotangents)
    return tuple(np.array(g, copy=True) for g in grads)


def _torch_batched_vjp(engine: Any, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangents: np.ndarray) -> tuple[np.ndarray, ...]:
    import torch

    def one(cotangent: Any, *primals: Any) -> tuple[Any, ...]:
        out, pullback = torch.func.vjp(lambda *p: torch.as_tensor(fn(*p)), *primals)
        return pullback(cotangent.to(out.dtype).reshape(out.shape))

    tensors = [torch.from_numpy(np.array(p, copy=True)) for p in primals]
    grads = torch.func.vmap(one)(torch.from_numpy(np.array(cotangents, copy=True)), *tensors)
    return tuple(np.array(g.detach().numpy(), copy=True) for g in grads)


#: Engines that opt in, by the name they give themselves.
BATCHED_VJP: dict[str, BatchedVjp] = {"jax": _jax_batched_vjp, "torch": _torch_batched_vjp}
#: Jitted batched programs, by (kind, fn).
BATCH_COMPILES: dict[tuple[str, Any], Any] = {}
#: How many times a batched jax program was traced: once per compile (a new shape or batch size).
TRACES = {"jax": 0}


def _key(primals: tuple[np.ndarray, ...], cotangent: np.ndarray) -> tuple[Any, ...]:
    """Bit-exact identity of one call's inputs (shape, dtype and bytes of each array)."""
    return tuple((a.shape, a.dtype.str, a.tobytes()) for a in (*map(np.asarray, primals), np.asarray(cotangent)))


class ReplayEngine:
    """An engine whose ``vjp`` answers from a table of precomputed results, and asks the real engine otherwise."""

    def __init__(self, engine: Any, table: dict[tuple[Any, ...], tuple[np.ndarray, ...]]) -> None:
        self._engine, self._table = engine, table
        self.name, self.xp = engine.name, engine.xp
        self.hits = 0

    def vjp(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        found = self._table.get(_key(primals, cotangent))
        if found is None:
            return self._engine.vjp(fn, primals, cotangent)
        self.hits += 1
        return tuple(g.copy() for g in found)

    def __getattr__(self, name: str) -> Any:  # jvp, evaluate, supported_dtypes, ...: the real engine's
        return getattr(self._engine, name)


def draw(spec: CheckSpec, profile: str, seed: int, max_examples: int | None = None) -> list[vs.Example]:
    """The examples a run of ``spec`` with this seed checks, in order (drawn with the runner's settings)."""
    case, prop = get_case(spec.case), PROPERTIES[spec.property]
    drawn: list[vs.Example] = []

    def collect(example: vs.Example) -> None:
        drawn.append(example)

    test = settings(
        max_examples=PROFILES[profile]["max_examples"] if max_examples is None else max_examples,
        database=None, deadline=None, print_blob=False, suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    )(given(prop.strategy(case, as_dtype(spec.dtype), spec.arg, spec.pair))(collect))
    test._hypothesis_internal_database_key = None
    hypothesis_seed(seed)(test)()
    return drawn


def batched_vjps(engine: Any, spec: CheckSpec, examples: list[vs.Example]) -> dict[tuple[Any, ...], tuple[np.ndarray, ...]]:
    """Each example's VJP, computed one batch per (parameters, shapes); a batch that raises is left out."""
    batched = BATCHED_VJP[engine.name]
    case = get_case(spec.case)
    names = case.arg_names
    batches: dict[tuple[Any, ...], list[vs.Example]] = {}
    for example in examples:
        signature = (tuple(sorted(example.params.items())), *((p.shape, p.dtype.str) for p in example.primals(names)))
        batches.setdefault(signature, []).append(example)
    table: dict[tuple[Any, ...], tuple[np.ndarray, ...]] = {}
    for members in batches.values():
        fn = FUNCTIONS.get(case, engine, members[0].params)
        primals = tuple(np.stack(column) for column in zip(*(m.primals(names) for m in members), strict=True))
        cotangents = np.stack([m.cotangent for m in members])
        try:
            grads = batched(engine, fn, primals, cotangents)
        except Exception:  # an engine that cannot batch this fn: its examples go one by one
            continue
        for k, member in enumerate(members):
            table[_key(member.primals(names), member.cotangent)] = tuple(g[k] for g in grads)
    return table


def run_check_batched(
    spec: CheckSpec, engine: Any, profile: str = "dev", *, seed: int | None = None, max_examples: int | None = None,
    timeout: float | None = None, mode: str = PROBABILISTIC, source: str | None = None,
) -> Verdict:
    """:func:`~verigrad.runner.run_check` with the VJPs of its examples computed in batches first (vjp checks only)."""
    if spec.property != "vjp" or engine.name not in BATCHED_VJP:
        return run_check(spec, engine, profile, seed=seed, max_examples=max_examples, timeout=timeout, mode=mode, source=source)
    seed = PROFILES[profile]["seed"] if seed is None else seed
    seed = secrets.randbits(64) if seed is None else seed
    table = batched_vjps(engine, spec, draw(spec, profile, seed, max_examples))
    return run_check(spec, ReplayEngine(engine, table), profile, seed=seed, max_examples=max_examples,
                     timeout=timeout, mode=mode, source=source or spec.engine)
