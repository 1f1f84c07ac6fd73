"""Jinja templates: one sandboxed environment, and the column names a template reads."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment


@lru_cache(maxsize=1)
def jinja_environment() -> SandboxedEnvironment:
    """The sandboxed environment every template is parsed and rendered with.

    Templates can read row values and use filters; attribute access to Python internals
    (``''.__class__``) raises ``jinja2.exceptions.SecurityError``. Undefined names raise.
    """
    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


@lru_cache(maxsize=4096)
def template_references(source: str) -> frozenset[str]:
    """Top-level names a template reads (``{{ question }}`` -> ``{"question"}``).

    Raises ``jinja2.TemplateSyntaxError`` for a template that does not parse.
    """
    ast = jinja_environment().parse(source)
    return frozenset(meta.find_undeclared_variables(ast))


def strings_in(value: Any) -> list[str]:
    """Every string inside a JSON-able value (for templates nested in dicts and lists)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in strings_in(item)]
    return []
