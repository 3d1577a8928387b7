"""The session: engines loaded once by the names they give themselves, checks planned and run through it."""

from __future__ import annotations

import numpy as np
import pytest

from verigrad.oracles import EngineLoadError
from verigrad.records import PASS
from verigrad.session import Session, Settings


@pytest.fixture(scope="module")
def session() -> Session:
    return Session.load(["fd"], Settings(seed=1, max_examples=3))


def test_engines_are_known_by_the_names_they_give_themselves(session: Session) -> None:
    assert session.names == ["fd"] and session.source_of == {"fd": "fd"}


def test_two_engines_with_one_name_are_a_load_error() -> None:
    with pytest.raises(EngineLoadError, match="'fd' and 'fd' both call themselves 'fd'"):
        Session.load(["fd", "fd"])


def test_versions_name_each_engines_library(session: Session) -> None:
    versions = session.versions()
    assert versions["numpy"] == np.__version__
    assert versions["fd"] == f"numpy {np.__version__}"


def test_a_serial_run_gives_every_spec_its_verdict_in_plan_order(session: Session) -> None:
    specs = session.plan(["float64"], ["vjp", "jvp"], "elementwise.mul")
    results = list(session.run(specs))
    assert [index for index, _ in results] == list(range(len(specs)))
    assert [verdict.check_id for _, verdict in results] == [spec.id for spec in specs]
    assert all(verdict.status == PASS for _, verdict in results)
