"""Run-wide settings of this repository's own test suite."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile

import pytest

#: JAX's persistent compilation cache, one empty directory per run, shared by the xdist workers: each worker
#: otherwise compiles the same eager ops for the same shapes (measured on the engine checks, the contract and the
#: root-cause tests, two workers: 42.3 s -> 38.3 s wall, 69 s -> 62 s CPU).  The run stays cold: nothing outlives it.
JAX_CACHE = {"JAX_COMPILATION_CACHE_DIR": "", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
             "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def pytest_configure(config: pytest.Config) -> None:
    """In the controlling process, before any worker starts or jax is imported: the run's own JAX cache."""
    if hasattr(config, "workerinput") or any(os.environ.get(name) for name in JAX_CACHE):
        return  # a worker inherits the controller's; a cache the caller chose is kept
    directory = tempfile.mkdtemp(prefix="verigrad-jax-cache-")
    config._verigrad_jax_cache = directory
    os.environ.update({**JAX_CACHE, "JAX_COMPILATION_CACHE_DIR": directory})


def pytest_unconfigure(config: pytest.Config) -> None:
    directory = getattr(config, "_verigrad_jax_cache", None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
        for name in JAX_CACHE:
            os.environ.pop(name, None)


def pytest_collectstart(collector: pytest.Collector) -> None:
    """No cyclic garbage collection while this process collects the tests (an xdist controller does not).

    Collection imports every engine (jax, torch, tinygrad, mlx, autograd's scipy, sympy): millions of objects
    that live until the process ends, which the collector walks again and again as they arrive (11 % of the
    imports' time, measured). ``pytest_collection_finish`` freezes them and turns the collector back on.
    """
    if isinstance(collector, pytest.Session):
        gc.disable()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze the heap collection built (jax, torch, tinygrad, sympy, the items) out of the garbage collector.

    Those objects live until the process ends, yet every full collection walked
    them again: pytest's five collections at exit alone cost each xdist worker
    about 3 s.  Garbage made by the tests themselves is collected as before, in
    young collections every 20 000 allocations instead of 700: the collector ran
    5 600 times per worker (5.0 s, 4.1 s of it full collections walking the tests'
    caches: compiled programs, sympy's); now 2 200 times, 3.4 s (measured, session 12).
    """
    gc.freeze()
    gc.enable()
    gc.set_threshold(20_000, 10, 10)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Collect the tests' garbage once, then freeze what survives, before pytest's own collections at exit.

    pytest's unraisable-exception cleanup runs five full collections after the session, each walking every
    object the tests left alive (jax's and torch's caches, compiled kernels): about 2.5 s per xdist worker, spent
    after its last test (measured). One collection here still finalizes the garbage, so an exception raised in a
    finalizer is reported as before; the survivors are live for good, and frozen they are not walked again.
    """
    gc.collect()
    gc.freeze()
