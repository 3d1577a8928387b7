"""Jinja2 rendering: templates from ``verigrad/report/templates``, autoescape always on."""

from __future__ import annotations

import functools
from typing import Any

import jinja2

__all__ = ["environment", "render"]


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment: package templates, autoescaping for every template (css/js included)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("verigrad.report", "templates"),
        autoescape=True,  # engine names, messages and diagnoses are untrusted text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def render(context: dict[str, Any], template: str = "report.html") -> str:
    return environment().get_template(template).render(**context)
