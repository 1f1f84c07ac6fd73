"""Validation of a config before anything runs: every problem at once, each named."""

from __future__ import annotations

import fnmatch
import warnings
from collections import Counter
from collections.abc import Iterable
from typing import Any, Protocol

import jinja2
import jsonschema

from dd_prefect.config.columns import (
    ColumnConfigBase,
    LLMJudgeColumnConfig,
    LLMStructuredColumnConfig,
    SamplerColumnConfig,
    SeedDatasetColumnConfig,
)
from dd_prefect.config.dag import dependency_graph, find_cycle
from dd_prefect.config.data_designer_config import (
    DataDesignerConfig,
    column_name_problem,
    globals_read,
)
from dd_prefect.config.feature_checks import feature_problems
from dd_prefect.config.mcp import tool_config_problems
from dd_prefect.config.model_columns import model_alias_problem
from dd_prefect.config.names import name_problem, shown_name
from dd_prefect.config.processors import (
    DropColumnsProcessorConfig,
    SchemaTransformProcessorConfig,
)
from dd_prefect.config.sampler_checks import sampler_problems
from dd_prefect.config.seeds import (
    LocalFileSeedSource,
    SeedConfig,
    read_seed_columns,
    seed_file_format,
)
from dd_prefect.config.templates import jinja_environment, strings_in, template_references
from dd_prefect.errors import ConfigIssue, ConfigValidationError

# Passed as `seed_columns` when a config's seed will only be known later (a workflow stage
# fed by the stage before it): references to unknown columns are then not reported yet.
SEED_PENDING = None


class _Add(Protocol):
    """Records one problem; `validate_config`'s `add`, passed to each check."""

    def __call__(
        self, message: str, column: str | None = None, field: str | None = None
    ) -> None: ...


class _OwnSeed:
    """Default of `seed_columns`: read them from the config's own seed source."""


OWN_SEED = _OwnSeed()


def validate_config(
    config: DataDesignerConfig,
    *,
    seed_columns: Iterable[str] | _OwnSeed | None = OWN_SEED,
    stage: str | None = None,
    raise_on_error: bool = True,
) -> list[ConfigIssue]:
    """Check `config` and return (or raise, by default) every problem found.

    `seed_columns` are the columns the seed provides. The default reads them from the
    config's own seed source; pass the columns of a seed supplied from elsewhere, or
    :data:`SEED_PENDING` when they are not known yet. `stage` is named in every message.
    """
    issues: list[ConfigIssue] = []

    def add(message: str, column: str | None = None, field: str | None = None) -> None:
        issues.append(ConfigIssue(message, column=column, stage=stage, field=field))

    known_seed: set[str] | None
    if isinstance(seed_columns, _OwnSeed):
        known_seed = _own_seed_columns(config.seed_config, add) if config.seed_config else set()
    else:
        known_seed = set(seed_columns) if seed_columns is not None else None

    _check_names(config, add)
    _check_shadowed_globals(config, known_seed, add)
    _check_models(config, add)
    for column in config.columns:
        _check_column(column, config, add)

    names = {n for c in config.columns for n in (c.name, *c.side_effect_columns)}
    known = names | (known_seed or set())
    # Columns whose templates don't parse (reported above) have unknown references.
    parsed = [c for c in config.columns if _templates_parse(c)]
    for column in parsed:
        if column.name in column.required_columns():
            replaced = " (an override can't read the input column it replaces)"
            add(
                "references itself" + (replaced if column.name in (known_seed or ()) else ""),
                column=column.name,
            )
    if known_seed and not config.allow_column_overrides:
        for column in config.columns:
            if column.name in known_seed and not isinstance(column, SeedDatasetColumnConfig):
                add(
                    "its seed (a workflow stage's input) already has a column of this name, "
                    "which this column would overwrite; rename it, or set "
                    "allow_column_overrides on the config to replace it",
                    column=column.name,
                )
    if known_seed is not None:
        for column in parsed:
            missing = (column.required_columns() | column.skip_columns()) - known - {column.name}
            for ref in sorted(missing):
                add(f"references unknown column '{ref}'", column=column.name)
        for column in config.columns:
            if isinstance(column, SeedDatasetColumnConfig) and column.name not in known_seed:
                add(
                    "is declared as a seed-dataset column but the seed has no such column",
                    column=column.name,
                )
    if cycle := find_cycle(dependency_graph(parsed)):
        add("dependency cycle: " + " -> ".join(cycle), column=cycle[0])

    _check_processors(config, known if known_seed is not None else None, add)

    if issues and raise_on_error:
        raise ConfigValidationError(issues)
    return issues


def _templates_parse(column: ColumnConfigBase) -> bool:
    try:
        column.required_columns()
    except jinja2.TemplateSyntaxError:
        return False
    return True


def _own_seed_columns(seed_config: SeedConfig, add: _Add) -> set[str] | None:
    source = seed_config.source
    if isinstance(source, LocalFileSeedSource):
        try:
            for path in source.files():
                seed_file_format(path)
        except ValueError as exc:
            add(str(exc), field="seed_config.source.path")
            return None
    try:
        return set(read_seed_columns(source))
    except Exception as exc:  # unreadable seed files: report, don't crash validation
        add(str(exc), field="seed_config.source.path")
        return None


