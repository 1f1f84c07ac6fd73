"""Data Designer's fields that have a no-op default, and which of them we support.

This is the one table of them. A Data Designer config carries every field at its
default (``propagate_skip: true``, ``with_trace: none``, ...), so each is accepted. A
field whose feature dd_prefect does not have yet is refused, naming the owner (the column,
model, ...) and the field, when it is set to anything but its no-op default.

Column fields are declared on the column classes, which refuse through this table.
Model and inference fields are declared by their classes when implemented; until then a
Data Designer file's value is dropped at its no-op default and refused otherwise
(:mod:`dd_prefect.config.dd_format`).

Implementing one of these features: set ``supported=True`` on its entry. Keep the entry:
fingerprints leave these fields out while they are at their no-op default, so configs
that never used the feature keep their fingerprint. A new Data Designer column or sampler
type is supported once it is in the ColumnConfig union or the SamplerType enum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LLM_COLUMNS = ("llm-text", "llm-code", "llm-structured", "llm-judge")
ALL_COLUMNS = (
    *LLM_COLUMNS,
    *("sampler", "expression", "seed-dataset", "custom", "validation", "embedding", "image"),
)


@dataclass(frozen=True)
class DDField:
    """One Data Designer field.

    `where`: the kinds of object that carry it: column types, or ``config`` (the top level of
    a DataDesignerConfig), ``model`` (a model config), ``inference`` (its
    inference_parameters), ``params:<sampler_type>`` (a sampler's params).
    `noop`: the values that leave the feature off; the first is the default we write.
    """

    where: tuple[str, ...]
    field: str
    noop: tuple[Any, ...]
    supported: bool = False

    @property
    def default(self) -> Any:
        return self.noop[0]


DD_FIELDS: tuple[DDField, ...] = (
    DDField(ALL_COLUMNS, "skip", (None,), supported=True),
    DDField(ALL_COLUMNS, "propagate_skip", (True,), supported=True),
    DDField(("sampler",), "conditional_params", ({},), supported=True),
    DDField(LLM_COLUMNS, "multi_modal_context", (None, []), supported=True),
    DDField(LLM_COLUMNS, "tool_alias", (None,), supported=True),
    DDField(LLM_COLUMNS, "with_trace", ("none",), supported=True),
    DDField(LLM_COLUMNS, "extract_reasoning_content", (False,), supported=True),
    DDField(("custom",), "generator_function", (None,), supported=True),
    DDField(("custom",), "generator_params", (None,), supported=True),
    DDField(("config",), "tool_configs", ([], None), supported=True),
    DDField(("config",), "constraints", (None, [])),
    DDField(("config",), "profilers", (None, []), supported=True),  # config/profilers.py
    DDField(("model",), "skip_health_check", (False,), supported=True),
    DDField(("inference",), "generation_type", ("chat-completion",), supported=True),
    DDField(("params:person",), "select_field_values", (None,)),
    DDField(("params:person",), "with_synthetic_personas", (False,)),
)

# Data Designer's kinds of column and sampler. One that dd_prefect lacks (not in its own
# union or enum) is refused as "not supported", naming the column.
DD_COLUMN_TYPES = frozenset(ALL_COLUMNS)
DD_SAMPLER_TYPES = frozenset(
    {
        "bernoulli", "bernoulli_mixture", "binomial", "category", "datetime", "gaussian",
        "person", "person_from_faker", "poisson", "scipy", "subcategory", "timedelta",
        "uniform", "uuid",
    }
)  # fmt: skip


def fields_of(where: str) -> list[DDField]:
    """The table's fields carried by `where` (a column type, ``config``, ``model``, ...)."""
    return [f for f in DD_FIELDS if where in f.where]


def is_noop(entry: DDField, value: Any) -> bool:
    """Whether `value` leaves `entry`'s feature off."""
    # True == 1 in Python; a flag set to 1 is not its default False, nor a 0 its None.
    return any(value == v and isinstance(value, bool) == isinstance(v, bool) for v in entry.noop)


def refuse_unsupported(
    where: str, values: Mapping[str, Any], owner: str, *, include_supported: bool = False
) -> None:
    """Raise ValueError if `values` sets an unsupported field of `where` to a non-default.

    The message names `owner` (``column 'x'``, ``model 'm'``) once, then each such field
    ("not supported"). `include_supported`: count every entry as unsupported (for fields
    a class can't hold).
    """
    problems = []
    for entry in fields_of(where):
        if (entry.supported and not include_supported) or entry.field not in values:
            continue
        value = values[entry.field]
        if not is_noop(entry, value):
            problems.append(
                f"{entry.field}={value!r} is not supported by dd_prefect (yet); "
                f"remove it or leave it at {entry.default!r}"
            )
    if problems:
        raise ValueError(f"{owner}: " + "; ".join(problems))


def drop_noop(where: str, values: dict[str, Any], keep: Iterable[str] = ()) -> dict[str, Any]:
    """`values` without the table's fields for `where` that are at their no-op value.

    Fields in `keep` stay (a class that declares the field keeps it).
    """
    kept = set(keep)
    out = dict(values)
    for entry in fields_of(where):
        name = entry.field
        if name in out and name not in kept and is_noop(entry, out[name]):
            del out[name]
    return out
