"""Compiled engines beside their eager partners: registered, differentiating correctly, and shown side by side."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from verigrad.oracles import BUILTIN_ENGINES, load_engine
from verigrad.oracles.registry import DEFAULT_ENGINES, EAGER_PARTNERS
from verigrad.records import FAIL, PASS, Verdict
from verigrad.reference import get_case
from verigrad.summary import compiled_table

# torch loads its forward-AD decompositions through the deprecated torch.jit.script.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def test_every_pair_names_built_in_engines_and_compiled_torch_is_opt_in() -> None:
    for compiled, eager in EAGER_PARTNERS.items():
        assert compiled in BUILTIN_ENGINES and eager in BUILTIN_ENGINES
    assert "torch-compile" not in DEFAULT_ENGINES


def _matvec(engine):
    case = get_case("chain.matvec_sin")
    W = np.array([[0.5, -1.25], [1.5, 0.75], [-2.0, 0.25]], np.float32)
    x = np.array([1.0, -0.5], np.float32)
    return case.bind(engine.xp), (W, x)


def test_jax_jit_and_jax_eager_agree_and_only_one_compiles() -> None:
    jit, eager = load_engine("jax-jit"), load_engine("jax-eager")
    assert (jit.name, eager.name) == ("jax-jit", "jax-eager")
    fn_jit, primals = _matvec(jit)
    fn_eager, _ = _matvec(eager)
    u = np.array([1.0, -2.0, 0.5], np.float32)
    for a, b in zip(jit.vjp(fn_jit, primals, u), eager.vjp(fn_eager, primals, u), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-6)
    assert all(hasattr(entry[2], "lower") for entry in jit._cache.values())  # jax.jit wrappers
    assert not any(hasattr(entry[2], "lower") for entry in eager._cache.values())


# torch-compile is opt-in (not a default engine): Inductor compiles C++ for tens of seconds, so full runs only.
@pytest.mark.verigrad_full_only
@pytest.mark.skipif(not shutil.which("c++"), reason="torch.compile's Inductor needs a C++ compiler")
def test_torch_compile_differentiates_through_compiled_code() -> None:
    engine = load_engine("torch-compile")
    case = get_case("elementwise.mul")
    fn = case.bind(engine.xp)
    w, x = np.array([1.5, -2.0]), np.array([0.25, 4.0])
    gw, gx = engine.vjp(fn, (w, x), np.ones(2))
    np.testing.assert_array_equal(gw, x)
    np.testing.assert_array_equal(gx, w)
    np.testing.assert_array_equal(engine.jvp(fn, (w, x), (np.ones(2), np.zeros(2))), x)
    assert len(engine._compiled) == 2  # one compiled forward, one compiled jvp
    assert not hasattr(engine, "hvp")  # no compiled hvp: skipped, never run eagerly under this name


def _verdict(engine: str, status: str, ulps: float = 1.0) -> Verdict:
    return Verdict(f"vjp[elementwise.mul-w-{engine}-bfloat16]", "vjp", "elementwise.mul", "w", engine, "bfloat16",
                   status, max_ulps=ulps)


def test_summary_puts_compiled_beside_eager_and_lists_differences() -> None:
    from rich.console import Console

    table = compiled_table([_verdict("jax-jit", FAIL), _verdict("jax-eager", PASS, 0.5)])
    console = Console(width=250, record=True)
    console.print(table)
    text = console.export_text()
    assert "jax-jit / jax-eager" in text and "vjp[elementwise.mul-w-jax-jit-bfloat16]" in text
    assert compiled_table([_verdict("jax", PASS)]) is None


@pytest.mark.verigrad_full_only
@pytest.mark.skipif(not shutil.which("c++"), reason="torch.compile's Inductor needs a C++ compiler")
def test_torch_compile_jvp_passes_integer_primals_through() -> None:
    # torch.func.jvp raises on an integer primal: a loss's labels are closed over, as the eager engine does.
    compiled, eager = load_engine("torch-compile"), load_engine("torch")
    case = get_case("losses.softmax_xent")
    Z, y = np.array([[0.5, -1.0, 2.0], [0.0, 1.5, -0.5]]), np.array([2, 0])
    tangents = (np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]]), np.zeros(2, dtype=np.int64))
    np.testing.assert_allclose(compiled.jvp(case.bind(compiled.xp), (Z, y), tangents),
                               eager.jvp(case.bind(eager.xp), (Z, y), tangents), rtol=1e-14)
