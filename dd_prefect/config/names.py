"""Names that become directories (stages, workflows, datasets, processors): what they may
hold, and how to show them."""

from __future__ import annotations

import unicodedata

_BAD_NAME_CHARS = set('<>:"/\\|?*')

MAX_NAME_BYTES = 200
"""Longest name (UTF-8 bytes) of anything that becomes a directory. Filesystems allow 255
bytes per path component; the rest is room for ``stage-<i>-`` and temp-file suffixes."""

# Control characters (NUL, newline, ESC, DEL, C1) and the Unicode line/paragraph
# separators: a path can't hold NUL, and the others make directories a terminal or a
# shell script shows wrongly.
_CONTROL_CATEGORIES = {"Cc", "Zl", "Zp"}


def shown_name(name: str) -> str:
    """`name` as it is safe to print on one line: unprintable characters escaped
    (``\\n``, ``\\x00``), shortened when long."""
    name = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in name)
    return name if len(name) <= 60 else f"{name[:40]}...{name[-12:]}"


def name_problem(name: object, what: str = "stage") -> str | None:
    """Why `name` can't name a `what` (stage, workflow, dataset, processor: each becomes a
    directory), or None.

    It must be a non-empty string, not ``.``/``..``, without any of ``<>:"/\\|?*`` or
    control characters, valid UTF-8, and at most :data:`MAX_NAME_BYTES` bytes in UTF-8.
    """
    if not isinstance(name, str) or not name.strip():
        return f"{what} name must be a non-empty string"
    if name in (".", ".."):
        return f"{what} name must not be '.' or '..'"
    shown = shown_name(name)
    bad = sorted(set(name) & _BAD_NAME_CHARS)
    if bad:
        found = "".join(bad)
        return f"{what} name '{shown}' must not contain any of <>:\"/\\|?* (found {found})"
    control = sorted({ch for ch in name if unicodedata.category(ch) in _CONTROL_CATEGORIES})
    if control:
        found = ", ".join(f"U+{ord(ch):04X}" for ch in control)
        return f"{what} name '{shown}' must not contain control characters (found {found})"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return f"{what} name '{shown}' is not valid UTF-8 (it holds a lone surrogate)"
    if size > MAX_NAME_BYTES:
        return (
            f"{what} name '{shown}' is {size} bytes in UTF-8; at most {MAX_NAME_BYTES} fit "
            "in a directory name"
        )
    return None
