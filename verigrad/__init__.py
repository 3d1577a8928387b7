"""verigrad: a verified gradient test harness.

``check_function`` and ``assert_gradients`` (``verigrad.api``) are loaded on
first use, so that ``import verigrad`` (and ``verigrad.reference``, which
imports numpy only) stays light: the harness imports hypothesis.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FunctionResult", "assert_gradients", "check_function"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from verigrad import api

        return getattr(api, name)
    raise AttributeError(f"module 'verigrad' has no attribute {name!r}")
