"""How deep the repository's tests prove the reference: the default run and full runs.

The default ``pytest`` proves every closed form symbolically at the sizes that
already tell every structure apart (n = 1..3, m and N = 1..2: a 2 × 3 matrix is
not square, a transpose shows), each closed form on its kinks at n, m, N = 1..2
(a kink's sides differ there already; every other kink of the point is taken on
both sides, so the work doubles with each), and samples 10 exact examples per
case; ``--verigrad-full`` (and ``.ci/run``) proves at n = 1..4, m and N = 1..3,
on kinks at n = 1..3, and samples 30.  ``tests/reference/conftest.py`` sets :data:`FULL` before the test
modules are imported.
"""

from __future__ import annotations

from verigrad import prove, symbolic

#: Set from ``--verigrad-full`` by the conftest, before collection.
FULL = False


def symbolic_sizes() -> dict[str, tuple[int, ...]]:
    """The size grid of the symbolic proofs."""
    return dict(symbolic.SYMBOLIC_SIZES) if FULL else dict(prove.KINK_SIZES)


def kink_sizes() -> dict[str, tuple[int, ...]]:
    """The size grid of the proofs on kinks."""
    return dict(prove.KINK_SIZES) if FULL else {"n": (1, 2), "m": (1, 2), "N": (1, 2)}


def exact_examples() -> int:
    """Hypothesis examples per case of the exact-arithmetic tests."""
    return 30 if FULL else 10
