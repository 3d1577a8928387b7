"""Finding engines by name: built-in short names, or ``module:attribute`` for anyone's engine."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

from verigrad.oracles.protocol import Engine

#: Built-in engines: short name -> "module:attribute" of a zero-argument factory.
BUILTIN_ENGINES: dict[str, str] = {
    "jax": "verigrad.oracles.jax_engine:JaxEngine",
    "torch": "verigrad.oracles.torch_engine:TorchEngine",
    "fd": "verigrad.oracles.fd:FiniteDifferences",
    "autograd": "verigrad.oracles.autograd_engine:AutogradEngine",
    "mygrad": "verigrad.oracles.mygrad_engine:MygradEngine",
    "tinygrad": "verigrad.oracles.tinygrad_engine:TinygradEngine",
    "mlx": "verigrad.oracles.mlx_engine:MlxEngine",
    # Compiled execution beside its eager partner (oracles/compiled.py); torch-compile needs a C++ compiler.
    "jax-jit": "verigrad.oracles.compiled:JaxJitEngine",
    "jax-eager": "verigrad.oracles.compiled:JaxEagerEngine",
    "torch-compile": "verigrad.oracles.compiled:TorchCompileEngine",
    "tinygrad-eager": "verigrad.oracles.compiled:TinygradEagerEngine",
}

#: Compiled engine -> its eager partner: the summary shows the two side by side when a run has both.
EAGER_PARTNERS: dict[str, str] = {"jax-jit": "jax-eager", "torch-compile": "torch", "tinygrad": "tinygrad-eager"}

#: The library each built-in engine wraps (its version goes in a run's records).
LIBRARIES: dict[str, str] = {
    "jax": "jax",
    "torch": "torch",
    "fd": "numpy",
    "autograd": "autograd",
    "mygrad": "mygrad",
    "tinygrad": "tinygrad",
    "mlx": "mlx",
    "jax-jit": "jax",
    "jax-eager": "jax",
    "torch-compile": "torch",
    "tinygrad-eager": "tinygrad",
}

#: The engines `verigrad check` runs when none is named (the issue's "built-in engines").
DEFAULT_ENGINES: tuple[str, ...] = ("jax", "torch", "fd")


class EngineLoadError(Exception):
    """An engine could not be loaded; the message says why in one line."""


def load_engine(spec: str, **options: Any) -> Engine:
    """Load a built-in engine by name, or ``module:attribute`` naming an engine
    instance, class, or zero-argument factory (importable from the current directory).

    ``options`` (e.g. ``device="cuda"``) go to the class or factory.
    """
    target = BUILTIN_ENGINES.get(spec, spec)
    if ":" not in target:
        raise EngineLoadError(
            f"unknown engine {spec!r}: use one of {', '.join(BUILTIN_ENGINES)} or module:attribute"
        )
    module_name, _, attribute = target.partition(":")
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise EngineLoadError(f"engine {spec!r}: cannot import {module_name!r}: {error}") from error
    except Exception as error:  # the user's module raised while importing
        raise EngineLoadError(f"engine {spec!r}: importing {module_name!r} raised {type(error).__name__}: {error}") from error
    try:
        obj: Any = getattr(module, attribute)
    except AttributeError:
        raise EngineLoadError(f"engine {spec!r}: module {module_name!r} has no attribute {attribute!r}") from None
    if inspect.isclass(obj) or (callable(obj) and not _looks_like_engine(obj)):
        try:
            obj = obj(**options)
        except TypeError as error:
            if options:
                raise EngineLoadError(f"engine {spec!r} does not take {', '.join(options)}: {error}") from error
            raise EngineLoadError(f"engine {spec!r}: constructing it raised TypeError: {error}") from error
        except Exception as error:
            raise EngineLoadError(f"engine {spec!r}: constructing it raised {type(error).__name__}: {error}") from error
    elif options:
        raise EngineLoadError(f"engine {spec!r} is an instance: it cannot take {', '.join(options)}")
    missing = [name for name in ("name", "xp", "vjp", "jvp") if not hasattr(obj, name)]
    if missing:
        raise EngineLoadError(f"engine {spec!r} does not follow the Engine protocol: missing {', '.join(missing)}")
    if not callable(obj.vjp) or not callable(obj.jvp):
        raise EngineLoadError(f"engine {spec!r}: vjp and jvp must be methods")
    return obj


def _looks_like_engine(obj: Any) -> bool:
    return all(hasattr(obj, name) for name in ("name", "xp", "vjp", "jvp"))
