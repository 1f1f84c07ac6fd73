"""Data Designer's file format: its ``data_designer:`` wrapper, ``library_version``, and the
few places its shapes differ from ours.

Data Designer's ``write_config`` writes ``{"data_designer": <config>, "library_version":
"0.9.7"}``; a bare config (``columns``, ``model_configs``, ... at the top) is read as well.
Where the shapes differ:

- its selection strategies have no ``kind`` (ours is the discriminator): read by their keys,
  written without it;
- fields of ours it lacks (``union_columns`` of a local seed) are written only when set;
- model and inference fields of its that our classes lack (see
  :mod:`dd_prefect.config.dd_fields`) are dropped at their no-op default, refused otherwise.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from dd_prefect.config.dd_fields import drop_noop, refuse_unsupported

LIBRARY_VERSION = "0.9.7"
"""The Data Designer version whose format we write (and the series we read: 0.9.x)."""

WRAPPER = "data_designer"

# Fields of ours that Data Designer lacks, with the value at which they are not written:
# on a local seed source, on a custom column (ours names its function by path), on a model
# (prices).
_OURS_ONLY: dict[str, dict[str, Any]] = {
    "seed_source": {"union_columns": False},
    "custom": {"function": None, "params": {}, "required_columns": []},
    "model": {"input_price_per_million_tokens": None, "output_price_per_million_tokens": None},
}


def read_version(version: Any) -> None:
    """Refuse a `library_version` outside the 0.9 series we read (None is fine)."""
    if version is None:
        return
    match = re.match(r"(\d+)\.(\d+)", str(version))
    series = LIBRARY_VERSION.rsplit(".", 1)[0]
    if match is None or f"{match[1]}.{match[2]}" != series:
        raise ValueError(
            f"library_version '{version}': dd_prefect reads configs of Data Designer "
            f"{series}.x; re-export the config with Data Designer {series}"
        )


def unwrap(data: Any) -> Any:
    """A config dict without Data Designer's ``data_designer:`` wrapper and version."""
    if not isinstance(data, dict) or not ({WRAPPER, "library_version"} & set(data)):
        return data
    read_version(data.get("library_version"))
    if WRAPPER not in data:
        return {k: v for k, v in data.items() if k != "library_version"}
    extra = sorted(set(data) - {WRAPPER, "library_version"})
    if extra:
        raise ValueError(
            f"unexpected top-level key(s) beside '{WRAPPER}': {', '.join(map(str, extra))}"
        )
    return data[WRAPPER]


def wrap(config: dict[str, Any]) -> dict[str, Any]:
    """`config` (a config dict) as Data Designer's ``write_config`` writes it."""
    return {WRAPPER: config, "library_version": LIBRARY_VERSION}


def read_shapes(
    data: dict[str, Any], model_class: type[BaseModel], inference_class: type[BaseModel]
) -> dict[str, Any]:
    """A config dict (unwrapped) with Data Designer's shapes made ours.

    `model_class`/`inference_class`: what a model config and its inference_parameters
    become; a table field they don't declare is dropped at its no-op default, refused
    otherwise (with a message naming the model and the field).
    """
    data = dict(data)
    models = data.get("model_configs")
    if isinstance(models, list):
        data["model_configs"] = [_read_model(m, model_class, inference_class) for m in models]
    seed = data.get("seed_config")
    if isinstance(seed, dict) and isinstance(seed.get("selection_strategy"), dict):
        strategy = dict(seed["selection_strategy"])
        if "kind" not in strategy:
            by_range = "start" in strategy or "end" in strategy
            strategy["kind"] = "index_range" if by_range else "partition_block"
        data["seed_config"] = {**seed, "selection_strategy": strategy}
    return data


def _read_model(model: Any, model_class: type[BaseModel], inference_class: type[BaseModel]) -> Any:
    if not isinstance(model, dict):
        return model
    owner = f"model '{model.get('alias')}'"
    model = _adapt("model", model, model_class, owner)
    params = model.get("inference_parameters")
    if isinstance(params, dict):
        owner += " inference_parameters"
        model["inference_parameters"] = _adapt("inference", params, inference_class, owner)
    return model


def _adapt(where: str, values: dict[str, Any], cls: type[BaseModel], owner: str) -> dict[str, Any]:
    declared = cls.model_fields
    undeclared = {k: v for k, v in values.items() if k not in declared}
    refuse_unsupported(where, undeclared, owner, include_supported=True)
    return drop_noop(where, values, keep=declared)


def write_shapes(data: dict[str, Any]) -> dict[str, Any]:
    """A config dict (ours, from ``model_dump(mode="json")``) in Data Designer's shapes."""
    if isinstance(data.get("columns"), list):
        data = {
            **data,
            "columns": [_without_ours(c.get("column_type", ""), c) for c in data["columns"]],
        }
    if isinstance(data.get("model_configs"), list):
        data = {**data, "model_configs": [_without_ours("model", m) for m in data["model_configs"]]}
    seed = data.get("seed_config")
    if isinstance(seed, dict):
        seed = dict(seed)
        if isinstance(seed.get("selection_strategy"), dict):
            seed["selection_strategy"] = {
                k: v for k, v in seed["selection_strategy"].items() if k != "kind"
            }
        if isinstance(seed.get("source"), dict):
            seed["source"] = _without_ours("seed_source", seed["source"])
        data = {**data, "seed_config": seed}
    return data


def _without_ours(where: str, values: dict[str, Any]) -> dict[str, Any]:
    unwritten = _OURS_ONLY.get(where, {})
    return {k: v for k, v in values.items() if k not in unwritten or v != unwritten[k]}
