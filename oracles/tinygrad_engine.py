"""tinygrad as a verigrad engine, on its CPU backend (kernels compiled with clang).

The device is named on every tensor (``device="CPU"``), and each call runs in a
``Context(DEV="CPU")`` (restored after it) rather than changing tinygrad's
process-wide default, so nothing leaks to other users of tinygrad.  The context
matters for the tensors tinygrad makes itself (a Python constant in ``x + 1.0``):
without it, the first one sends tinygrad to pick a default device by opening every
backend it ships (AMD, NV, CUDA, Metal, …), 0.9 s of a fresh process's first call
(measured), and to write its choice into ``os.environ``.
float32 and float64 both work on CPU; a dtype the CPU renderer cannot compile
raises ``TypeError`` naming it, never a wrong number.

tinygrad is reverse mode only (``Tensor.gradient``), so ``jvp`` is assembled
from vjps with basis cotangents: (J v)_i = Σ_k (e_iᵀ J_k) · v_k.  All rows come
from one forward graph and are realized in one schedule; only the final
contraction with v is numpy's, in float64, rounded once to the output dtype.

``TinygradEngine(jit=True)``, the default, runs every vjp and jvp through a
``TinyJit``: that is how tinygrad users run a training step, and it makes a
call 10-40x faster (a plain call schedules the graph anew, 4-40 ms; a replay
takes 0.2-1.5 ms).  One jit per (vjp or jvp, fn, primal shapes and dtypes,
cotangent shape), in an LRU of 256; ``fn`` is keyed by identity (the harness
binds each case once), so it must be pure.  A jit's inputs are its own device
buffers (the flat primals and cotangents), which each call overwrites with its
values; its results are copied out at once (a replay reuses its output buffers).
It runs the plain graph on its first call, captures the kernels on its second
and replays them from its third: the same kernels, so the same bits as
``jit=False``.  With nothing to differentiate (no floating input or output:
exact zeros) the plain path runs.  ``load_engine("tinygrad", jit=False)``
gives the plain path, to test it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from verigrad.oracles.protocol import in_dtype

__all__ = ["TinygradEngine"]

_DEVICE = "CPU"
_NO_DEVICE = "tinygrad has no usable device (its CPU backend needs clang: apt-get install -y clang)"


class _TinygradNamespace:
    """The primal vocabulary as tinygrad ``Tensor`` methods (``keepdim`` for ``keepdims``)."""

    def __init__(self, tensor: Any) -> None:
        self._Tensor = tensor

    sin = staticmethod(lambda a: a.sin())
    cos = staticmethod(lambda a: a.cos())
    log = staticmethod(lambda a: a.log())
    exp = staticmethod(lambda a: a.exp())
    tanh = staticmethod(lambda a: a.tanh())
    sqrt = staticmethod(lambda a: a.sqrt())
    abs = staticmethod(lambda a: a.abs())
    sigmoid = staticmethod(lambda a: a.sigmoid())
    maximum = staticmethod(lambda a, b: a.maximum(b))
    minimum = staticmethod(lambda a, b: a.minimum(b))
    clip = staticmethod(lambda a, lo, hi: a.clip(lo, hi))
    zeros_like = staticmethod(lambda a: a.zeros_like())
    reshape = staticmethod(lambda a, shape: a.reshape(shape))
    sum = staticmethod(lambda a, axis=None, keepdims=False: a.sum(axis=axis, keepdim=keepdims))
    mean = staticmethod(lambda a, axis=None, keepdims=False: a.mean(axis=axis, keepdim=keepdims))
    max = staticmethod(lambda a, axis=None, keepdims=False: a.max(axis=axis, keepdim=keepdims))
    min = staticmethod(lambda a, axis=None, keepdims=False: a.min(axis=axis, keepdim=keepdims))
    prod = staticmethod(lambda a, axis=None, keepdims=False: a.prod(axis=axis, keepdim=keepdims))
    logsumexp = staticmethod(lambda a, axis=None, keepdims=False: a.logsumexp(axis=axis, keepdim=keepdims))
    # Optional vocabulary: tinygrad has its own std (no norm).
    std = staticmethod(lambda a, axis=None, keepdims=False, ddof=0: a.std(axis=axis, keepdim=keepdims, correction=ddof))
    softmax = staticmethod(lambda a, axis=-1: a.softmax(axis))
    log_softmax = staticmethod(lambda a, axis=-1: a.log_softmax(axis))

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        # A numpy or Python condition (a constant mask) becomes a tensor first.
        cond = cond if isinstance(cond, self._Tensor) else self.asarray(np.asarray(cond))
        return cond.where(a, b)

    def asarray(self, array: Any) -> Any:
        return self._Tensor(np.asarray(array), device=_DEVICE)

    def stack(self, arrays: Any) -> Any:
        return self._Tensor.stack(*arrays)

    def concat(self, arrays: Any) -> Any:
        return self._Tensor.cat(*arrays)


class TinygradEngine:
    """tinygrad on the CPU, in the primals' own precision."""

    name: str = "tinygrad"
    #: No forward mode: ``jvp`` is assembled from one vjp per output entry (see verigrad.oracles.protocol).
    forward_mode: bool = False

    def __init__(self, jit: bool = True, cache_size: int = 256) -> None:
        """``jit``: replay each (fn, shapes) through a ``TinyJit`` (see the module docstring)."""
        from tinygrad import Device, Tensor, TinyJit  # heavy: imported only when this engine is loaded
        from tinygrad.engine.jit import JitError
        from tinygrad.helpers import Context

        self._Tensor = Tensor
        self._TinyJit, self._JitError = TinyJit, JitError
        self._jit = jit
        self._cache: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._cache_size = cache_size
        # Compile kernels in this process: tinygrad's default spawns a pool of
        # worker processes (each re-importing tinygrad), which costs more than
        # it saves for the few tiny kernels of one call; and the CPU as the default
        # device (see the module docstring).  Set per call, restored after.
        self._context = lambda: Context(PARALLEL=0, DEV=_DEVICE)
        try:  # compile and run one kernel: fails here, clearly, if clang is missing
            with self._context():
                Tensor(np.array([1.0], np.float32), device=_DEVICE).add(1.0).numpy()
            self._supported = set(Device[_DEVICE].renderer.supported_dtypes())
        except Exception as error:
            raise RuntimeError(f"{_NO_DEVICE}; {type(error).__name__}: {error}") from error
        self.xp: Any = _TinygradNamespace(Tensor)

    # ------------------------------------------------------------------ public

    def vjp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """uᵀ J for every primal via ``Tensor.gradient``."""
        primals = tuple(np.asarray(p) for p in primals)
        cotangent = np.asarray(cotangent)
        with self._context():
            (grads,), _, _ = self._run("vjp", fn, primals, cotangent)
        return tuple(in_dtype(g, p.dtype) for g, p in zip(grads, primals, strict=True))

    def jvp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        """Σ_k J_k v_k from one vjp per output element (tinygrad has no forward mode)."""
        primals = tuple(np.asarray(p) for p in primals)
        with self._context():
            rows, shape, dtype = self._run("jvp", fn, primals, None)
        v = [np.asarray(t, dtype=np.float64) for t in tangents]
        result = np.array(
            [sum(float(np.sum(g.astype(np.float64) * vk)) for g, vk in zip(row, v, strict=True)) for row in rows]
        )
        return result.reshape(shape).astype(_np_dtype(dtype))

    # ----------------------------------------------------------------- private

    def _flat(self, array: Any, dtype: Any = None) -> Any:
        """A 1-d tensor backed by a device buffer holding a copy of ``array``; reshape it to use it.

        A 0-d numpy array would become a CONST: tinygrad would then fold it into
        the kernels in Python arithmetic (not the dtype's own) and recompile for
        every new value; folding even changed a kink (d max(z, 0)/dz at z = 0
        came out 1 instead of tinygrad's runtime 0.5).  A 1-d buffer reshaped
        to () keeps it a runtime input, as a user's data would be (and a
        TinyJit input).  The copy matters too: tinygrad reads numpy memory in place.
        """
        return self._Tensor(np.array(array, copy=True).reshape(-1), device=_DEVICE, dtype=dtype)

    def _flats(self, primals: tuple[np.ndarray, ...]) -> list[Any]:
        """One flat buffer per primal; TypeError for a dtype tinygrad cannot compute in."""
        flats = []
        for primal in primals:
            try:
                flat = self._flat(primal)
            except Exception as error:  # a numpy dtype tinygrad has no counterpart for
                raise TypeError(f"unsupported dtype: tinygrad cannot hold {primal.dtype} ({error})") from error
            if flat.dtype not in self._supported:
                raise TypeError(f"unsupported dtype: tinygrad's {_DEVICE} backend cannot compute in {primal.dtype}")
            flats.append(flat)
        return flats

    def _seeds(self, cotangent: np.ndarray | None, shape: tuple[int, ...], dtype: Any) -> list[Any]:
        """The cotangent as a buffer of the output's dtype, or (None) every basis cotangent e_i."""
        if cotangent is not None:
            return [self._flat(cotangent, dtype)]
        return [self._flat(row, dtype) for row in np.eye(int(np.prod(shape)))]

    def _differentiable(self, out: Any, leaves: list[Any]) -> bool:
        """Whether there is a gradient to compute: a floating output and a floating input."""
        return (
            isinstance(out, self._Tensor)
            and out.is_floating_point()
            and any(leaf.is_floating_point() for leaf in leaves)
        )

    def _run(
        self, kind: str, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray | None
    ) -> tuple[list[list[np.ndarray]], tuple[int, ...], Any]:
        """(u_jᵀ J_k for every seed u_j and primal k, output shape, output dtype), jitted where it can be."""
        entry = self._entry(kind, fn, primals, cotangent) if self._jit else None
        if entry is None or entry.jit is None:
            return self._plain(fn, primals, cotangent)
        # The jit's inputs are the entry's own buffers: this call's values are written into them.
        values = (*primals, cotangent) if cotangent is not None else primals  # jvp's basis stays as made
        for tensor, array in zip(entry.inputs[: len(values)], values, strict=True):
            _write(tensor, array)
        try:
            grads = entry.jit(*entry.inputs)
        except self._JitError:  # "didn't JIT anything!": the plain path from now on, for this key only
            entry.jit = entry.inputs = None
            return self._plain(fn, primals, cotangent)
        # Copied out at once: the jit's next call overwrites these buffers.
        count = 1 if cotangent is not None else len(entry.inputs) - len(primals)
        return _rows(grads, primals, count), entry.out_shape, entry.out_dtype

    def _plain(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray | None
    ) -> tuple[list[list[np.ndarray]], tuple[int, ...], Any]:
        """What ``_run`` returns, without a jit: the graph of ``_graph``, realized in one schedule."""
        leaves = [flat.reshape(p.shape) for flat, p in zip(self._flats(primals), primals, strict=True)]
        out = fn(*leaves)
        shape, dtype = _shape_dtype(out)
        count = 1 if cotangent is not None else int(np.prod(shape))
        if not self._differentiable(out, leaves):  # output independent of every input: exact zeros
            return _rows([], primals, count), shape, dtype
        grads = _gradients(out, leaves, self._seeds(cotangent, shape, dtype))
        self._Tensor.realize(*grads)
        return _rows(grads, primals, count), shape, dtype

    def _entry(
        self, kind: str, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray | None
    ) -> _Entry:
        """The cached jit of this (kind, fn, shapes, dtypes), made on first use (its ``jit`` None: nothing to jit)."""
        key = (
            kind,
            id(fn),
            tuple((p.shape, p.dtype.str) for p in primals),
            None if cotangent is None else cotangent.shape,
        )
        entry = self._cache.get(key)
        if entry is not None:
            self._cache.move_to_end(key)
            return entry
        flats = self._flats(primals)  # TypeError for an unsupported dtype, before anything is cached
        # Trace fn once, lazily (nothing runs), for the output's shape and dtype: the seeds' own.
        leaves = [flat.reshape(p.shape) for flat, p in zip(flats, primals, strict=True)]
        out = fn(*leaves)
        entry = _Entry(fn, None, *_shape_dtype(out))
        if self._differentiable(out, leaves):
            entry.jit = self._TinyJit(_graph(fn, [p.shape for p in primals]))
            # Real buffers (a TinyJit's inputs must be), realized once; later calls write into them.
            entry.inputs = [*flats, *self._seeds(cotangent, entry.out_shape, entry.out_dtype)]
            self._Tensor.realize(*entry.inputs)
        self._cache[key] = entry
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry

    def _forward_entry(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> _Entry:
        """The cached TinyJit of fn's forward at these shapes and dtypes (``jit`` None: an output that is no tensor)."""
        key = ("evaluate", id(fn), tuple((p.shape, p.dtype.str) for p in primals), None)
        entry = self._cache.get(key)
        if entry is not None:
            self._cache.move_to_end(key)
            return entry
        flats = self._flats(primals)
        shapes = [p.shape for p in primals]
        out = fn(*(flat.reshape(shape) for flat, shape in zip(flats, shapes, strict=True)))  # traced lazily: nothing runs
        entry = _Entry(fn, None, *_shape_dtype(out))
        if isinstance(out, self._Tensor):
            forward = lambda *buffers: fn(*(b.reshape(s) for b, s in zip(buffers, shapes, strict=True))).contiguous().realize()
            entry.jit, entry.inputs = self._TinyJit(forward), flats
            self._Tensor.realize(*flats)
        self._cache[key] = entry
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry

    def _evaluate_plain(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> np.ndarray:
        leaves = [flat.reshape(p.shape) for flat, p in zip(self._flats(primals), primals, strict=True)]
        out = fn(*leaves)
        if not isinstance(out, self._Tensor):
            return np.asarray(out)
        return _numpy(out.realize(), tuple(out.shape))

    def evaluate(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> np.ndarray:
        """fn's forward value at the primals, in their dtype (through a TinyJit per fn and shapes, as vjp is)."""
        primals = tuple(np.asarray(p) for p in primals)
        with self._context():
            entry = self._forward_entry(fn, primals) if self._jit else None
            if entry is None or entry.jit is None:
                return self._evaluate_plain(fn, primals)
            for tensor, array in zip(entry.inputs, primals, strict=True):
                _write(tensor, array)
            try:
                out = entry.jit(*entry.inputs)
            except self._JitError:  # "didn't JIT anything!": the plain path from now on, for this key only
                entry.jit = entry.inputs = None
                return self._evaluate_plain(fn, primals)
            return _numpy(out, entry.out_shape)

@dataclass
class _Entry:
    """One cached jit; ``fn`` is held so that its id cannot be reused by another function."""

    fn: Callable[..., Any]
    jit: Any  # a TinyJit, or None: the plain path
    out_shape: tuple[int, ...]
    out_dtype: Any
    inputs: list[Any] | None = None  # the jit's input buffers: flat primals, then flat seeds


def _graph(fn: Callable[..., Any], shapes: list[tuple[int, ...]]) -> Callable[..., list[Any]]:
    """The function a TinyJit captures: flat primal buffers, then flat seeds, to gradients.

    The same graph ``_plain`` builds, so the jit replays exactly its kernels.
    """
    count = len(shapes)

    def graph(*buffers: Any) -> list[Any]:
        leaves = [b.reshape(shape) for b, shape in zip(buffers[:count], shapes, strict=True)]
        return _gradients(fn(*leaves), leaves, buffers[count:])

    return graph


def _gradients(out: Any, leaves: list[Any], seeds: Any) -> list[Any]:
    """u_jᵀ J_k for every flat seed u_j and floating leaf k, row by row, each in a new buffer.

    ``clone`` makes every result a buffer the graph writes: a gradient that is
    only a view of an input (d(x + z)/dx = u) leaves a TinyJit nothing to
    capture ("didn't JIT anything!") or replays as that input buffer.
    ``Tensor.gradient`` gives zeros for a leaf the output does not depend on.
    """
    wrt = [leaf for leaf in leaves if leaf.is_floating_point()]
    return [g.clone() for seed in seeds for g in out.gradient(*wrt, gradient=seed.reshape(out.shape))]


def _rows(grads: list[Any], primals: tuple[np.ndarray, ...], count: int) -> list[list[np.ndarray]]:
    """``grads`` (``count`` rows, floating primals only) as numpy copies; zeros for the other primals."""
    it = iter(grads)
    return [
        [_numpy(next(it), p.shape) if grads and _is_floating(p) else np.zeros(p.shape, p.dtype) for p in primals]
        for _ in range(count)
    ]


def _shape_dtype(out: Any) -> tuple[tuple[int, ...], Any]:
    """The output's shape and tinygrad dtype (a Python number, which has no gradient: (), None)."""
    return tuple(getattr(out, "shape", ())), getattr(out, "dtype", None)


def _np_dtype(dtype: Any) -> np.dtype:
    """numpy's dtype for a tinygrad one (its struct format character: 'f', 'd', ...)."""
    return np.dtype(dtype.fmt)


def _is_floating(primal: np.ndarray) -> bool:
    """Whether tinygrad differentiates with respect to this primal (``Tensor.is_floating_point``)."""
    return np.issubdtype(primal.dtype, np.floating)


def _buffer(tensor: Any) -> Any:
    """The device buffer exactly holding a realized, contiguous tensor (a reshape of one), or None."""
    uop = tensor.uop
    if uop.op.name == "RESHAPE":
        uop = uop.src[0]
    buffer = uop.realized if uop.op.name == "BUFFER" else None
    return buffer if buffer is not None and buffer.size == tensor.numel() and buffer.dtype == tensor.dtype else None


def _write(tensor: Any, array: np.ndarray) -> None:
    """Copy ``array``, cast to the tensor's dtype, into its device buffer in place.

    Through the CPU buffer's own memory: tinygrad's copies go through its
    scheduler, about 0.5-2 ms each, as long as a whole replayed call.
    """
    memory = _buffer(tensor).as_memoryview(force_zero_copy=True)
    np.frombuffer(memory, _np_dtype(tensor.dtype))[...] = np.asarray(array).reshape(-1)


def _numpy(tensor: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A numpy copy of a realized tensor: straight from its buffer's memory where it has one."""
    buffer = _buffer(tensor)
    if buffer is None:
        return np.array(tensor.numpy(), copy=True).reshape(shape)
    memory = buffer.as_memoryview(allow_zero_copy=True)
    return np.frombuffer(memory, _np_dtype(tensor.dtype)).reshape(shape).copy()
