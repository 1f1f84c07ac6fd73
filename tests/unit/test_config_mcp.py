"""MCP config models (Data Designer's ToolConfig, MCPProvider, LocalStdioMCPProvider)."""

from __future__ import annotations

import pydantic
import pytest
from pydantic import TypeAdapter

from dd_prefect.config.mcp import (
    LocalStdioMCPProvider,
    MCPProvider,
    MCPProviderT,
    ToolConfig,
    tool_config_problems,
)


def test_tool_config_defaults_and_limits() -> None:
    config = ToolConfig(tool_alias="t", providers=["p"])
    assert (config.allow_tools, config.max_tool_call_turns, config.timeout_sec) == (None, 5, None)
    with pytest.raises(pydantic.ValidationError, match="max_tool_call_turns"):
        ToolConfig(tool_alias="t", providers=["p"], max_tool_call_turns=0)
    with pytest.raises(pydantic.ValidationError, match="timeout_sec"):
        ToolConfig(tool_alias="t", providers=["p"], timeout_sec=0)
    with pytest.raises(pydantic.ValidationError, match="extra"):
        ToolConfig(tool_alias="t", providers=["p"], nope=1)  # type: ignore[call-arg]


def test_providers_are_told_apart_by_provider_type() -> None:
    adapter: TypeAdapter[MCPProvider | LocalStdioMCPProvider] = TypeAdapter(MCPProviderT)
    remote = adapter.validate_python({"provider_type": "sse", "name": "r", "endpoint": "http://h"})
    assert isinstance(remote, MCPProvider) and remote.provider_type == "sse"
    stdio = adapter.validate_python({"provider_type": "stdio", "name": "s", "command": "srv"})
    assert isinstance(stdio, LocalStdioMCPProvider) and stdio.args == [] and stdio.env == {}
    http = MCPProvider(name="h", endpoint="http://h/mcp", provider_type="streamable_http")
    assert adapter.validate_python(http.model_dump()) == http


def test_a_remote_api_key_names_where_the_key_lives() -> None:
    assert MCPProvider(name="r", endpoint="http://h", api_key="TAVILY_API_KEY").api_key
    assert MCPProvider(name="r", endpoint="http://h", api_key="secret:tavily").api_key
    with pytest.raises(pydantic.ValidationError) as info:
        MCPProvider(name="r", endpoint="http://h", api_key="tvly-abc123")
    assert "never hold the key itself" in str(info.value)
    assert "tvly-abc123" not in str(info.value)


def test_stdio_env_stays_out_of_reprs_and_errors() -> None:
    provider = LocalStdioMCPProvider(name="s", command="srv", env={"TOKEN": "hunter2"})
    assert "hunter2" not in repr(provider) and "hunter2" not in str(provider)
    with pytest.raises(pydantic.ValidationError) as info:
        LocalStdioMCPProvider(name="s", command="srv", env={"TOKEN": "hunter2"}, args="x")
    assert "hunter2" not in str(info.value)


def test_tool_config_problems() -> None:
    configs = [
        ToolConfig(tool_alias="a", providers=["p"], allow_tools=["x", "y", "x"]),
        ToolConfig(tool_alias="a", providers=[]),
    ]
    problems = tool_config_problems(configs, [("col", "a"), ("other", "missing")])
    assert problems == [
        ("duplicate tool config alias 'a'", None),
        ("tool config 'a' lists tools more than once in allow_tools: x", None),
        ("tool config 'a' names no MCP provider", None),
        ("unknown tool alias 'missing' (known: a)", "other"),
    ]
    assert tool_config_problems([], [("col", "t")]) == [
        ("unknown tool alias 't' (known: none defined)", "col")
    ]
