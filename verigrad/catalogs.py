"""Users' own cases beside the built-in catalog: ``verigrad check ENGINE --catalog mypkg.cases``.

A catalog module defines ``CASES``, a sequence of :class:`verigrad.reference.Case`
(the same type the built-in table uses; see ``reference/spec.py``).  Loading it
registers its cases, so every part of verigrad that looks a case up by id
(the runner, reproductions, the report) finds them.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from verigrad.reference import CASES_BY_ID, Case
from verigrad.reference.cases import register


class CatalogError(Exception):
    """A catalog module could not be loaded; the message says why in one line."""


def load_catalog(module_name: str) -> tuple[Case, ...]:
    """The cases of ``module_name`` (importable from the current directory), registered; CatalogError otherwise."""
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CatalogError(f"catalog {module_name!r}: cannot import it: {error}") from error
    cases = getattr(module, "CASES", None)
    if cases is None:
        raise CatalogError(f"catalog {module_name!r} defines no CASES (a sequence of verigrad.reference.Case)")
    cases = tuple(cases)
    wrong = [type(c).__name__ for c in cases if not isinstance(c, Case)]
    if wrong:
        raise CatalogError(f"catalog {module_name!r}: CASES must hold verigrad.reference.Case objects, found {', '.join(wrong)}")
    taken = [c.id for c in cases if c.id in CASES_BY_ID and CASES_BY_ID[c.id] is not c]
    if taken:
        raise CatalogError(f"catalog {module_name!r}: case ids already taken: {', '.join(taken)}")
    register(cases)
    return cases


def load_catalogs(module_names: list[str] | None) -> tuple[Case, ...]:
    """Every case of every named catalog, in order."""
    return tuple(case for name in module_names or [] for case in load_catalog(name))
