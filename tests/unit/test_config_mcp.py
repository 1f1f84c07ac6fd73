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


def test_tool_configs_are_written_read_and_fingerprinted(tmp_path) -> None:
    import dd_prefect.config as dd

    def config(**tool: object) -> dd.DataDesignerConfig:
        b = dd.DataDesignerConfigBuilder(
            model_configs=[dd.ModelConfig(alias="m", model="x")],
            tool_configs=[ToolConfig(tool_alias="t", providers=["p"], **tool)],  # type: ignore[arg-type]
        )
        b.add_column(
            name="a",
            column_type="llm-text",
            model_alias="m",
            prompt="hi",
            tool_alias="t",
            with_trace="all_messages",
        )
        return b.build()

    base = config()
    back = dd.DataDesignerConfig.from_file(base.to_file(tmp_path / "c.yaml"))
    assert back.tool_configs == base.tool_configs and back.fingerprint() == base.fingerprint()
    assert config(timeout_sec=9).fingerprint() == base.fingerprint()  # operational
    assert config(allow_tools=["x"]).fingerprint() != base.fingerprint()
    assert config(max_tool_call_turns=2).fingerprint() != base.fingerprint()
    no_tools = base.model_copy(update={"tool_configs": []})
    assert no_tools.fingerprint() != base.fingerprint()


def test_builder_tool_configs() -> None:
    import dd_prefect.config as dd
    from dd_prefect.errors import ConfigValidationError

    b = dd.DataDesignerConfigBuilder(tool_configs=[ToolConfig(tool_alias="t", providers=["p"])])
    b.add_tool_config(ToolConfig(tool_alias="u", providers=["p"]))
    with pytest.raises(ConfigValidationError, match="alias 't' already exists"):
        b.add_tool_config(ToolConfig(tool_alias="t", providers=["q"]))
    assert [t.tool_alias for t in b.tool_configs] == ["t", "u"]
    assert b.get_tool_config("u").providers == ["p"]
    b.delete_tool_config("t")
    assert [t.tool_alias for t in b.build().tool_configs] == ["u"]
    with pytest.raises(KeyError):
        b.get_tool_config("t")
    again = dd.DataDesignerConfigBuilder.from_config(b.build())
    assert [t.tool_alias for t in again.tool_configs] == ["u"]


def test_validation_names_the_column_and_its_unknown_tool_alias() -> None:
    import dd_prefect.config as dd
    from dd_prefect.errors import ConfigValidationError

    b = dd.DataDesignerConfigBuilder(
        model_configs=[dd.ModelConfig(alias="m", model="x")],
        tool_configs=[ToolConfig(tool_alias="search", providers=["p"], allow_tools=["a", "a"])],
    )
    b.add_column(name="q", column_type="llm-text", model_alias="m", prompt="hi", tool_alias="web")
    with pytest.raises(ConfigValidationError) as info:
        dd.validate_config(b.build())
    assert {str(issue) for issue in info.value.issues} == {
        "column 'q', field 'tool_alias': unknown tool alias 'web' (known: search)",
        "field 'tool_configs': tool config 'search' lists tools more than once in allow_tools: a",
    }


def test_worker_mcp_providers_from_a_file_or_the_data_designer_home(tmp_path, monkeypatch):
    from dd_prefect.config.mcp import load_mcp_providers
    from dd_prefect.config.workflow_spec import DatasetSpec
    from dd_prefect.errors import ConfigValidationError
    from dd_prefect.orchestration.spec_runner import spec_runtime

    spec = DatasetSpec.model_validate({"name": "d", "config": {"columns": []}})
    monkeypatch.setenv("DATA_DESIGNER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DD_PREFECT_MCP_PROVIDERS_FILE", raising=False)
    assert spec_runtime(spec, tmp_path).mcp_providers == []

    home = tmp_path / "home"
    home.mkdir()
    (home / "mcp_providers.yaml").write_text(
        "providers:\n"
        "- {provider_type: stdio, name: local, command: srv, env: {TOKEN: hunter2}}\n"
        "- {provider_type: streamable_http, name: web, endpoint: 'http://h/mcp', "
        "api_key: WEB_TOKEN}\n"
    )
    names = [(p.name, p.provider_type) for p in spec_runtime(spec, tmp_path).mcp_providers]
    assert names == [("local", "stdio"), ("web", "streamable_http")]

    own = tmp_path / "mine.json"
    own.write_text('{"providers": [{"provider_type": "sse", "name": "s", "endpoint": "http://x"}]}')
    monkeypatch.setenv("DD_PREFECT_MCP_PROVIDERS_FILE", str(own))
    assert [p.name for p in spec_runtime(spec, tmp_path).mcp_providers] == ["s"]

    bad = tmp_path / "bad.yaml"
    bad.write_text("providers:\n- {provider_type: stdio, name: x, env: {TOKEN: hunter2}}\n")
    with pytest.raises(ConfigValidationError) as info:
        load_mcp_providers(bad)
    assert str(bad) in str(info.value) and "command" in str(info.value)
    assert "hunter2" not in str(info.value)
