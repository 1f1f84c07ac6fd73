"""`DataDesignerConfig`: one dataset's columns, models, seed and processors, read and
written in Data Designer's format."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

from dd_prefect.config.columns import ColumnConfig, ColumnConfigBase
from dd_prefect.config.dd_fields import refuse_unsupported
from dd_prefect.config.dd_format import read_shapes, unwrap, wrap, write_shapes
from dd_prefect.config.errors import config_error_from
from dd_prefect.config.fingerprint import fingerprint_of
from dd_prefect.config.io import atomic_write_text, dump_file, dump_text, load_file
from dd_prefect.config.mcp import ToolConfig
from dd_prefect.config.models import ChatCompletionInferenceParams, ModelConfig
from dd_prefect.config.processors import ProcessorConfig
from dd_prefect.config.profilers import JudgeScoreProfilerConfig
from dd_prefect.config.seeds import SeedConfig
from dd_prefect.config.templates import jinja_environment

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
    """A complete, serializable description of one dataset.

    Reads and writes Data Designer's format: a file or dict with its ``data_designer:``
    wrapper and ``library_version`` (0.9.x) or bare, every Data Designer field accepted
    (see :mod:`dd_prefect.config.dd_fields` for those refused unless at their default).
    """

    model_config = ConfigDict(extra="forbid")

    columns: list[ColumnConfig] = Field(default_factory=list)
    model_configs: list[ModelConfig] = Field(default_factory=list)
    tool_configs: list[ToolConfig] = Field(default_factory=list)
    seed_config: SeedConfig | None = None
    constraints: list[dict[str, Any]] | None = None
    profilers: list[JudgeScoreProfilerConfig] | None = None
    processors: list[ProcessorConfig] = Field(default_factory=list)
    # Written (and fingerprinted) only when set, so configs without it stay as they were.
    allow_column_overrides: StrictBool = Field(default=False, exclude_if=lambda v: not v)
    """Let columns replace columns of the same name the seed (a stage's input) has."""

    @model_validator(mode="before")
    @classmethod
    def _data_designer_shapes(cls, data: Any) -> Any:
        data = unwrap(data)
        if not isinstance(data, dict):
            return data
        refuse_unsupported("config", data, "config")
        data = {k: ([] if v is None and k in _EMPTY_IS_NONE else v) for k, v in data.items()}
        return read_shapes(data, ModelConfig, ChatCompletionInferenceParams)

    def fingerprint(self) -> str:
        """sha256 of the generation-relevant content (operational knobs excluded).

        Stable across processes and PYTHONHASHSEED values; changes with any field that can
        change what is generated.
        """
        return fingerprint_of(self)

    def model_aliases(self) -> list[str]:
        """The model aliases the columns use (LLM, embedding and image columns), sorted."""
        return sorted({a for c in self.columns if (a := getattr(c, "model_alias", None))})

    def column(self, name: str) -> ColumnConfigBase:
        """The column called `name`; KeyError if there is none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Data Designer's dict of this config, every field written (its
        ``DataDesignerConfig.to_dict()``); raises for a DataFrame seed, never serialized."""
        return write_shapes(self.model_dump(mode="json"))

    def to_yaml(self, path: str | Path | None = None, *, indent: int | None = 2) -> str | None:
        """The config as YAML text, or written to `path` (then None), as Data Designer's."""
        return _export(self.to_dict(), "yaml", path, indent)

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str | None:
        """The config as JSON text, or written to `path` (then None), as Data Designer's."""
        return _export(self.to_dict(), "json", path, indent)

    def to_file(self, path: str | Path) -> Path:
        """Write the config as Data Designer's ``write_config`` does (wrapped, with its
        ``library_version``): YAML (``.yaml``/``.yml``) or JSON (``.json``), atomically."""
        return dump_file(wrap(self.to_dict()), path)

    @classmethod
    def from_file(cls, path: str | Path) -> DataDesignerConfig:
        """Load a config file: ours, or Data Designer's (wrapped or bare, YAML or JSON).

        Raises ConfigValidationError naming the column and field of each problem.
        """
        return cls.from_dict(load_file(path))

    @classmethod
    def from_dict(cls, data: Any) -> DataDesignerConfig:
        """A config from a dict (ours or Data Designer's, wrapped or bare).

        Raises ConfigValidationError naming the column and field of each problem.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            try:
                named = unwrap(data)
            except ValueError:
                named = data
            raise config_error_from(exc, data=named) from None


_EMPTY_IS_NONE = ("tool_configs", "processors", "model_configs")
"""Top-level lists Data Designer writes as null when empty."""


def _export(
    data: dict[str, Any], fmt: str, path: str | Path | None, indent: int | None
) -> str | None:
    text = dump_text(data, fmt, indent=indent)
    if path is None:
        return text
    atomic_write_text(path, text)
    return None
