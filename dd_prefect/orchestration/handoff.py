"""How flows and tasks of one run get their in-process objects.

Flow parameters are what the Prefect API stores and the UI shows: plain JSON only, never
a generator, a model registry (whose clients hold API keys) or a callback. Everything
else a flow or task of the run needs is bound here before it is called::

    with bind(stage_run):
        await stage_flow(...)          # inside: current(StageRun)

Prefect runs an async flow or task that is called directly in the caller's asyncio
context, and asyncio tasks copy the context they start in, so `current` finds what an
enclosing `bind` bound. Objects are found by their type: bind one of each type.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, TypeVar

T = TypeVar("T")

_bound: ContextVar[MappingProxyType[type, Any]] = ContextVar(
    "dd_prefect_handoff", default=MappingProxyType({})
)


@contextlib.contextmanager
def bind(*objects: object) -> Iterator[None]:
    """Make `objects` available to flows and tasks called inside the block."""
    token = _bound.set(MappingProxyType({**_bound.get(), **{type(o): o for o in objects}}))
    try:
        yield
    finally:
        _bound.reset(token)


def current(kind: type[T]) -> T:
    """The bound object of type `kind` (RuntimeError when the flow was not started
    through dd_prefect's API, e.g. re-run by hand from the UI)."""
    try:
        found: T = _bound.get()[kind]
    except KeyError:
        raise RuntimeError(
            f"no {kind.__name__} is bound: this flow runs only when started through "
            "dd_prefect (DataDesigner.create, a workflow's run, or a deployment)"
        ) from None
    return found
