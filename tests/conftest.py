"""Run-wide settings of this repository's own test suite."""

from __future__ import annotations

import gc

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze the heap collection built (jax, torch, tinygrad, sympy, the items) out of the garbage collector.

    Those objects live until the process ends, yet every full collection walked
    them again: pytest's five collections at exit alone cost each xdist worker
    about 3 s.  Garbage made by the tests themselves is collected as before.
    """
    gc.freeze()
