"""Whether a config can run in another process (a shard on a Prefect worker) from its JSON.

Such a process gets the config as Data Designer's dict and nothing else: a DataFrame seed
or a function known only in this process cannot go with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.callables import CALLABLE_PATH


def remote_problems(config: DataDesignerConfig) -> list[str]:
    """Why `config` cannot run on another worker (empty when it can), each problem naming
    what is at fault."""
    try:
        data = config.to_dict()
    except ValueError:
        return [
            "its seed is a DataFrame, which stays in this process: write it to a parquet "
            "file and seed from that file (LocalFileSeedSource)"
        ]
    problems = []
    for where, reference in _function_references(data, "config"):
        if not CALLABLE_PATH.fullmatch(reference):
            problems.append(
                f"{where} '{reference}' is known only in this process: give it as "
                "'pkg.module:function' from a module every worker can import"
            )
        elif reference.partition(":")[0] == "__main__":
            problems.append(
                f"{where} '{reference}' is defined in the script being run (__main__), which "
                "a worker does not import: move it into a module every worker can import"
            )
    return problems


def with_absolute_paths(config: DataDesignerConfig) -> DataDesignerConfig:
    """`config` with a relative seed path made absolute (against this process's working
    directory), so another process, in another directory, reads the same files."""
    seed = config.seed_config
    path = getattr(seed.source, "path", None) if seed is not None else None
    if seed is None or not isinstance(path, str) or os.path.isabs(path):
        return config
    source = seed.source.model_copy(update={"path": os.path.abspath(os.path.expanduser(path))})
    return config.model_copy(update={"seed_config": seed.model_copy(update={"source": source})})


def _function_references(data: Any, where: str) -> Iterator[tuple[str, str]]:
    """(where, reference) of every ``*function`` field holding a string in `data`."""
    if isinstance(data, dict):
        label = f"column '{data['name']}'" if isinstance(data.get("name"), str) else where
        for key, value in data.items():
            if key.endswith("function") and isinstance(value, str) and value:
                yield f"{label}: {key}", value
            else:
                yield from _function_references(value, label)
    elif isinstance(data, list):
        for item in data:
            yield from _function_references(item, where)
