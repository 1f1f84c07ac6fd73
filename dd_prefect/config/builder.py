"""`DataDesignerConfig` (one dataset's columns, models, seed and processors) and its builder."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter, ValidationError

from dd_prefect.config.columns import (
    ColumnConfig,
    ColumnConfigBase,
    LLMTextColumnConfig,
    SeedDatasetColumnConfig,
)
from dd_prefect.config.errors import config_error_from
from dd_prefect.config.fingerprint import fingerprint_of
from dd_prefect.config.info import ConfigBuilderInfo
from dd_prefect.config.io import dump_file, load_file
from dd_prefect.config.models import ModelConfig
from dd_prefect.config.processors import ProcessorConfig
from dd_prefect.config.seeds import (
    DataFrameSeedSource,
    IndexRange,
    LocalFileSeedSource,
    PartitionBlock,
    SamplingStrategy,
    SeedConfig,
    read_seed_columns,
)
from dd_prefect.config.templates import jinja_environment
from dd_prefect.errors import ConfigValidationError

_COLUMN_ADAPTER: TypeAdapter[Any] = TypeAdapter(ColumnConfig)
_PROCESSOR_ADAPTER: TypeAdapter[Any] = TypeAdapter(ProcessorConfig)

# Names a template reads as something other than a row value: Jinja's literals and the
# template's own reference. (Filters and tests live in namespaces of their own, so a
# column called ``upper`` or ``defined`` shadows nothing.)
_JINJA_NAMES = {
    "self": "is Jinja's reference to the template itself",
    **dict.fromkeys(("true", "false", "none", "True", "False", "None"), "is a Jinja literal"),
}


def column_name_problem(name: str) -> str | None:
    """Why a column can't be called `name`, or None.

    A column is a template variable of every template that runs after it (in its config
    and in later stages), so a column called like one of the sandboxed environment's
    globals (``range``, ``dict``, ``lipsum``, ``cycler``, ``joiner``, ``namespace``) hides
    that global from them, and one called like a literal or ``self`` can't be read.
    """
    env_globals = jinja_environment().globals
    if name in env_globals:
        shown = f"{name}()" if callable(env_globals[name]) else name
        return (
            f"shadows the Jinja global {shown}: templates that run after this column "
            "(in this config and in later stages) would get the column instead; rename it"
        )
    if name in _JINJA_NAMES:
        return f"{_JINJA_NAMES[name]}: a template could never read this column; rename it"
    return None


@lru_cache(maxsize=4096)
def globals_read(source: str) -> frozenset[str]:
    """The sandboxed environment's globals a template uses (none if it does not parse)."""
    env = jinja_environment()
    try:
        ast = env.parse(source)
    except TemplateSyntaxError:
        return frozenset()
    names = (n.name for n in ast.find_all(nodes.Name) if n.ctx == "load")
    return frozenset(name for name in names if name in env.globals)


class DataDesignerConfig(BaseModel):
    """A complete, serializable description of one dataset."""

    model_config = ConfigDict(extra="forbid")

    columns: list[ColumnConfig] = Field(default_factory=list)
    model_configs: list[ModelConfig] = Field(default_factory=list)
    seed_config: SeedConfig | None = None
    processors: list[ProcessorConfig] = Field(default_factory=list)
    # Written (and fingerprinted) only when set, so configs without it stay as they were.
    allow_column_overrides: StrictBool = Field(default=False, exclude_if=lambda v: not v)
    """Let columns replace columns of the same name the seed (a stage's input) has."""

    def fingerprint(self) -> str:
        """sha256 of the generation-relevant content (operational knobs excluded).

        Stable across processes and PYTHONHASHSEED values; changes with any field that can
        change what is generated.
        """
        return fingerprint_of(self)

    def model_aliases(self) -> list[str]:
        """The model aliases the LLM columns use, sorted."""
        return sorted({c.model_alias for c in self.columns if isinstance(c, LLMTextColumnConfig)})

    def column(self, name: str) -> ColumnConfigBase:
        """The column called `name`; KeyError if there is none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (raises for a DataFrame seed, which is never serialized)."""
        return self.model_dump(mode="json", exclude_defaults=False)

    def to_file(self, path: str | Path) -> Path:
        """Write the config as YAML (``.yaml``/``.yml``) or JSON (``.json``), atomically."""
        return dump_file(self.to_dict(), path)

    @classmethod
    def from_file(cls, path: str | Path) -> DataDesignerConfig:
        """Load a config written by :meth:`to_file` (or by hand)."""
        return cls.model_validate(load_file(path))


