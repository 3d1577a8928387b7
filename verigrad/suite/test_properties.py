"""One test per property; the verigrad plugin parametrizes each by case × argument × engine × dtype.

Test ids read ``test_vjp[elementwise.mul-w-torch-float32]``.  A failure prints
the diagnosis, the worst element and a copy-paste reproduction.
"""

from verigrad.pytest_plugin import CheckRunner


def test_vjp(verigrad_check: CheckRunner) -> None:
    """uᵀJ matches the closed form within the rounding bound."""
    verigrad_check.assert_as_expected()


def test_jvp(verigrad_check: CheckRunner) -> None:
    """J v matches the closed form within the rounding bound."""
    verigrad_check.assert_as_expected()


def test_adjoint(verigrad_check: CheckRunner) -> None:
    """⟨u, J v⟩ from the JVP equals ⟨Jᵀu, v⟩ from the VJP."""
    verigrad_check.assert_as_expected()


def test_structure(verigrad_check: CheckRunner) -> None:
    """Element-wise Jacobians have exactly zero off-diagonal; the identity is exactly I."""
    verigrad_check.assert_as_expected()


def test_shape_dtype(verigrad_check: CheckRunner) -> None:
    """Gradients keep each primal's shape and dtype."""
    verigrad_check.assert_as_expected()


def test_deterministic(verigrad_check: CheckRunner) -> None:
    """Two identical calls give identical results."""
    verigrad_check.assert_as_expected()


def test_aliased(verigrad_check: CheckRunner) -> None:
    """The same array as both operands: the partials add up to the total derivative."""
    verigrad_check.assert_as_expected()


def test_equal_values(verigrad_check: CheckRunner) -> None:
    """Distinct arrays holding equal values: the partials add up to the total derivative."""
    verigrad_check.assert_as_expected()


def test_kink(verigrad_check: CheckRunner) -> None:
    """Exactly at a kink the value lies in the subdifferential; the convention is recorded."""
    verigrad_check.assert_as_expected()


def test_hvp(verigrad_check: CheckRunner) -> None:
    """H v (forward over reverse) matches the closed-form Hessian of a scalar-output case."""
    verigrad_check.assert_as_expected()


def test_hvp_modes(verigrad_check: CheckRunner) -> None:
    """Forward-over-reverse and reverse-over-reverse H v agree."""
    verigrad_check.assert_as_expected()
