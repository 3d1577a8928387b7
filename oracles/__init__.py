"""Everything that differentiates, behind one Engine protocol.

Oracles know no cases: an engine differentiates whatever function it is handed.
"""

from verigrad.oracles.protocol import (
    OPTIONAL_VOCABULARY,
    VOCABULARY,
    CastArray,
    Engine,
    EstimatedArray,
    error_estimate,
    in_dtype,
    native_dtype,
)
from verigrad.oracles.registry import BUILTIN_ENGINES, DEFAULT_ENGINES, LIBRARIES, EngineLoadError, load_engine

__all__ = [
    "BUILTIN_ENGINES",
    "DEFAULT_ENGINES",
    "LIBRARIES",
    "OPTIONAL_VOCABULARY",
    "VOCABULARY",
    "CastArray",
    "Engine",
    "EngineLoadError",
    "EstimatedArray",
    "error_estimate",
    "in_dtype",
    "load_engine",
    "native_dtype",
]
