"""Symbolic shapes: ``("N", "n")`` or ``("n+1",)`` resolved against concrete sizes."""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from functools import lru_cache

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def _evaluate(node: ast.AST, sizes: Mapping[str, int]) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Name):
        return int(sizes[node.id])
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left, sizes), _evaluate(node.right, sizes))
    raise ValueError(f"unsupported size expression {ast.dump(node)}")


@lru_cache(maxsize=256)
def _parse(dim: str) -> ast.expr:
    """The expression tree of one dimension (cached: shapes are resolved for every example)."""
    return ast.parse(dim, mode="eval").body


def resolve_shape(shape: tuple[str | int, ...], sizes: Mapping[str, int]) -> tuple[int, ...]:
    """Concrete shape of a symbolic one, e.g. ``("n+1",)`` with n = 3 gives ``(4,)``."""
    return tuple(
        dim if isinstance(dim, int) else _evaluate(_parse(dim), sizes)
        for dim in shape
    )


def symbols(shape: tuple[str | int, ...]) -> set[str]:
    """The size names a symbolic shape uses."""
    names: set[str] = set()
    for dim in shape:
        if isinstance(dim, str):
            names |= {n.id for n in ast.walk(_parse(dim)) if isinstance(n, ast.Name)}
    return names
