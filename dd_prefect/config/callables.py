"""User code named by import path: ``"pkg.module:function"``."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

CALLABLE_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def callable_problem(path: str) -> str | None:
    """Why ``"pkg.module:function"`` does not import as a callable, or None.

    Imports the module (as running the stage would): a user module may fail at import
    with any error, which is reported rather than raised.
    """
    module, _, attr = path.partition(":")
    try:
        target = getattr(importlib.import_module(module), attr)
    except Exception as exc:
        return f"cannot import '{path}': {type(exc).__name__}: {exc}"
    if not callable(target):
        return f"'{path}' is not callable"
    return None


def load_callable(path: str) -> Callable[..., Any]:
    """Import ``"pkg.module:function"``."""
    module, _, attr = path.partition(":")
    target: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return target


def callable_path(function: Callable[..., Any]) -> str:
    """``"pkg.module:function"`` for a module-level function, so a config holding it can be
    written and run elsewhere; ValueError for a lambda, a nested function or a method."""
    module = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", "")
    path = f"{module}:{name}"
    if not module or not CALLABLE_PATH.fullmatch(path):
        raise ValueError(
            f"{name or function!r} is not a module-level function; define it at the top level "
            "of a module and pass it (or its 'pkg.module:function' path)"
        )
    return path
