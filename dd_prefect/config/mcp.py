"""MCP tool use: the servers tools come from (providers) and which tools a column may call
(:class:`ToolConfig`).

Names and meaning follow Data Designer (``data_designer.config.mcp``). Tool configs belong
to a dataset config (``DataDesignerConfig.tool_configs``, a column's ``tool_alias`` names
one); providers belong to the process that runs it (``DataDesigner(mcp_providers=...)``),
like model providers, so a config handed in from elsewhere never chooses the commands a
worker starts.

A remote provider's `api_key`, like a model provider's, names an environment variable or a
Prefect Secret block (``secret:<block-name>``), never the key itself. A stdio provider's
`env` is passed to the server process as given; it is never shown in a repr or an error.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from dd_prefect.config.errors import config_error_from
from dd_prefect.config.io import load_file
from dd_prefect.config.models import api_key_reference, api_key_refusal
from dd_prefect.errors import ConfigValidationError


class _ProviderBase(BaseModel):
    # Errors never echo the input: a literal key or an env value must not reach a log.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class MCPProvider(_ProviderBase):
    """A running MCP server reached over SSE (``provider_type="sse"``, the default) or
    Streamable HTTP (``"streamable_http"``) at `endpoint`; `api_key` (optional) names where
    its bearer token lives."""

    provider_type: Literal["sse", "streamable_http"] = "sse"
    name: str
    endpoint: str
    api_key: str | None = None

    @field_validator("api_key")
    @classmethod
    def _names_not_keys(cls, value: str | None) -> str | None:
        return api_key_reference(value)


class LocalStdioMCPProvider(_ProviderBase):
    """An MCP server started as a subprocess (`command` with `args`) and spoken to over its
    stdin/stdout. `env` is added to a minimal environment (``PATH``, ``HOME``, ...): the
    worker's own variables are not passed on."""

    provider_type: Literal["stdio"] = "stdio"
    name: str
    command: str
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, repr=False)


MCPProviderT = Annotated[MCPProvider | LocalStdioMCPProvider, Field(discriminator="provider_type")]
"""Either kind of MCP provider, told apart by ``provider_type``."""


MCP_PROVIDERS_FILE_NAME = "mcp_providers.yaml"
"""Where Data Designer's CLI keeps MCP providers, in its home (``~/.data-designer``)."""

_PROVIDER_LIST: TypeAdapter[list[MCPProvider | LocalStdioMCPProvider]] = TypeAdapter(
    list[MCPProviderT]
)


def load_mcp_providers(path: str | Path) -> list[MCPProvider | LocalStdioMCPProvider]:
    """The MCP providers of a file as Data Designer's CLI writes it (``providers: [...]``,
    YAML or JSON); ConfigValidationError naming the file, never a value from it."""
    content = load_file(path)
    entries = content.get("providers") if isinstance(content, dict) else None
    if not isinstance(entries, list):
        raise ConfigValidationError.of(f"{path}: expected a list under 'providers'")
    try:
        return _PROVIDER_LIST.validate_python(entries)
    except ValidationError as exc:
        issues = config_error_from(exc, field="providers").issues
        raise ConfigValidationError(
            [dataclasses.replace(i, message=f"{path}: {i.message}") for i in issues]
        ) from None


class ToolConfig(BaseModel):
    """Tools an LLM column may call, under `tool_alias`: every tool of the MCP `providers`
    (by name), or only those in `allow_tools`. A generation may take at most
    `max_tool_call_turns` turns of tool calls (a turn runs all the calls one answer asks
    for, concurrently); a further request is answered with a refusal, so the model gives its
    final answer. `timeout_sec` bounds each listing of tools and each turn of calls."""

    model_config = ConfigDict(extra="forbid")

    tool_alias: str
    providers: list[str]
    allow_tools: list[str] | None = None
    max_tool_call_turns: int = Field(default=5, ge=1)
    timeout_sec: float | None = Field(default=None, gt=0)


def tool_config_problems(
    tool_configs: Iterable[ToolConfig], tool_aliases: Iterable[tuple[str, str]]
) -> list[tuple[str, str | None]]:
    """Problems of a config's tool configs and of the `tool_aliases` its columns use
    (``(column, alias)`` pairs): ``(message, column or None)`` each."""
    configs = list(tool_configs)
    problems: list[tuple[str, str | None]] = []
    for alias, count in Counter(t.tool_alias for t in configs).items():
        if count > 1:
            problems.append((f"duplicate tool config alias '{alias}'", None))
    for config in configs:
        if not config.providers:
            problems.append((f"tool config '{config.tool_alias}' names no MCP provider", None))
        repeated = [n for n, c in Counter(config.allow_tools or []).items() if c > 1]
        if repeated:
            problems.append(
                (
                    f"tool config '{config.tool_alias}' lists tools more than once in "
                    f"allow_tools: {', '.join(sorted(repeated))}",
                    None,
                )
            )
    known = sorted({t.tool_alias for t in configs})
    for column, alias in tool_aliases:
        if alias not in known:
            problems.append(
                (
                    f"unknown tool alias '{alias}' (known: {', '.join(known) or 'none defined'})",
                    column,
                )
            )
    return problems


def provider_problems(
    tool_configs: Iterable[ToolConfig],
    used_aliases: Iterable[str],
    providers: Iterable[MCPProvider | LocalStdioMCPProvider],
    allowed_key_variables: Iterable[str] = (),
) -> list[str]:
    """Problems of the tool configs columns use (`used_aliases`) with the run's MCP
    `providers`: a provider named that the run lacks, an api_key naming an environment
    variable the worker does not allow (see :func:`~dd_prefect.config.models.api_key_refusal`)."""
    by_name = {p.name: p for p in providers}
    known = ", ".join(sorted(by_name)) or "none"
    used = set(used_aliases)
    problems: list[str] = []
    for config in tool_configs:
        if config.tool_alias not in used:
            continue
        for name in config.providers:
            provider = by_name.get(name)
            if provider is None:
                problems.append(
                    f"tool config '{config.tool_alias}' names MCP provider '{name}', which is "
                    f"not among DataDesigner's mcp_providers ({known})"
                )
            elif isinstance(provider, MCPProvider) and (
                refusal := api_key_refusal(provider, allowed_key_variables)
            ):
                problems.append("MCP " + refusal)
    return list(dict.fromkeys(problems))
