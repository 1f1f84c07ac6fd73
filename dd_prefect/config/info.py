"""``config_builder.info`` and ``DataDesigner.info``: tables of what is available.

``config_builder.info.display("samplers")`` lists the sampler types and their parameters
(``sampler_type=`` narrows it to one), ``display("model_configs")`` the builder's models;
``DataDesigner.info.display("model_providers")`` the designer's providers (keys are
environment variable names, never values).
"""

from __future__ import annotations

from pydantic import BaseModel

from dd_prefect.config.models import ModelConfig, ModelProvider
from dd_prefect.config.samplers import PARAMS_BY_TYPE, SamplerType


def _print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _fields(params: type[BaseModel]) -> str:
    return ", ".join(
        name if info.is_required() else f"{name}={info.get_default(call_default_factory=True)!r}"
        for name, info in params.model_fields.items()
        if name != "sampler_type"
    )


def _unsupported(info_type: str, supported: tuple[str, ...]) -> ValueError:
    return ValueError(f"unsupported info_type {info_type!r} (supported: {', '.join(supported)})")


class ConfigBuilderInfo:
    """What a config builder can use: sampler types and its model configs."""

    def __init__(self, model_configs: list[ModelConfig]) -> None:
        self._model_configs = model_configs

    def display(self, info_type: str, sampler_type: SamplerType | str | None = None) -> None:
        """Print ``"samplers"`` (optionally one `sampler_type`) or ``"model_configs"``."""
        info_type = str(getattr(info_type, "value", info_type))
        if info_type == "samplers":
            types = [SamplerType(sampler_type)] if sampler_type else list(PARAMS_BY_TYPE)
            rows = [[t.value, _fields(PARAMS_BY_TYPE[t])] for t in types]
            _print_table("Samplers", ["sampler_type", "params"], rows)
        elif info_type == "model_configs":
            rows = [
                [m.alias, m.model, m.provider or "", m.inference_parameters.generation_type]
                for m in self._model_configs
            ]
            _print_table("Model configs", ["alias", "model", "provider", "generates"], rows)
        else:
            raise _unsupported(info_type, ("samplers", "model_configs"))


class InterfaceInfo:
    """What a DataDesigner is configured with: its model providers."""

    def __init__(self, model_providers: list[ModelProvider]) -> None:
        self._model_providers = model_providers

    def display(self, info_type: str) -> None:
        """Print ``"model_providers"``."""
        info_type = str(getattr(info_type, "value", info_type))
        if info_type != "model_providers":
            raise _unsupported(info_type, ("model_providers",))
        rows = [
            [p.name, p.endpoint or p.provider_type, p.api_key or ""] for p in self._model_providers
        ]
        _print_table("Model providers", ["name", "endpoint", "api_key (variable)"], rows)
