"""Content fingerprints: sha256 over canonical JSON of the generation-relevant fields."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

from dd_prefect.config.dd_fields import drop_noop

# Operational inference knobs: they change how fast, not what, so no fingerprint sees them.
_OPERATIONAL_FIELDS = {"max_parallel_requests", "timeout"}
# Model fields that change nothing generated: a health check (accepted), prices.
_OPERATIONAL_MODEL_FIELDS = {
    "skip_health_check",
    "input_price_per_million_tokens",
    "output_price_per_million_tokens",
}
# The same for a tool config: how long a tool call may take.
_OPERATIONAL_TOOL_FIELDS = {"timeout_sec"}


def canonical_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, no NaN surprises."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def sorted_sets(value: Any) -> Any:
    """`value` with every set in it (through dicts, lists and tuples) as a sorted list.

    A set's order changes with PYTHONHASHSEED; config models store sets they are given
    this way, so the config dumps, writes and fingerprints alike in every process.
    """
    if isinstance(value, set | frozenset):
        return sorted((sorted_sets(v) for v in value), key=canonical_json)
    if isinstance(value, dict):
        return {k: sorted_sets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sorted_sets(v) for v in value]
    if isinstance(value, tuple):
        return tuple(sorted_sets(v) for v in value)
    return value


def digest(data: Any) -> str:
    """sha256 hex digest of the canonical JSON of `data`."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def _strip_operational(data: dict[str, Any]) -> dict[str, Any]:
    for model in data.get("model_configs", []):
        for key in _OPERATIONAL_MODEL_FIELDS:  # they change nothing generated
            model.pop(key, None)
        params = model.get("inference_parameters") or {}
        for key in _OPERATIONAL_FIELDS:
            params.pop(key, None)
    for tool_config in data.get("tool_configs") or []:
        for key in _OPERATIONAL_TOOL_FIELDS:
            tool_config.pop(key, None)
    data.pop("profilers", None)  # they look at the rows made, and change none
    return data


def _strip_noop_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """`data` without Data Designer's fields at their no-op default, so adding those fields
    to the models left the fingerprint of every config that doesn't use them unchanged."""
    data = drop_noop("config", data)
    data["columns"] = [drop_noop(c.get("column_type", ""), c) for c in data.get("columns", [])]
    models = []
    for model in data.get("model_configs", []):
        model = drop_noop("model", model)
        if isinstance(model.get("inference_parameters"), dict):
            model["inference_parameters"] = drop_noop("inference", model["inference_parameters"])
        models.append(model)
    data["model_configs"] = models
    return data


def fingerprint_of(config: BaseModel) -> str:
    """Fingerprint of a DataDesignerConfig (DataFrame seeds count by content digest)."""
    seed = getattr(config, "seed_config", None)
    data = config.model_dump(mode="json", exclude={"seed_config"})
    if seed is not None:
        source = seed.source
        seed_data = seed.model_dump(mode="json", exclude={"source"})
        if source.seed_type == "dataframe":  # never serialized: counted by its content
            seed_data["source"] = {"seed_type": "dataframe", "digest": source.content_digest()}
        else:
            seed_data["source"] = source.model_dump(mode="json")
        data["seed_config"] = seed_data
    return digest(_strip_operational(_strip_noop_defaults(data)))
