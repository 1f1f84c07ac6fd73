"""Data Designer's default model providers and model aliases.

A Data Designer user who configures no models gets three providers (``nvidia``,
``openai``, ``openrouter``) and four aliases on each (``<provider>-text``, ``-reasoning``,
``-vision``, ``-embedding``): ``openai-text`` is ``gpt-4.1`` on ``openai``. Data Designer
reads them from ``$DATA_DESIGNER_HOME`` (``~/.data-designer``): ``model_providers.yaml``
and ``model_configs.yaml``, which its CLI edits; dd_prefect reads the same files when they
exist (never writes them) and falls back to the same built-in table (Data Designer
0.9.7's). A provider's ``api_key`` is the NAME of an environment variable
(``NVIDIA_API_KEY``, ``OPENAI_API_KEY``, ``OPENROUTER_API_KEY``), resolved when a run
starts; no key is ever stored.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.errors import config_error_from
from dd_prefect.config.io import load_file
from dd_prefect.config.models import ModelConfig, ModelProvider
from dd_prefect.errors import ConfigValidationError

_T = TypeVar("_T", ModelProvider, ModelConfig)

DATA_DESIGNER_HOME_ENV_VAR = "DATA_DESIGNER_HOME"

BUILTIN_PROVIDERS: list[dict[str, str]] = [
    {
        "name": "nvidia",
        "endpoint": "https://integrate.api.nvidia.com/v1",
        "api_key": "NVIDIA_API_KEY",
    },
    {"name": "openai", "endpoint": "https://api.openai.com/v1", "api_key": "OPENAI_API_KEY"},
    {
        "name": "openrouter",
        "endpoint": "https://openrouter.ai/api/v1",
        "api_key": "OPENROUTER_API_KEY",
    },
]

_TEXT = {"temperature": 0.85, "top_p": 0.95}
_REASONING = {"temperature": 0.35, "top_p": 0.95}
_EMBEDDING = {"generation_type": "embedding", "encoding_format": "float"}
_NANO = {"temperature": 1.0, "top_p": 1.0}
_OMNI = {"temperature": 0.60, "top_p": 0.95}
_GPT5 = {"extra_body": {"reasoning_effort": "medium"}}

# provider -> kind -> (model, inference parameters); alias = f"{provider}-{kind}"
BUILTIN_MODELS: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "nvidia": {
        "text": (
            "nvidia/nemotron-3.5-lightning-30b-a3b",
            {
                "temperature": 1.0,
                "top_p": 0.95,
                "extra_body": {"chat_template_kwargs": {"enable_thinking": False}},
            },
        ),
        "reasoning": (
            "nvidia/nemotron-3-super-120b-a12b",
            {"temperature": 1.0, "top_p": 0.95, "extra_body": {"reasoning_effort": "medium"}},
        ),
        "vision": ("nvidia/nemotron-3-nano-omni-30b-a3b-reasoning", _OMNI),
        "embedding": (
            "nvidia/nemotron-3-embed-1b",
            {**_EMBEDDING, "extra_body": {"input_type": "query"}},
        ),
    },
    "openai": {
        "text": ("gpt-4.1", _TEXT),
        "reasoning": ("gpt-5", _GPT5),
        "vision": ("gpt-5", _GPT5),
        "embedding": ("text-embedding-3-large", _EMBEDDING),
    },
    "openrouter": {
        "text": ("nvidia/nemotron-3-nano-30b-a3b", _NANO),
        "reasoning": ("openai/gpt-oss-20b", _REASONING),
        "vision": ("nvidia/nemotron-3-nano-omni-30b-a3b-reasoning:free", _OMNI),
        "embedding": ("openai/text-embedding-3-large", _EMBEDDING),
    },
}


def data_designer_home() -> Path:
    """Where Data Designer keeps its settings: ``$DATA_DESIGNER_HOME`` or ``~/.data-designer``."""
    return Path(os.environ.get(DATA_DESIGNER_HOME_ENV_VAR) or Path.home() / ".data-designer")


def default_model_providers() -> list[ModelProvider]:
    """``model_providers.yaml`` of the Data Designer home if present, else the built-in three."""
    path = _home_file("model_providers.yaml")
    entries = BUILTIN_PROVIDERS if path is None else _entries(path, "providers")
    return _parse(ModelProvider, entries, path)


def default_model_configs() -> list[ModelConfig]:
    """``model_configs.yaml`` of the Data Designer home if present, else the built-in twelve."""
    path = _home_file("model_configs.yaml")
    entries = (
        _entries(path, "model_configs")
        if path
        else [
            {"alias": f"{provider}-{kind}", "model": model, "provider": provider}
            | {"inference_parameters": params}
            for provider, kinds in BUILTIN_MODELS.items()
            for kind, (model, params) in kinds.items()
        ]
    )
    return _parse(ModelConfig, entries, path)


def with_default_models(config: DataDesignerConfig) -> DataDesignerConfig:
    """`config` plus the default model of every alias its columns use but it does not
    define (its own models win), as when a Data Designer user configures none."""
    wanted = set(config.model_aliases()) - {m.alias for m in config.model_configs}
    if not wanted:
        return config
    added = [m for m in default_model_configs() if m.alias in wanted]
    return config.model_copy(update={"model_configs": [*config.model_configs, *added]})


def _home_file(name: str) -> Path | None:
    path = data_designer_home() / name
    return path if path.is_file() else None


def _entries(path: Path, key: str) -> list[Any]:
    content = load_file(path) or {}
    entries = content.get(key) if isinstance(content, dict) else None
    if not isinstance(entries, list):
        raise ConfigValidationError.of(f"{path}: expected a list under '{key}'", field=key)
    return entries


def _parse(model: type[_T], entries: list[Any], source: Path | None) -> list[_T]:
    """`entries` as `model`s; an error names the file they came from (None: built in)."""
    try:
        return [model.model_validate(entry) for entry in entries]
    except ValidationError as exc:
        where = f"{source}: " if source else ""
        raise ConfigValidationError(
            [
                dataclasses.replace(i, message=where + i.message)
                for i in config_error_from(exc).issues
            ]
        ) from None
