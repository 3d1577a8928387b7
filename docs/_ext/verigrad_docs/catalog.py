"""The case catalog and the seed's errata as MyST pages, generated from ``CASES`` and ``ERRATA``.

Nothing here is written by hand: each case's formula, arguments, closed forms,
structure, domain, kink and notes come from its row of the case table, and each
erratum is evaluated at its counterexample by :func:`verigrad.reference.demonstrate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from verigrad.reference import CASES, ERRATA, Case, Erratum, demonstrate

from . import markdown as md


def _shape(shape: tuple) -> str:
    return "scalar" if not shape else "(" + ", ".join(str(s) for s in shape) + ")"


def _family(case: Case) -> str:
    return case.id.split(".")[0]


def _argument_rows(case: Case) -> Iterator[str]:
    yield "| argument | shape | domain | closed form (numerator layout) | Jacobian structure |"
    yield "|---|---|---|---|---|"
    for arg in case.args:
        if arg.differentiable:
            partial = case.partials[arg.name]
            form, structure = md.math(partial.latex), partial.structure.name.lower()
        else:
            form, structure = "data, not differentiated", "—"
        yield f"| {md.code(arg.name)} | {_shape(arg.shape)} | {arg.domain} | {form} | {structure} |"


def case_section(case: Case) -> Iterator[str]:
    """One case: heading (its id, the anchor other pages link to), formula, arguments, kink, notes."""
    yield f"({case.id})="
    yield f"### {case.id} ({md.text(case.section)})"
    yield ""
    yield "$$"
    yield case.formula
    yield "$$"
    yield ""
    yield from _argument_rows(case)
    yield ""
    if case.params:
        values = "; ".join(f"{md.code(name)} ∈ {md.text(', '.join(map(str, options)))}" for name, options in case.params.items())
        yield f"Parameters: {values}."
        yield ""
    if case.kink:
        kink = case.kink
        yield f"**Kink** where {md.text(kink.where)}; subdifferential: {md.text(kink.subdifferential)}."
        if kink.convention_note:
            yield f"{md.text(kink.convention_note)}"
        yield ""
    if case.notes:
        yield md.text(case.notes)
        yield ""
    errata = [e for e in ERRATA if e.case_id == case.id]
    if errata:
        links = ", ".join(md.ref(e.id) for e in errata)
        yield f"The seed errs here: {links}."
        yield ""


def catalog(cases: Iterable[Case] = CASES) -> str:
    """The whole catalog: one section per family (the id's prefix), in table order."""
    cases = list(cases)
    lines = [f"The table holds {len(cases)} cases; `verigrad cases` lists their ids.", ""]
    family = None
    for case in cases:
        if _family(case) != family:
            family = _family(case)
            lines += [f"## {family}", ""]
        lines += list(case_section(case))
    return "\n".join(lines) + "\n"


def _array(value: np.ndarray) -> str:
    return md.code(np.array2string(np.asarray(value), precision=6, separator=", "))


def erratum_section(erratum: Erratum) -> Iterator[str]:
    """One erratum: what the seed says, what is right, and both evaluated at the counterexample."""
    shown = demonstrate(erratum)
    subject = f"∂/∂{erratum.arg}" if erratum.arg else "the value"
    yield f"({erratum.id})="
    yield f"## {erratum.id}"
    yield ""
    yield f"- **where:** {md.text(erratum.section)}, case {md.ref(erratum.case_id)}, {md.text(subject)}"
    yield f"- **the seed says:** {md.mixed(erratum.wrong_statement)}"
    yield f"- **right:** {md.text(erratum.right_statement)}"
    yield f"- **fails where:** {md.text(erratum.precondition)}"
    inputs = ", ".join(f"{name} = {_array(value)}" for name, value in erratum.counterexample.items())
    yield f"- **counterexample:** {inputs}"
    yield f"- **seed's value:** {_array(shown['wrong'])}; **right value:** {_array(shown['right'])}"
    yield (f"- **difference:** {shown['max_abs_diff']:.3g}, against a rounding bound of "
           f"{shown['rounding_bound']:.3g}")
    yield ""


def errata() -> str:
    """Every erratum, each demonstrated at its counterexample when the docs are built."""
    lines = [f"{len(ERRATA)} errata, each evaluated at its counterexample when these pages were built.", ""]
    for erratum in ERRATA:
        lines += list(erratum_section(erratum))
    return "\n".join(lines) + "\n"
