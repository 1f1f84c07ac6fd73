"""Reading and writing config files (YAML or JSON, by suffix); writes are atomic."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to a temp file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class _SafeDumper(yaml.SafeDumper):
    """yaml's SafeDumper, but strings holding U+0085 (NEL) are written double-quoted.

    PyYAML writes a NEL unescaped in other styles and reads it back as a line break.
    """


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if "\x85" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_SafeDumper.add_representer(str, _represent_str)


def dump_text(data: Any, fmt: str, *, indent: int | None = 2) -> str:
    """`data` as YAML or JSON text."""
    if fmt == "json":
        return json.dumps(data, indent=indent, ensure_ascii=False) + "\n"
    return yaml.dump(data, Dumper=_SafeDumper, sort_keys=False, allow_unicode=True, indent=indent)


def dump_file(data: Any, path: str | Path, *, indent: int | None = 2) -> Path:
    """Write `data` as YAML or JSON, chosen by the file suffix."""
    fmt = "json" if Path(path).suffix.lower() == ".json" else "yaml"
    return atomic_write_text(path, dump_text(data, fmt, indent=indent))


def load_file(path: str | Path) -> Any:
    """Parse a YAML or JSON file (JSON is valid YAML, but parse it as JSON when named so)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    return yaml.safe_load(text)
