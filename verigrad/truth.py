"""The reference side of a comparison: closed forms evaluated at concrete inputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from verigrad.reference import Case, Point, StructuredJacobian
from verigrad.reference.jacobian import Structure


def sizes_of(case: Case, values: Mapping[str, np.ndarray]) -> dict[str, int]:
    """The symbolic sizes (n, m, N, ...) implied by concrete input arrays."""
    sizes: dict[str, int] = {}
    for arg in case.args:
        for dim, actual in zip(arg.shape, np.shape(values[arg.name]), strict=True):
            if isinstance(dim, str) and dim.isidentifier():
                sizes[dim] = int(actual)
    return sizes


def out_shape(case: Case, values: Mapping[str, np.ndarray], params: Mapping[str, Any] | None = None) -> tuple[int, ...]:
    """The output shape of the case at these inputs (and parameters, where a drawn axis shapes it)."""
    return case.output_shape(sizes_of(case, values), params)


def point(case: Case, values: Mapping[str, np.ndarray], params: Mapping[str, Any], t: float = 0.0, u: float = 0.0) -> Point:
    """A float64 :class:`Point` for the closed forms (float32 values convert exactly)."""
    arrays = {name: np.asarray(value, dtype=np.float64) for name, value in values.items()}
    return Point({**arrays, **params}, t=t, u=u)


def jacobian(
    case: Case, arg: str, values: Mapping[str, np.ndarray], params: Mapping[str, Any], t: float = 0.0, u: float = 0.0
) -> StructuredJacobian:
    """The closed-form Jacobian of ``case`` w.r.t. ``arg`` (numerator layout)."""
    return case.partials[arg].jacobian(point(case, values, params, t, u), out_shape(case, values, params), np.shape(values[arg]))


def magnitude(
    case: Case, arg: str, values: Mapping[str, np.ndarray], params: Mapping[str, Any], u: float = 0.0
) -> StructuredJacobian:
    """Entry-wise rounding-error magnitudes of that Jacobian (non-negative, same structure).

    Evaluated with the kink share t = 1, which includes every term a kink could switch on.
    """
    return case.partials[arg].magnitude_jacobian(
        point(case, values, params, 1.0, u), out_shape(case, values, params), np.shape(values[arg])
    )


def near_kink(case: Case, values: Mapping[str, np.ndarray], params: Mapping[str, Any], u: float, min_ops: float = 0) -> bool:
    """Whether some kink variable of ``case`` lies within its rounding blur of 0 (``max(ops, min_ops) · u · magnitude``)."""
    if case.kink is None:
        return False
    z, magnitude, ops = case.kink.locus(point(case, values, params, u=u))
    blur = np.broadcast_to(max(ops, min_ops) * u * np.asarray(magnitude, dtype=np.float64), np.shape(z))
    return bool(np.any(np.abs(np.asarray(z, dtype=np.float64)) <= blur))


def ops(case: Case, arg: str, values: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> float:
    """Roundings along one entry of the closed form, as the case declares."""
    return float(case.partials[arg].ops(point(case, values, params)))


def vjp_accumulation(structure: Structure, out_size: int) -> int:
    """Terms a VJP adds per result entry beyond the closed form's own (a sum over outputs)."""
    return out_size if structure in (Structure.COLUMN, Structure.DENSE) else 1


def jvp_accumulation(structure: Structure, arg_size: int) -> int:
    """Terms a JVP adds per result entry (a sum over the argument's elements)."""
    return arg_size if structure in (Structure.ROW, Structure.DENSE) else 1


def reference_vjp(case: Case, arg: str, primals: tuple[np.ndarray, ...], cotangent: np.ndarray, t: float = 0.0, **params: Any) -> np.ndarray:
    """uᵀ J for ``arg`` at ``primals`` (in the case's argument order), in float64."""
    values = dict(zip(case.arg_names, primals, strict=True))
    return jacobian(case, arg, values, params, t).vjp(np.asarray(cotangent, dtype=np.float64))


def reference_jvp(case: Case, arg: str, primals: tuple[np.ndarray, ...], tangent: np.ndarray, t: float = 0.0, **params: Any) -> np.ndarray:
    """J v for ``arg`` at ``primals`` (in the case's argument order), in float64."""
    values = dict(zip(case.arg_names, primals, strict=True))
    return jacobian(case, arg, values, params, t).jvp(np.asarray(tangent, dtype=np.float64))


class SharePoint(Point):
    """A :class:`Point` whose subgradient share is one value per kink variable (an array over z)."""

    def __init__(self, values: Mapping[str, Any], share: np.ndarray, u: float) -> None:
        super().__init__(values, t=0.0, u=u)
        self._share = share

    def step(self, z: np.ndarray, magnitude: Any = 0.0, ops: float = 0.0) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if self._share.size != z.size:
            raise ValueError("kink variable shape differs from the locus")
        blur = ops * self.u * np.asarray(magnitude, dtype=np.float64)
        return np.where(np.abs(z) <= blur, self._share.reshape(z.shape), (z > 0).astype(np.float64))