def _check_names(config: DataDesignerConfig, add: _Add) -> None:
    for name, count in Counter(c.name for c in config.columns).items():
        if count > 1:
            add(f"duplicate column name (defined {count} times)", column=name)
    for alias, count in Counter(m.alias for m in config.model_configs).items():
        if count > 1:
            add(f"duplicate model alias '{alias}'", field="model_configs")
    for name, count in Counter(p.name for p in config.processors).items():
        if count > 1:
            add(f"duplicate processor name '{name}'", field="processors")
    for processor in config.processors:  # its output is written to a directory of its name
        if problem := name_problem(processor.name, "processor"):
            add(problem, field=f"processors[{shown_name(processor.name)}]")
    for column in config.columns:
        if not isinstance(column, SeedDatasetColumnConfig) and (
            problem := column_name_problem(column.name)
        ):
            add(problem, column=column.name)


def _check_shadowed_globals(
    config: DataDesignerConfig, known_seed: set[str] | None, add: _Add
) -> None:
    """Seed columns are data, not chosen names: one called like a Jinja global is a
    problem only if a template of the config uses that global."""
    seeded = {c.name for c in config.columns if isinstance(c, SeedDatasetColumnConfig)}
    shadowing = (seeded | (known_seed or set())) & set(jinja_environment().globals)
    if not shadowing:
        return
    templates = [(f"column '{c.name}'", s) for c in config.columns for s in c.templates().values()]
    for p in config.processors:
        if isinstance(p, SchemaTransformProcessorConfig):
            templates += [(f"processor '{p.name}'", s) for s in strings_in(p.template)]
    for name in sorted(shadowing):
        if users := sorted({who for who, source in templates if name in globals_read(source)}):
            add(
                f"the seed column '{name}' shadows the Jinja global {name}() that "
                f"{', '.join(users)} uses: the template would get the column instead",
                column=name,
            )


def _check_models(config: DataDesignerConfig, add: _Add) -> None:
    models = {m.alias: m for m in config.model_configs}
    for column in config.columns:
        if problem := model_alias_problem(column, models):
            add(problem, column=column.name)
    used = [(c.name, a) for c in config.columns if (a := getattr(c, "tool_alias", None))]
    for problem, name in tool_config_problems(config.tool_configs, used):
        add(problem, column=name, field="tool_alias" if name else "tool_configs")


def _check_column(column: ColumnConfigBase, config: DataDesignerConfig, add: _Add) -> None:
    for field, source in column.templates().items():
        try:
            template_references(source)
        except jinja2.TemplateSyntaxError as exc:
            add(f"Jinja syntax error in {field}: {exc.message}", column=column.name)
    for message, where in feature_problems(column):
        add(message, column=column.name, field=where)
    if isinstance(column, SamplerColumnConfig):
        for message in sampler_problems(column, config):
            add(message, column=column.name)
    elif isinstance(column, LLMStructuredColumnConfig):
        if not isinstance(column.output_format, dict) or not column.output_format:
            add("output_format must be a non-empty JSON schema", column=column.name)
        elif problem := _json_schema_problem(column.output_format):
            add(problem, column=column.name, field="output_format")
    elif isinstance(column, LLMJudgeColumnConfig):
        if not column.scores:
            add("an llm-judge column needs at least one score", column=column.name)
        for score in column.scores:
            if not score.options:
                add(f"score '{score.name}' has no options", column=column.name)
        for name, count in Counter(s.name for s in column.scores).items():
            if count > 1:
                add(f"duplicate score name '{name}'", column=column.name)


def _json_schema_problem(schema: dict[str, Any]) -> str | None:
    """Why `schema` is not a valid JSON Schema (checked against its metaschema), or None."""
    try:
        with warnings.catch_warnings():
            # An unknown "$schema" falls back to the latest draft, with a DeprecationWarning.
            warnings.simplefilter("ignore", DeprecationWarning)
            jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"output_format is not a valid JSON schema: {exc.message} (at {exc.json_path})"
    return None


def _check_processors(config: DataDesignerConfig, known: set[str] | None, add: _Add) -> None:
    for processor in config.processors:
        field = f"processors[{processor.name}]"
        if isinstance(processor, DropColumnsProcessorConfig):
            if not processor.column_names:
                add("drop_columns needs at least one column name", field=field)
            if known is None:
                continue
            for pattern in processor.column_names:
                if not fnmatch.filter(sorted(known), pattern):
                    add(f"drops '{pattern}', which matches no column", field=field)
        elif isinstance(processor, SchemaTransformProcessorConfig):
            for source in strings_in(processor.template):
                try:
                    refs = template_references(source)
                except jinja2.TemplateSyntaxError as exc:
                    add(f"Jinja syntax error in template: {exc.message}", field=field)
                    continue
                if known is not None:
                    for ref in sorted(refs - known):
                        add(f"template references unknown column '{ref}'", field=field)
