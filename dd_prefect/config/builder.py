"""`DataDesignerConfigBuilder`: builds a :class:`DataDesignerConfig` step by step."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from pydantic import (
    TypeAdapter,
    ValidationError,
)

from dd_prefect.config.columns import (
    ColumnConfig,
    ColumnConfigBase,
    SeedDatasetColumnConfig,
)
from dd_prefect.config.data_designer_config import DataDesignerConfig, column_name_problem
from dd_prefect.config.dd_format import wrap
from dd_prefect.config.errors import config_error_from
from dd_prefect.config.info import ConfigBuilderInfo
from dd_prefect.config.io import dump_file, load_file
from dd_prefect.config.mcp import ToolConfig
from dd_prefect.config.models import ModelConfig
from dd_prefect.config.processors import ProcessorConfig
from dd_prefect.config.profilers import JudgeScoreProfilerConfig
from dd_prefect.config.seeds import (
    DataFrameSeedSource,
    IndexRange,
    LocalFileSeedSource,
    PartitionBlock,
    SamplingStrategy,
    SeedConfig,
    read_seed_columns,
)
from dd_prefect.config.validation import OWN_SEED, SEED_PENDING, validate_config
from dd_prefect.errors import ConfigValidationError

__all__ = ["DataDesignerConfig", "DataDesignerConfigBuilder"]

logger = logging.getLogger(__name__)

_COLUMN_ADAPTER: TypeAdapter[Any] = TypeAdapter(ColumnConfig)
_PROCESSOR_ADAPTER: TypeAdapter[Any] = TypeAdapter(ProcessorConfig)

# DataDesignerConfig's top-level fields the builder carries from `from_config` to `build`.
_CARRIED = ("tool_configs", "constraints", "profilers")


class DataDesignerConfigBuilder:
    """Builds a :class:`DataDesignerConfig` step by step (the Data Designer builder API).

    `model_configs`: a list, or a YAML/JSON file with a ``model_configs:`` list (as Data
    Designer's).

    `allow_column_overrides`: let a column replace a column of the same name that the
    seed (or a stage's input) already has; without it that is a validation error.
    """

    def __init__(
        self,
        model_configs: list[ModelConfig] | str | Path | None = None,
        tool_configs: list[ToolConfig] | None = None,
        *,
        allow_column_overrides: bool = False,
    ) -> None:
        self._columns: list[ColumnConfigBase] = []
        self._model_configs = _model_configs(model_configs)
        self._seed_config: SeedConfig | None = None
        self._processors: list[Any] = []
        self._carried: dict[str, Any] = {}
        for tool_config in tool_configs or []:
            self.add_tool_config(tool_config)
        self.allow_column_overrides = allow_column_overrides

    @property
    def info(self) -> ConfigBuilderInfo:
        """Tables of the sampler types and this builder's models: ``info.display("samplers")``."""
        return ConfigBuilderInfo(self._model_configs)

    @classmethod
    def from_config(
        cls, config: DataDesignerConfig | dict[str, Any] | str | Path
    ) -> DataDesignerConfigBuilder:
        """A builder holding a copy of an existing config, or of one from a dict or a file
        (ours or Data Designer's: wrapped or bare, YAML or JSON)."""
        if isinstance(config, dict):
            config = DataDesignerConfig.from_dict(config)
        elif not isinstance(config, DataDesignerConfig):
            config = DataDesignerConfig.from_file(config)
        config = config.model_copy(deep=True)
        builder = cls(
            model_configs=list(config.model_configs),
            allow_column_overrides=config.allow_column_overrides,
        )
        builder._columns = list(config.columns)
        builder._seed_config = config.seed_config
        builder._processors = list(config.processors)
        builder._carried = {name: getattr(config, name) for name in _CARRIED}
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

    def add_tool_config(self, tool_config: ToolConfig) -> DataDesignerConfigBuilder:
        """Add a tool config (ConfigValidationError if its alias is taken)."""
        if any(t.tool_alias == tool_config.tool_alias for t in self.tool_configs):
            raise ConfigValidationError.of(
                f"a tool config with alias '{tool_config.tool_alias}' already exists",
                field="tool_configs",
            )
        self._carried["tool_configs"] = [*self.tool_configs, tool_config]
        return self

    def add_profiler(self, profiler_config: JudgeScoreProfilerConfig) -> DataDesignerConfigBuilder:
        """Add a column profiler (Data Designer's judge-score profiler, without LLM
        summaries: see :mod:`dd_prefect.config.profilers`)."""
        self._carried["profilers"] = [*(self._carried.get("profilers") or []), profiler_config]
        return self

    def delete_tool_config(self, alias: str) -> DataDesignerConfigBuilder:
        """Remove the tool config with `alias`."""
        kept = [t for t in self.tool_configs if t.tool_alias != alias]
        self._carried["tool_configs"] = kept
        return self

    def get_tool_config(self, alias: str) -> ToolConfig:
        """The tool config with `alias`; KeyError if there is none."""
        for tool_config in self.tool_configs:
            if tool_config.tool_alias == alias:
                return tool_config
        raise KeyError(alias)

    @property
    def tool_configs(self) -> list[ToolConfig]:
        """The tool configs added so far."""
        return list(self._carried.get("tool_configs") or [])

    @property
    def columns(self) -> list[ColumnConfigBase]:
        """The columns added so far."""
        return list(self._columns)

    @property
    def model_configs(self) -> list[ModelConfig]:
        """The model configs added so far."""
        return list(self._model_configs)

    def build(
        self, *, skip_validation: bool = False, raise_exceptions: bool = False
    ) -> DataDesignerConfig:
        """The config, as an independent copy of what was added.

        Unless `skip_validation`, it is validated first (:meth:`validate`): problems are
        logged, or raised with `raise_exceptions`.
        """
        if not skip_validation:
            self.validate(raise_exceptions=raise_exceptions)
        return self._config()

    def validate(self, *, raise_exceptions: bool = False) -> DataDesignerConfigBuilder:
        """Check the config (:func:`~dd_prefect.config.validation.validate_config`).

        Each problem is logged as a warning; with `raise_exceptions` a
        ConfigValidationError lists them all instead. Without a seed, references to
        columns the config lacks are left to the stage that feeds it. Returns the builder.
        """
        config = self._config()
        seed_columns = OWN_SEED if config.seed_config is not None else SEED_PENDING
        issues = validate_config(config, seed_columns=seed_columns, raise_on_error=False)
        if issues and raise_exceptions:
            raise ConfigValidationError(issues)
        for issue in issues:
            logger.warning("config problem: %s", issue)
        return self

    def write_config(self, path: str | Path, indent: int | None = 2) -> None:
        """Write the config as Data Designer's ``write_config`` does: its ``data_designer:``
        wrapper and ``library_version``, as YAML (``.yaml``/``.yml``) or JSON (``.json``).

        Data Designer loads the file with ``DataDesignerConfigBuilder.from_config(path)``.
        """
        suffix = Path(path).suffix.lower()
        if suffix not in (".yaml", ".yml", ".json"):
            raise ValueError(f"unsupported file type '{suffix}': use .yaml, .yml or .json")
        dump_file(wrap(self._config().to_dict()), path, indent=indent)

    def _config(self) -> DataDesignerConfig:
        return DataDesignerConfig(
            columns=copy.deepcopy(self._columns),
            model_configs=copy.deepcopy(self._model_configs),
            seed_config=self._seed_config.model_copy() if self._seed_config else None,
            processors=copy.deepcopy(self._processors),
            allow_column_overrides=self.allow_column_overrides,
            **copy.deepcopy(self._carried),
        )


def _model_configs(source: list[ModelConfig] | str | Path | None) -> list[ModelConfig]:
    """The model configs given, or read from the ``model_configs:`` list of a file."""
    if not isinstance(source, str | Path):
        return list(source or [])
    data = load_file(source)
    if not isinstance(data, dict) or not isinstance(data.get("model_configs"), list):
        raise ConfigValidationError.of(
            f"{source}: the file must hold a list of model configs under 'model_configs'",
            field="model_configs",
        )
    try:
        return [ModelConfig.model_validate(m) for m in data["model_configs"]]
    except ValidationError as exc:
        raise config_error_from(exc, field="model_configs") from None
