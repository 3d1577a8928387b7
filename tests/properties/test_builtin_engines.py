"""The property suite over the built-in engines (jax, torch, fd by default; ``--engine`` to choose).

The tests themselves live in the installed package (``verigrad.suite``) so that a
user runs exactly the same suite against their own engine.
"""

from verigrad.suite.test_properties import (  # noqa: F401  (collected by pytest)
    test_adjoint,
    test_aliased,
    test_deterministic,
    test_equal_values,
    test_hvp,
    test_hvp_modes,
    test_jvp,
    test_kink,
    test_shape_dtype,
    test_structure,
    test_vjp,
)
