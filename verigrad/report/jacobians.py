"""What the page draws for a failing check: its Jacobians at the counterexample, or the failing probe.

Both come from the verdict's record: the check stored the reference's and the
engine's full Jacobians (``evidence["jacobian"]``, see :mod:`verigrad.exhibits`)
when they were small enough to draw, and the failing probe vectors
(``evidence["engine"]``, ``evidence["reference"]``) always.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from verigrad.records import Verdict

__all__ = ["JacobianView", "failing_jacobian"]

#: Largest probe vector drawn.
MAX_PROBE = 64


@dataclass
class JacobianView:
    """What the page shows for one failing (case, argument, engine, dtype)."""

    kind: str  # "jacobian" (full matrices) or "probe" (the failing probe vectors)
    reference: np.ndarray
    engine: np.ndarray
    note: str = ""

    @property
    def difference(self) -> np.ndarray:
        return self.engine - self.reference


def _probe(verdict: Verdict, note: str) -> JacobianView | None:
    evidence = verdict.evidence or {}
    if "engine" not in evidence or "reference" not in evidence:
        return None
    engine = np.ravel(np.asarray(evidence["engine"], dtype=np.float64))
    reference = np.ravel(np.asarray(evidence["reference"], dtype=np.float64))
    if engine.shape != reference.shape or engine.size == 0 or engine.size > MAX_PROBE:
        return None
    return JacobianView("probe", reference[None, :], engine[None, :], note)


def failing_jacobian(verdict: Verdict) -> JacobianView | None:
    """The recorded Jacobians at the counterexample, else the failing probe vectors; None if neither is drawable."""
    exhibit = (verdict.evidence or {}).get("jacobian")
    if not exhibit:
        return _probe(verdict, "")
    if exhibit.get("engine") is None:
        return _probe(verdict, f"{exhibit.get('note', '')}: showing the failing probe instead of the full Jacobian")
    reference = np.asarray(exhibit["reference"], dtype=np.float64)
    engine = np.asarray(exhibit["engine"], dtype=np.float64)
    return JacobianView("jacobian", reference, engine, exhibit.get("note", ""))
