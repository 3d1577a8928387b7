"""verigrad: a verified gradient test harness.

``check_function`` and ``assert_gradients`` (``verigrad.api``) and ``prove_case``
(``verigrad.prove``) are loaded on first use, so that ``import verigrad`` (and
``verigrad.reference``, which imports numpy only) stays light: the harness
imports hypothesis, the proofs sympy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CaseProof", "FunctionResult", "assert_gradients", "check_function", "prove_case"]

#: Where each public name lives.
_HOME = {"FunctionResult": "verigrad.api", "assert_gradients": "verigrad.api", "check_function": "verigrad.api",
         "CaseProof": "verigrad.prove", "prove_case": "verigrad.prove"}


def __getattr__(name: str) -> Any:
    if name in __all__:
        # Imported by name on first use: `from verigrad import strategies` (the check core) must not
        # pull in the API, which is a front end (it may write the report) -- nor appear to, to lint-imports.
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'verigrad' has no attribute {name!r}")