class DataDesignerConfigBuilder:
    """Builds a :class:`DataDesignerConfig` step by step (the Data Designer builder API).

    `allow_column_overrides`: let a column replace a column of the same name that the
    seed (or a stage's input) already has; without it that is a validation error.
    """

    def __init__(
        self,
        model_configs: list[ModelConfig] | None = None,
        *,
        allow_column_overrides: bool = False,
    ) -> None:
        self._columns: list[ColumnConfigBase] = []
        self._model_configs: list[ModelConfig] = list(model_configs or [])
        self._seed_config: SeedConfig | None = None
        self._processors: list[Any] = []
        self.allow_column_overrides = allow_column_overrides

    @property
    def info(self) -> ConfigBuilderInfo:
        """Tables of the sampler types and this builder's models: ``info.display("samplers")``."""
        return ConfigBuilderInfo(self._model_configs)

    @classmethod
    def from_config(cls, config: DataDesignerConfig | str | Path) -> DataDesignerConfigBuilder:
        """A builder holding a copy of an existing config (or one loaded from a file)."""
        if not isinstance(config, DataDesignerConfig):
            config = DataDesignerConfig.from_file(config)
        config = config.model_copy(deep=True)
        builder = cls(
            model_configs=list(config.model_configs),
            allow_column_overrides=config.allow_column_overrides,
        )
        builder._columns = list(config.columns)
        builder._seed_config = config.seed_config
        builder._processors = list(config.processors)
        return builder

    def add_column(self, column: ColumnConfigBase | None = None, /, **kwargs: Any) -> Any:
        """Add a column: a column config object, or keyword arguments with `column_type`.

        Returns the builder, so calls chain. A malformed column, or one whose name
        shadows a Jinja global (see :func:`column_name_problem`), raises
        ConfigValidationError naming it.
        """
        if column is None:
            name = kwargs.get("name")
            try:
                column = _COLUMN_ADAPTER.validate_python(kwargs)
            except ValidationError as exc:
                raise config_error_from(exc, column=name) from None
        elif kwargs:
            raise TypeError("pass either a column config or keyword arguments, not both")
        elif not isinstance(column, ColumnConfigBase):
            raise TypeError(f"expected a column config, got {type(column).__name__}")
        # A seed-dataset column is data: it matters only if a template uses the global.
        if not isinstance(column, SeedDatasetColumnConfig) and (
            problem := column_name_problem(column.name)
        ):
            raise ConfigValidationError.of(problem, column=column.name)
        self._columns.append(column)
        return self

    def delete_column(self, name: str) -> DataDesignerConfigBuilder:
        """Remove the column called `name`."""
        self._columns = [c for c in self._columns if c.name != name]
        return self

    def with_seed_dataset(
        self,
        source: LocalFileSeedSource | DataFrameSeedSource,
        *,
        sampling_strategy: SamplingStrategy | str = SamplingStrategy.ORDERED,
        selection_strategy: IndexRange | PartitionBlock | None = None,
    ) -> DataDesignerConfigBuilder:
        """Seed the dataset from `source`.

        When the seed's columns can be read now (a DataFrame, or files that exist), each is
        added as a ``seed-dataset`` column, so it can be dropped or inspected like any other.
        """
        try:
            self._seed_config = SeedConfig(
                source=source,
                sampling_strategy=sampling_strategy,
                selection_strategy=selection_strategy,
            )
        except ValidationError as exc:
            raise config_error_from(exc, field="seed_config") from None
        try:
            seed_columns = read_seed_columns(source)
        except (ValueError, OSError):
            seed_columns = []
        declared = {c.name for c in self._columns}
        for name in seed_columns:
            if name not in declared:
                self._columns.append(SeedDatasetColumnConfig(name=name))
        return self

    def add_processor(self, processor: Any = None, /, **kwargs: Any) -> DataDesignerConfigBuilder:
        """Add a processor config (or keyword arguments with `processor_type`)."""
        if processor is None:
            try:
                processor = _PROCESSOR_ADAPTER.validate_python(kwargs)
            except ValidationError as exc:
                raise config_error_from(exc, field="processors") from None
        self._processors.append(processor)
        return self

    def add_model_config(self, model_config: ModelConfig) -> DataDesignerConfigBuilder:
        """Add (or replace, by alias) a model config."""
        self._model_configs = [m for m in self._model_configs if m.alias != model_config.alias]
        self._model_configs.append(model_config)
        return self

    @property
    def columns(self) -> list[ColumnConfigBase]:
        """The columns added so far."""
        return list(self._columns)

    @property
    def model_configs(self) -> list[ModelConfig]:
        """The model configs added so far."""
        return list(self._model_configs)

    def build(self) -> DataDesignerConfig:
        """The config, as an independent copy of what was added."""
        return DataDesignerConfig(
            columns=copy.deepcopy(self._columns),
            model_configs=copy.deepcopy(self._model_configs),
            seed_config=self._seed_config.model_copy() if self._seed_config else None,
            processors=copy.deepcopy(self._processors),
            allow_column_overrides=self.allow_column_overrides,
        )
