"""Which check exposes each deliberately broken engine, and the diagnosis verigrad must give it.

:data:`MUTANTS` is the one table: mutant name -> (factory, the diagnosis verigrad
must give, the check that exposes it).  A check is named by property, case,
subject (an argument, or ``"a+b"`` for an aliased pair) and dtype; the case is
where the mutation is observable (a transposed Jacobian needs a non-symmetric
one; a missing aliased term needs partials that differ), not something the mutant
itself looks at.  :data:`FAMILY_CATCHES` adds more checks per
mutant, one per family beyond the seed.  The engines are the product's (``verigrad.oracles.mutants``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pytest

from verigrad.oracles.mutants import (
    BroadcastAxisNotReduced,
    BroadcastNotReduced,
    DoubleCounted,
    Downcast,
    Float32Inside,
    ForwardOverflows,
    Hangs,
    HangsAboveSize,
    JvpOnlyWrong,
    KinkOutside,
    LeaksOffDiagonal,
    MeanWithoutOneOverN,
    MissingTerm,
    MutantEngine,
    MutatesInputs,
    NaNAtZero,
    Nondeterministic,
    NonFinite,
    OverwritesAliased,
    Raises,
    RelativeError,
    ReturnsFloat,
    ReturnsList,
    ReturnsNone,
    ScaleByInverseSize,
    ScaleBySize,
    ScaleHalf,
    ScaleTwo,
    TieCountInDtype,
    TiesTakeAll,
    Transposed,
    TransposedWhenSquare,
    UnchosenBranchLeaks,
    Upcast,
    Vanishes,
    WrongShape,
    WrongSign,
)


class Catch(NamedTuple):
    """A check that exposes a mutant: property, case, subject (argument or "a+b" pair), dtype, time limit."""

    property: str
    case: str
    subject: str
    dtype: str = "float64"
    timeout: float | None = None

    @property
    def arg(self) -> str | None:
        return None if "+" in self.subject or self.subject == "all" else self.subject

    @property
    def pair(self) -> tuple[str, str] | None:
        if "+" not in self.subject:
            return None
        first, second = self.subject.split("+")
        return first, second


class Mutant(NamedTuple):
    """One row of :data:`MUTANTS`."""

    factory: Callable[..., MutantEngine]
    kind: str
    catch: Catch

    @property
    def spec(self) -> str:
        """The ``module:attribute`` that ``oracles.load_engine`` (and ``--engine``) accepts."""
        return f"{self.factory.__module__}:{self.factory.__qualname__}"


_VJP_MUL = Catch("vjp", "elementwise.mul", "w")

#: mutant name -> (factory, expected diagnosis kind, the check that catches it).
MUTANTS: dict[str, Mutant] = {
    f"mutant-{cls.label}": Mutant(cls, kind, catch)
    for cls, kind, catch in (
        (WrongSign, "wrong_sign", _VJP_MUL),
        (ScaleTwo, "scaled", Catch("jvp", "jacobian.fg", "x")),
        (ScaleHalf, "scaled", Catch("vjp", "jacobian.fg", "y")),
        (ScaleBySize, "scaled", Catch("vjp", "chain.matvec_sin", "x")),
        (ScaleByInverseSize, "scaled", Catch("jvp", "chain.matvec_sin", "x")),
        (Transposed, "transposed", Catch("vjp", "chain.matvec_sin", "W")),
        (LeaksOffDiagonal, "structure", Catch("structure", "elementwise.mul", "w")),
        (MissingTerm, "missing_term", Catch("aliased", "elementwise.sub", "w+x")),
        (OverwritesAliased, "missing_term", Catch("aliased", "elementwise.div", "w+x")),
        (DoubleCounted, "double_counted", Catch("aliased", "elementwise.add", "w+x")),
        (KinkOutside, "outside_subdifferential", Catch("kink", "elementwise.max", "w")),
        (BroadcastNotReduced, "broadcast_not_reduced", Catch("vjp", "scalar_expansion.add", "z")),
        (Upcast, "dtype_changed", Catch("shape_dtype", "elementwise.mul", "all", "float32")),
        (Downcast, "dtype_changed", Catch("shape_dtype", "elementwise.mul", "all", "float64")),
        (Float32Inside, "precision", _VJP_MUL),
        (RelativeError, "precision", Catch("jvp", "elementwise.mul", "x")),
        (NonFinite, "non_finite", _VJP_MUL),
        (Nondeterministic, "nondeterministic", Catch("deterministic", "elementwise.mul", "all")),
        (MutatesInputs, "mutated_input", _VJP_MUL),
        (Raises, "engine_raised", _VJP_MUL),
        (ReturnsNone, "bad_return", _VJP_MUL),
        (ReturnsList, "bad_return", _VJP_MUL),
        (ReturnsFloat, "bad_return", Catch("jvp", "elementwise.mul", "w")),
        (WrongShape, "wrong_shape", _VJP_MUL),
        (Hangs, "timeout", Catch("vjp", "elementwise.mul", "w", timeout=0.5)),  # it never answers: any limit shows it
        # the families beyond the seed: each a bug the seed's shapes and cases let pass
        (TransposedWhenSquare, "transposed", Catch("vjp", "linalg.matmul", "A")),
        (MeanWithoutOneOverN, "scaled", Catch("vjp", "losses.mse_mean", "pred")),
        (HangsAboveSize, "timeout", Catch("vjp", "elementwise.mul", "w", timeout=1.0)),
        (TiesTakeAll, "outside_subdifferential", Catch("kink", "reduce.max_all", "X")),
        (BroadcastAxisNotReduced, "broadcast_not_reduced", Catch("vjp", "broadcast.col_plus_row", "a")),
        (NaNAtZero, "non_finite", Catch("vjp", "unary.cube", "x")),
        (UnchosenBranchLeaks, "non_finite", Catch("vjp", "select.where_nonfinite", "x")),
        (JvpOnlyWrong, "mode_mismatch", Catch("adjoint", "chain.matvec_sin", "x")),
        (Vanishes, "vanished", Catch("vjp", "losses.mse_mean", "pred")),
    )
}

#: More checks that catch a mutant, one per new family, with the diagnosis each must give:
#: (mutant name, kind, check).  The first catch of a mutant is its row in :data:`MUTANTS`.
FAMILY_CATCHES: tuple[tuple[str, str, Catch], ...] = (
    ("mutant-wrong-sign", "wrong_sign", Catch("vjp", "unary.tanh", "x")),
    ("mutant-wrong-sign", "wrong_sign", Catch("jvp", "select.where", "b")),
    ("mutant-scale-2", "scaled", Catch("vjp", "reduce.logsumexp", "X")),
    ("mutant-mean-without-1/N", "scaled", Catch("vjp", "reduce.mean", "X")),
    ("mutant-mean-without-1/N", "scaled", Catch("vjp", "reduce.mean_all", "X")),
    ("mutant-ties-take-all", "outside_subdifferential", Catch("kink", "reduce.min", "X")),
    ("mutant-transposed-when-square", "transposed", Catch("vjp", "linalg.transpose_matmul", "B")),
    ("mutant-broadcast-axis-not-reduced", "broadcast_not_reduced", Catch("vjp", "broadcast.col_plus_row", "b")),
    ("mutant-nan-at-zero", "non_finite", Catch("vjp", "unary.square", "x")),
    ("mutant-relative-error", "precision", Catch("vjp", "losses.softmax_xent", "Z")),
    ("mutant-scale-half", "scaled", Catch("vjp", "losses.mlp_relu", "W1")),
    # The libraries' own norm and std (optional vocabulary): their bounds grow near the kink, not elsewhere.
    ("mutant-scale-2", "scaled", Catch("vjp", "reduce.std_native", "X")),
    ("mutant-wrong-sign", "wrong_sign", Catch("jvp", "reduce.std_native", "X")),
    ("mutant-scale-half", "scaled", Catch("vjp", "reduce.norm2_native", "x")),
    ("mutant-scale-2", "scaled", Catch("jvp", "unary.sinc_native", "x")),
)


#: Mutants whose bug shows only on a large draw (``verigrad.oracles.mutants.LARGE_DRAW_MUTANTS``): name ->
#: (factory, the diagnosis, the case whose large float16 tied draw exposes it; vjp of its argument).
LARGE_DRAW_MUTANTS: dict[str, tuple[Callable[..., MutantEngine], str, str]] = {
    f"mutant-{TieCountInDtype.label}": (TieCountInDtype, "outside_subdifferential", "reduce.max_all"),
}


#: Mutants only the scale checks' value probe sees, their derivatives right
#: (``verigrad.oracles.mutants.SCALE_VALUE_MUTANTS``): name -> (the mutant's class, its arguments, the diagnosis,
#: the ``check_at_scale`` arguments that expose it; the engine is the one wrapped).
SCALE_VALUE_MUTANTS: dict[str, tuple[type[MutantEngine], dict[str, Any], str, dict[str, Any]]] = {
    f"mutant-{ForwardOverflows.label}": (ForwardOverflows, {"limit": 100}, "overflowed",
                                         {"case": "reduce.mean_all", "arg": "X", "dtype": "float16", "n": 1000, "seed": 1,
                                          "inputs": "equal"}),
}


def load_mutant(name: str, engine: Any = None) -> MutantEngine:
    """The mutant called ``name`` (e.g. "mutant-wrong-sign"), wrapping ``engine`` (default: torch)."""
    if name not in MUTANTS:
        raise KeyError(f"unknown mutant {name!r}; known: {', '.join(MUTANTS)}")
    return MUTANTS[name].factory(engine)


#: A self-test of a catch runs at the first failing example (the default run: a diagnosis must hold wherever a
#: bug shows) and shrunk, as a user gets it (with --verigrad-full, as .ci/run does). Shrinking is a fifth of the
#: default run's time; the default run tests it on its own (test_shrink.py, the mutant's reproduction).
SHRUNK_OR_NOT = [pytest.param(False, id="drawn"), pytest.param(True, id="shrunk", marks=pytest.mark.verigrad_full_only)]
