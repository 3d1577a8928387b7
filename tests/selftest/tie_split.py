"""A max of a whole array written by hand: test data for the tests of ties (property checks and --scale)."""

from __future__ import annotations

import numpy as np


class TieSplit:
    """The VJP gives each of the k tied maxima ``mass / k`` (mass 1: a subgradient; 2: not); the JVP follows the first tie."""

    name = "tie-split"
    xp = np

    def __init__(self, mass: float) -> None:
        self.mass = mass

    def vjp(self, fn, primals, cotangent):
        (x,) = primals
        tied = x == np.max(x)
        return ((tied * (self.mass / np.sum(tied)) * np.asarray(cotangent, np.float64)).astype(x.dtype),)

    def jvp(self, fn, primals, tangents):
        return np.asarray(np.ravel(tangents[0])[np.argmax(primals[0])])
