"""verigrad's reference: the catalog's cases and their closed-form derivatives, in pure numpy.

``CASES`` is the single table (``reference.cases``); ``ERRATA`` lists the paper's
mistakes with counterexamples (``reference.errata``).  This package imports
numpy and nothing else.
"""

from verigrad.reference.cases import CASES, CASES_BY_ID, get_case
from verigrad.reference.errata import ERRATA, ERRATA_BY_ID, Erratum, demonstrate
from verigrad.reference.jacobian import Structure, StructuredJacobian
from verigrad.reference.shapes import resolve_shape
from verigrad.reference.spec import NONZERO, NONZERO_MIN_ABS, REAL, TRANSCENDENTAL, Arg, Case, Kink, Partial, Point

__all__ = [
    "CASES",
    "CASES_BY_ID",
    "ERRATA",
    "ERRATA_BY_ID",
    "NONZERO",
    "NONZERO_MIN_ABS",
    "REAL",
    "TRANSCENDENTAL",
    "Arg",
    "Case",
    "Erratum",
    "Kink",
    "Partial",
    "Point",
    "Structure",
    "StructuredJacobian",
    "demonstrate",
    "get_case",
    "resolve_shape",
]
