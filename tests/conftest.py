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


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze the heap collection built (jax, torch, tinygrad, sympy, the items) out of the garbage collector.

    Those objects live until the process ends, yet every full collection walked
    them again: pytest's five collections at exit alone cost each xdist worker
    about 3 s.  Garbage made by the tests themselves is collected as before.
    """
    gc.freeze()
