"""Structured Jacobians: a closed form stored in the smallest shape that holds it.

Numerator layout throughout: for y = f(x) with output shape ``out`` and argument
shape ``arg``, the dense Jacobian has shape ``out + arg`` and
``J[i..., j...] = dy[i...] / dx[j...]``.  Denominator layout is its transpose
(:meth:`StructuredJacobian.denominator`).

An element-wise case never needs an n x n matrix: its Jacobian is ``diagonal``
(one value per element) or the ``identity``.  A scalar output gives a ``row``
(the gradient, with the argument's shape), a scalar argument gives a ``column``
(with the output's shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Structure(StrEnum):
    """The sparsity pattern of a Jacobian, which decides how it is stored."""

    IDENTITY = "identity"  # exactly I (output shape == argument shape)
    DIAGONAL = "diagonal"  # diag(data), data has the argument's shape
    ROW = "row"  # scalar output: data is the gradient, the argument's shape
    COLUMN = "column"  # scalar argument: data has the output's shape
    SCALAR = "scalar"  # scalar output and scalar argument: data has shape ()
    DENSE = "dense"  # data has shape out + arg


@dataclass(frozen=True)
class StructuredJacobian:
    """A Jacobian in numerator layout, stored by its structure.

    ``out_shape`` and ``arg_shape`` are the shapes of the function's output and
    of the argument being differentiated.
    """

    structure: Structure
    data: np.ndarray | None
    out_shape: tuple[int, ...]
    arg_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        expected = data_shape(self.structure, self.out_shape, self.arg_shape)
        if expected is None:
            if self.data is not None:
                raise ValueError("an identity Jacobian carries no data")
        elif np.shape(self.data) != expected:
            raise ValueError(
                f"{self.structure.value} Jacobian for out {self.out_shape}, arg "
                f"{self.arg_shape} needs data of shape {expected}, got {np.shape(self.data)}"
            )

    def vjp(self, cotangent: np.ndarray) -> np.ndarray:
        """uᵀJ: a cotangent of the output's shape to one of the argument's shape."""
        u = np.asarray(cotangent)
        match self.structure:
            case Structure.IDENTITY:
                return u.copy()
            case Structure.DIAGONAL:
                return self.data * u
            case Structure.ROW:
                return self.data * u
            case Structure.COLUMN:
                return np.sum(self.data * u)
            case Structure.SCALAR:
                return self.data * u
            case Structure.DENSE:
                return np.tensordot(u, self.data, axes=len(self.out_shape))

    def jvp(self, tangent: np.ndarray) -> np.ndarray:
        """J v: a tangent of the argument's shape to one of the output's shape."""
        v = np.asarray(tangent)
        match self.structure:
            case Structure.IDENTITY:
                return v.copy()
            case Structure.DIAGONAL:
                return self.data * v
            case Structure.ROW:
                return np.sum(self.data * v)
            case Structure.COLUMN:
                return self.data * v
            case Structure.SCALAR:
                return self.data * v
            case Structure.DENSE:
                return np.tensordot(self.data, v, axes=len(self.arg_shape))

    def dense(self) -> np.ndarray:
        """The full Jacobian as a 2-D array of shape (out.size, arg.size)."""
        m, n = int(np.prod(self.out_shape)), int(np.prod(self.arg_shape))
        match self.structure:
            case Structure.IDENTITY:
                return np.eye(n)
            case Structure.DIAGONAL:
                return np.diag(np.ravel(self.data))
            case _:
                return np.reshape(self.data, (m, n))

    def denominator(self) -> np.ndarray:
        """The full Jacobian in denominator layout (the transpose of :meth:`dense`)."""
        return self.dense().T

    def abs(self) -> StructuredJacobian:
        """|J| element-wise, same structure (used to bound rounding errors)."""
        data = None if self.data is None else np.abs(self.data)
        return StructuredJacobian(self.structure, data, self.out_shape, self.arg_shape)


def data_shape(
    structure: Structure, out_shape: tuple[int, ...], arg_shape: tuple[int, ...]
) -> tuple[int, ...] | None:
    """The shape of a structured Jacobian's data (None for the identity)."""
    match structure:
        case Structure.IDENTITY:
            return None
        case Structure.DIAGONAL | Structure.ROW:
            return tuple(arg_shape)
        case Structure.COLUMN:
            return tuple(out_shape)
        case Structure.SCALAR:
            return ()
        case Structure.DENSE:
            return tuple(out_shape) + tuple(arg_shape)
    raise ValueError(f"unknown structure {structure!r}")
