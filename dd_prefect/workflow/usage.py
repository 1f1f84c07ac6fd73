"""LLM usage per model (``provider/model``): one attempt's spend, and totals across
attempts (a resume or a Prefect retry adds its own spend, reused work costs nothing)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dd_prefect.engine.llm import LLMUsage

USAGE_FIELDS = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "retries",
    "tool_calls",
    "tool_call_turns",
)
Usage = dict[str, dict[str, Any]]


def snapshot(usage: Mapping[str, LLMUsage]) -> Usage:
    """The counters now, to subtract later."""
    return {key: u.as_dict() for key, u in usage.items()}


def spent_since(before: Usage, usage: Mapping[str, LLMUsage], keys: Iterable[str]) -> Usage:
    """What the models `keys` spent since `before` (models shared with other stages of a
    run are counted only for the stage that used them)."""
    spent = {}
    for key in sorted(set(keys) & set(usage)):
        now, prev = usage[key].as_dict(), before.get(key, {})
        spent[key] = {f: now[f] - prev.get(f, 0) for f in USAGE_FIELDS}
    return spent


def added(total: Usage, more: Usage) -> Usage:
    """`total` plus `more`, model by model."""
    out = {key: dict(counts) for key, counts in total.items()}
    for key, counts in more.items():
        row = out.setdefault(key, dict.fromkeys(USAGE_FIELDS, 0))
        for f in USAGE_FIELDS:
            row[f] = row.get(f, 0) + counts.get(f, 0)
    return out
