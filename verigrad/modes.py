"""Which mode is wrong when an engine's VJP and JVP disagree.

The adjoint property compares ⟨u, J v⟩ from the engine's JVP with ⟨Jᵀu, v⟩ from
its VJP: a failure says the two modes disagree, not which one is wrong.  The
closed form settles it: uᵀ J v from the reference, with each side's own bound
(the JVP's rounding bound applied to |u|, the VJP's to |v|).  "JVP wrong, VJP
right" is the evidence an engine author can act on (look at the forward rule).
At a kink any share t ∈ [0, 1] is correct, so a side matches when it lies
within its bound of the interval the reference spans between t = 0 and t = 1.
"""

from __future__ import annotations

from verigrad.diagnosis import Diagnosis


def _within(value: float, low: float, high: float, bound: float) -> bool:
    return low - bound <= value <= high + bound


def diagnose_mode_mismatch(
    jvp_side: float, vjp_side: float, reference: tuple[float, float], jvp_bound: float, vjp_bound: float
) -> Diagnosis | None:
    """"mode_mismatch" naming the wrong mode when exactly one side matches the reference, else None."""
    low, high = min(reference), max(reference)
    jvp_ok = _within(jvp_side, low, high, jvp_bound)
    vjp_ok = _within(vjp_side, low, high, vjp_bound)
    if jvp_ok == vjp_ok:
        return None
    wrong, right = ("VJP", "JVP") if jvp_ok else ("JVP", "VJP")
    wrong_value = vjp_side if jvp_ok else jvp_side
    right_value = jvp_side if jvp_ok else vjp_side
    exact = reference[0] if low == high else f"[{low!r}, {high!r}]"
    return Diagnosis(
        "mode_mismatch",
        f"{wrong} wrong, {right} right: uᵀJv = {exact} from the closed form; the {right} gives {right_value!r} "
        f"(within its bound), the {wrong} gives {wrong_value!r}",
        reference=float(reference[0]), engine=float(wrong_value),
        details={"wrong": wrong.lower(), "right": right.lower()},
    )
