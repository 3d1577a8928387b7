"""Every diagnosis with a real example: each mutant of ``MUTANTS`` run on the check that exposes it.

The messages shown are the verdicts of those runs, made when the docs are built
(the same mutants and seed as ``tests/selftest/test_mutants.py``), so the page
cannot drift from what verigrad says.
"""

from __future__ import annotations

from pathlib import Path

from mutant_table import (  # the self-tests' tables (tests/selftest), on sys.path from conf.py
    MUTANTS,
    SCALE_VALUE_MUTANTS,
    Mutant,
)

from verigrad.diagnosis import KINDS
from verigrad.runner import CheckSpec, run_check
from verigrad.scale import check_at_scale

from . import markdown as md

SEED = 20240611
MAX_EXAMPLES = 8


def _verdict(mutant: Mutant, inner: object):
    catch = mutant.catch
    spec = CheckSpec(catch.property, catch.case, catch.arg, catch.pair, mutant.spec, catch.dtype)
    return run_check(spec, mutant.factory(inner), seed=SEED, max_examples=MAX_EXAMPLES, timeout=catch.timeout)


def diagnoses(repository: Path) -> str:
    """One section per diagnosis kind: its meaning, then each mutant showing it and verigrad's verdict."""
    from verigrad.oracles.torch_engine import TorchEngine  # heavy: torch is imported only when the runs are made

    inner = TorchEngine()
    root = str(repository.resolve()) + "/"
    lines = []
    for kind, meaning in KINDS.items():
        lines += [f"({kind})=", f"### {kind}", "", f"*{md.text(meaning)}*", ""]
        examples = [(name, mutant.factory, _verdict(mutant, inner)) for name, mutant in MUTANTS.items() if mutant.kind == kind]
        examples += [(name, cls, check_at_scale(engine=cls(inner, **arguments), **check))  # the value probe's: a scale check
                     for name, (cls, arguments, shown, check) in SCALE_VALUE_MUTANTS.items() if shown == kind]
        if not examples:
            lines += ["No in-process mutant shows this one (see the note above the list).", ""]
        for name, factory, verdict in examples:
            if (verdict.diagnosis or {}).get("kind") != kind:
                raise RuntimeError(f"{name} was not diagnosed {kind}: {verdict.status} {verdict.message}")
            doc = md.rst((factory.__doc__ or "").strip().splitlines()[0].rstrip("."))
            lines += [
                f"- **{md.text(name)}** ({doc}), check {md.code(verdict.check_id)}: {verdict.status}",
                "",
                f"  > {md.text(verdict.message.replace(root, ''))}",
                "",
            ]
    return "\n".join(lines) + "\n"
