"""`DataDesignerConfig` (one dataset's columns, models, seed and processors) and its builder."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from dd_prefect.config.columns import (
    ColumnConfig,
    ColumnConfigBase,
    LLMTextColumnConfig,
    SeedDatasetColumnConfig,
)
from dd_prefect.config.errors import config_error_from
from dd_prefect.config.fingerprint import fingerprint_of
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

_COLUMN_ADAPTER: TypeAdapter[Any] = TypeAdapter(ColumnConfig)
_PROCESSOR_ADAPTER: TypeAdapter[Any] = TypeAdapter(ProcessorConfig)


class DataDesignerConfig(BaseModel):
    """A complete, serializable description of one dataset."""

    model_config = ConfigDict(extra="forbid")

    columns: list[ColumnConfig] = Field(default_factory=list)
    model_configs: list[ModelConfig] = Field(default_factory=list)
    seed_config: SeedConfig | None = None
    processors: list[ProcessorConfig] = Field(default_factory=list)

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
    """Builds a :class:`DataDesignerConfig` step by step (the Data Designer builder API)."""

    def __init__(self, model_configs: list[ModelConfig] | None = None) -> None:
        self._columns: list[ColumnConfigBase] = []
        self._model_configs: list[ModelConfig] = list(model_configs or [])
        self._seed_config: SeedConfig | None = None
        self._processors: list[Any] = []

    @classmethod
    def from_config(cls, config: DataDesignerConfig | str | Path) -> DataDesignerConfigBuilder:
        """A builder holding a copy of an existing config (or one loaded from a file)."""
        if not isinstance(config, DataDesignerConfig):
            config = DataDesignerConfig.from_file(config)
        config = config.model_copy(deep=True)
        builder = cls(model_configs=list(config.model_configs))
        builder._columns = list(config.columns)
        builder._seed_config = config.seed_config
        builder._processors = list(config.processors)
        return builder

    def add_column(self, column: ColumnConfigBase | None = None, /, **kwargs: Any) -> Any:
        """Add a column: a column config object, or keyword arguments with `column_type`.

        Returns the builder, so calls chain. A malformed column raises ConfigValidationError
        naming it.
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
        )
