"""MCP tool use end to end: LLM columns with a `tool_alias` previewed through DataDesigner,
the real openai client against the mock LLM (which calls tools), and a real MCP server
started over stdio (tests/fixtures/mcp_server.py); traces as Data Designer stores them."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import dd_prefect.config as dd
from dd_prefect import DataDesigner
from dd_prefect.config.mcp import LocalStdioMCPProvider, MCPProvider, ToolConfig
from dd_prefect.engine.tools import TOOL_REFUSAL
from dd_prefect.errors import ConfigValidationError, GenerationError
from dd_prefect.testing import MockLLMServer

FIXTURES = Path(__file__).parents[1] / "fixtures"
SERVER = str(FIXTURES / "mcp_server.py")
DD_ROW = json.loads((FIXTURES / "dd_mcp_preview_row.json").read_text())
"""One row Data Designer 0.9.7 previewed against this mock and server (see
``test_traces_have_data_designers_shape``)."""


def stdio(log: Path | None = None, name: str = "basic-tools") -> LocalStdioMCPProvider:
    env = {"MCP_TEST_LOG": str(log)} if log else {}
    return LocalStdioMCPProvider(name=name, command=sys.executable, args=[SERVER], env=env)


def designer(tmp_path: Path, server: MockLLMServer, mcp: list[Any] | None = None) -> DataDesigner:
    return DataDesigner(
        tmp_path,
        model_providers=[dd.ModelProvider(name="mock", endpoint=server.url)],
        mcp_providers=mcp,
    )


def builder(*tool_configs: ToolConfig) -> dd.DataDesignerConfigBuilder:
    model = dd.ModelConfig(alias="m", model="mock-model", provider="mock")
    b = dd.DataDesignerConfigBuilder(model_configs=[model], tool_configs=list(tool_configs))
    b.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["water", "earth"]},
    )
    return b


def basic_tools(**kwargs: Any) -> ToolConfig:
    kwargs.setdefault("allow_tools", ["get_fact", "add_numbers"])
    return ToolConfig(tool_alias="basic-tools", providers=["basic-tools"], **kwargs)


def log_lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def shape(trace: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """A trace without its texts, ids and tool names: roles, keys, block types, calls."""
    return [
        (m["role"], sorted(m), [b["type"] for b in m["content"]], len(m.get("tool_calls", [])))
        for m in trace
    ]


def test_tool_use_previewed_end_to_end(tmp_path, mock_llm):
    log = tmp_path / "mcp.log"
    b = builder(basic_tools())
    b.add_column(
        name="fact",
        column_type="llm-text",
        model_alias="m",
        prompt="Look up {{ topic }}",
        system_prompt="Use tools.",
        tool_alias="basic-tools",
        with_trace="all_messages",
    )
    b.add_column(
        name="summary",
        column_type="llm-structured",
        model_alias="m",
        prompt="Summarize {{ fact }}",
        tool_alias="basic-tools",
        with_trace="last_message",
        output_format={
            "type": "object",
            "properties": {"title": {"type": "string"}},
            "required": ["title"],
        },
    )
    b.add_column(name="plain", column_type="llm-text", model_alias="m", prompt="Say {{ topic }}")
    result = designer(tmp_path, mock_llm, [stdio(log)]).preview(b, num_records=4)
    df = result.dataset
    usage = result.summary["llm_usage"]["mock/mock-model"]
    assert (usage["tool_calls"], usage["tool_call_turns"], usage["requests"]) == (8, 8, 20)

    traced = ["fact", "fact__trace", "summary", "summary__trace"]
    assert list(df.columns) == ["topic", *traced, "plain"]
    for _, row in df.iterrows():
        trace = row["fact__trace"]
        assert shape(trace) == shape(DD_ROW["fact__trace"])
        call = trace[2]["tool_calls"][0]
        assert trace[3]["tool_call_id"] == call["id"]
        assert trace[-1]["content"][0]["text"] == row["fact"]
        assert row["fact"].endswith(f'Tool said: "{trace[3]["content"][0]["text"][:80]}".')
        assert set(row["summary"]) == {"title"}
        (last,) = row["summary__trace"]
        assert last["role"] == "assistant" and json.loads(last["content"][0]["text"]) == dict(
            row["summary"]
        )
    lines = log_lines(log)
    assert len([x for x in lines if x.startswith("start")]) == 1  # one server for the run
    assert len([x for x in lines if x.startswith("call")]) == 8  # one call per tool cell
    assert mock_llm.stats()["tool_calls"] == 8


def test_traces_have_data_designers_shape(tmp_path, mock_llm):
    """The row DD 0.9.7 produced (recorded): same columns, same trace shapes."""
    b = builder(basic_tools())
    b.add_column(
        name="fact",
        column_type="llm-text",
        model_alias="m",
        prompt="Look up {{ topic }}",
        system_prompt="Use tools.",
        tool_alias="basic-tools",
        with_trace="all_messages",
    )
    b.add_column(
        name="short",
        column_type="llm-text",
        model_alias="m",
        prompt="Say {{ topic }}",
        with_trace="last_message",
    )
    b.add_column(
        name="plain",
        column_type="llm-text",
        model_alias="m",
        prompt="Say {{ topic }}",
        with_trace="all_messages",
    )
    row = designer(tmp_path, mock_llm, [stdio()]).preview(b, num_records=1).dataset.iloc[0]
    assert sorted(row.index) == sorted(DD_ROW)
    for column in ("fact__trace", "short__trace", "plain__trace"):
        assert shape(row[column]) == shape(DD_ROW[column]), column


def test_turns_beyond_the_limit_are_refused(tmp_path, mock_llm_factory):
    log = tmp_path / "mcp.log"
    server = mock_llm_factory(tool_call_turns=3)
    b = builder(basic_tools(max_tool_call_turns=1))
    b.add_column(
        name="fact",
        column_type="llm-text",
        model_alias="m",
        prompt="Look up {{ topic }}",
        tool_alias="basic-tools",
        with_trace="all_messages",
    )
    df = designer(tmp_path, server, [stdio(log)]).preview(b, num_records=2).dataset
    for trace in df["fact__trace"]:
        tools = [m["content"][0]["text"] for m in trace if m["role"] == "tool"]
        assert len(tools) == 3 and tools[1:] == [TOOL_REFUSAL, TOOL_REFUSAL]
        assert TOOL_REFUSAL not in tools[0]
    assert len([x for x in log_lines(log) if x.startswith("call")]) == 2  # one per row


def test_a_model_that_never_stops_asking_fails_its_cells(tmp_path, mock_llm_factory):
    server = mock_llm_factory(tool_call_turns=50)
    b = builder(basic_tools(max_tool_call_turns=1))
    b.add_column(
        name="fact",
        column_type="llm-text",
        model_alias="m",
        prompt="Look up {{ topic }}",
        tool_alias="basic-tools",
    )
    result = designer(tmp_path, server, [stdio()]).preview(b, num_records=1)
    assert result.summary["errors"] == {"tool_turns": 1}


def test_parallel_calls_in_a_turn_and_only_allowed_tools(tmp_path, mock_llm_factory):
    log = tmp_path / "mcp.log"
    server = mock_llm_factory(tool_calls_per_turn=3)
    b = builder(basic_tools(allow_tools=["add_numbers"]))
    b.add_column(
        name="sum",
        column_type="llm-text",
        model_alias="m",
        prompt="Add up {{ topic }}",
        tool_alias="basic-tools",
        with_trace="all_messages",
    )
    (trace,) = (
        designer(tmp_path, server, [stdio(log)]).preview(b, num_records=1).dataset["sum__trace"]
    )
    calls = trace[1]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["add_numbers"] * 3
    assert [m["tool_call_id"] for m in trace[2:5]] == [c["id"] for c in calls]
    assert (
        sorted(x.split()[1] for x in log_lines(log) if x.startswith("call")) == ["add_numbers"] * 3
    )


def test_a_tool_error_reaches_the_model(tmp_path, mock_llm):
    b = builder(basic_tools(allow_tools=["fail"]))
    b.add_column(
        name="x",
        column_type="llm-text",
        model_alias="m",
        prompt="Try {{ topic }}",
        tool_alias="basic-tools",
        with_trace="all_messages",
    )
    df = designer(tmp_path, mock_llm, [stdio()]).preview(b, num_records=1).dataset
    (tool,) = [m for m in df["x__trace"][0] if m["role"] == "tool"]
    assert "failed on purpose" in tool["content"][0]["text"]


def test_providers_the_run_lacks_fail_before_any_llm_call(tmp_path, mock_llm):
    b = builder(basic_tools())
    b.add_column(
        name="fact",
        column_type="llm-text",
        model_alias="m",
        prompt="Look up {{ topic }}",
        tool_alias="basic-tools",
    )
    with pytest.raises(ConfigValidationError) as info:
        designer(tmp_path, mock_llm, [stdio(name="other")]).preview(b, num_records=1)
    assert (
        "tool config 'basic-tools' names MCP provider 'basic-tools', which is not among "
        "DataDesigner's mcp_providers (other)"
    ) in str(info.value)
    assert mock_llm.stats()["requests"] == 0


def test_a_server_that_does_not_start_names_provider_and_command(tmp_path, mock_llm):
    """Checked before any LLM call, also of columns without tools."""
    b = builder(basic_tools())
    b.add_column(name="plain", column_type="llm-text", model_alias="m", prompt="{{ topic }}")
    b.add_column(
        name="fact",
        column_type="llm-text",
        model_alias="m",
        prompt="Look up {{ topic }}",
        tool_alias="basic-tools",
    )
    missing = LocalStdioMCPProvider(name="basic-tools", command="no-such-mcp-server")
    with pytest.raises(GenerationError) as info:
        designer(tmp_path, mock_llm, [missing]).preview(b, num_records=1)
    assert "MCP provider 'basic-tools' (command no-such-mcp-server)" in str(info.value)
    assert mock_llm.stats()["requests"] == 0

    exits = stdio().model_copy(update={"args": ["-c", "pass"]})
    with pytest.raises(GenerationError, match="could not open a session"):
        designer(tmp_path, mock_llm, [exits]).preview(b, num_records=1)


def test_a_server_that_never_answers_times_out(tmp_path, mock_llm):
    b = builder(basic_tools(timeout_sec=1))
    b.add_column(
        name="fact",
        column_type="llm-text",
        model_alias="m",
        prompt="Look up {{ topic }}",
        tool_alias="basic-tools",
    )
    silent = stdio().model_copy(update={"args": ["-c", "import time; time.sleep(30)"]})
    began = time.monotonic()
    with pytest.raises(GenerationError, match="no session after 1 s"):
        designer(tmp_path, mock_llm, [silent]).preview(b, num_records=1)
    assert time.monotonic() - began < 20
    assert mock_llm.stats()["requests"] == 0


def test_allowed_tools_the_server_lacks(tmp_path, mock_llm):
    b = builder(basic_tools(allow_tools=["get_fact", "teleport"]))
    b.add_column(
        name="fact",
        column_type="llm-text",
        model_alias="m",
        prompt="Look up {{ topic }}",
        tool_alias="basic-tools",
    )
    with pytest.raises(GenerationError, match=r"allowed tool\(s\) teleport not offered"):
        designer(tmp_path, mock_llm, [stdio()]).preview(b, num_records=1)


def test_the_server_stops_with_the_run(tmp_path, mock_llm):
    log = tmp_path / "mcp.log"
    b = builder(basic_tools())
    b.add_column(
        name="fact",
        column_type="llm-text",
        model_alias="m",
        prompt="Look up {{ topic }}",
        tool_alias="basic-tools",
    )
    designer(tmp_path, mock_llm, [stdio(log)]).preview(b, num_records=2)
    (start,) = [x for x in log_lines(log) if x.startswith("start")]
    pid = int(start.split()[1])
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as stopped.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


CONFIGS = FIXTURES / "data_designer" / "configs"


def test_data_designers_mcp_recipes_load_and_the_basic_one_previews(tmp_path, mock_llm):
    """DD's three MCP recipe configs load; the basic one (its server's tools are ours)
    previews against the mock standing in for DD's default providers; the other two name
    the provider the run lacks, before any LLM call."""
    providers = [dd.ModelProvider(name=n, endpoint=mock_llm.url) for n in ("nvidia", "openai")]
    run = DataDesigner(tmp_path, model_providers=providers, mcp_providers=[stdio()])
    basic = dd.DataDesignerConfig.from_file(CONFIGS / "recipe_basic_mcp.yaml")
    result = run.preview(basic, num_records=3)
    assert result.summary["errors"] == {}
    for _, row in result.dataset.iterrows():
        for column, tool in (("fact_response", "get_fact"), ("math_response", "add_numbers")):
            trace = row[f"{column}__trace"]
            roles = ["system", "user", "assistant", "tool", "assistant"]
            assert [m["role"] for m in trace] == roles
            assert trace[2]["tool_calls"][0]["function"]["name"] == tool
            assert trace[-1]["content"][0]["text"] == row[column]
    for name, alias, provider in (
        ("recipe_search_agent", "tavily-search", "tavily"),
        ("recipe_pdf_qa", "doc-search", "doc-bm25-search"),
    ):
        config = dd.DataDesignerConfig.from_file(CONFIGS / f"{name}.yaml")
        assert [t.tool_alias for t in config.tool_configs] == [alias]
        before = mock_llm.stats()["requests"]
        with pytest.raises(ConfigValidationError) as info:
            run.preview(config, num_records=1)
        assert f"tool config '{alias}' names MCP provider '{provider}'" in str(info.value)
        assert mock_llm.stats()["requests"] == before


def test_list_mcp_tool_names(tmp_path, mock_llm):
    run = designer(tmp_path, mock_llm, [stdio()])
    assert run.list_mcp_tool_names("basic-tools") == [
        "get_fact",
        "add_numbers",
        "list_topics",
        "chart",
        "fail",
    ]
    with pytest.raises(ConfigValidationError, match="no MCP provider named 'nope'"):
        run.list_mcp_tool_names("nope")


@pytest.fixture
def http_server(tmp_path):
    """start(kind) -> base URL of the test MCP server over HTTP (``--http`` or ``--sse``),
    guarded by a bearer token (MCP_TEST_TOKEN=tok-123 in its environment)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(kind: str) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "MCP_TEST_TOKEN": "tok-123"}
        started.append(subprocess.Popen([sys.executable, SERVER, kind, str(port)], env=env))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return f"http://127.0.0.1:{port}"
            time.sleep(0.1)
        raise RuntimeError("the MCP test server did not start")

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize(
    ("kind", "provider_type", "path"),
    [
        ("--http", "streamable_http", "/mcp"),
        ("--sse", "sse", "/sse"),
    ],
)
def test_remote_providers_with_a_bearer_token(
    tmp_path, mock_llm, http_server, monkeypatch, kind, provider_type, path
):
    endpoint = http_server(kind) + path
    remote = MCPProvider(
        name="basic-tools", endpoint=endpoint, provider_type=provider_type, api_key="MCP_TEST_TOKEN"
    )
    b = builder(basic_tools())
    b.add_column(
        name="fact",
        column_type="llm-text",
        model_alias="m",
        prompt="Use get_fact on {{ topic }}",
        tool_alias="basic-tools",
        with_trace="all_messages",
    )
    monkeypatch.setenv("MCP_TEST_TOKEN", "tok-123")
    df = designer(tmp_path, mock_llm, [remote]).preview(b, num_records=2).dataset
    for trace in df["fact__trace"]:
        assert (
            '"fact": "' in trace[3]["content"][0]["text"]
            or "No fact" in trace[3]["content"][0]["text"]
        )

    monkeypatch.setenv("MCP_TEST_TOKEN", "wrong-token")
    with pytest.raises(GenerationError) as info:
        designer(tmp_path, mock_llm, [remote]).preview(b, num_records=1)
    assert f"MCP provider 'basic-tools' ({provider_type} endpoint {endpoint})" in str(info.value)
    assert "wrong-token" not in str(info.value)


def test_cli_takes_the_workers_mcp_providers(tmp_path, monkeypatch, capsys):
    """`dd-prefect validate/preview` of a spec: the MCP providers come from the worker's
    DD_PREFECT_MCP_PROVIDERS_FILE, never from the spec (which cannot hold any)."""
    import yaml

    from dd_prefect.cli import main

    spec = {
        "name": "facts",
        "num_records": 2,
        "model_providers": [{"name": "mock", "provider_type": "mock"}],
        "config": {
            "model_configs": [{"alias": "m", "model": "mock-model", "provider": "mock"}],
            "tool_configs": [basic_tools().model_dump()],
            "columns": [
                {"name": "topic", "column_type": "sampler", "sampler_type": "category",
                 "params": {"values": ["water"]}},
                {"name": "fact", "column_type": "llm-text", "model_alias": "m",
                 "prompt": "Use get_fact on {{ topic }}", "tool_alias": "basic-tools",
                 "with_trace": "last_message"},
            ],
        },
    }  # fmt: skip
    path = tmp_path / "facts.yaml"
    path.write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("DATA_DESIGNER_HOME", str(tmp_path / "no-home"))
    monkeypatch.delenv("DD_PREFECT_MCP_PROVIDERS_FILE", raising=False)
    assert main(["validate", str(path)]) != 0
    assert "names MCP provider 'basic-tools'" in capsys.readouterr().err

    providers = tmp_path / "mcp_providers.yaml"
    log = tmp_path / "mcp.log"
    providers.write_text(yaml.safe_dump({"providers": [stdio(log).model_dump()]}))
    monkeypatch.setenv("DD_PREFECT_MCP_PROVIDERS_FILE", str(providers))
    assert main(["validate", str(path)]) == 0
    assert main(["preview", str(path), "-n", "2"]) == 0
    assert "2 record(s); errors: none" in capsys.readouterr().out
    assert len([x for x in log_lines(log) if x.startswith("call get_fact")]) == 2

    path.write_text(yaml.safe_dump({**spec, "mcp_providers": [stdio().model_dump()]}))
    assert main(["validate", str(path)]) != 0
    assert "mcp_providers" in capsys.readouterr().err


def test_an_image_result_is_passed_on_as_an_image_block(tmp_path, mock_llm):
    b = builder(basic_tools(allow_tools=["chart"]))
    b.add_column(
        name="x",
        column_type="llm-text",
        model_alias="m",
        prompt="Draw {{ topic }}",
        tool_alias="basic-tools",
        with_trace="all_messages",
    )
    df = designer(tmp_path, mock_llm, [stdio()]).preview(b, num_records=1).dataset
    (tool,) = [m for m in df["x__trace"][0] if m["role"] == "tool"]
    (block,) = tool["content"]
    assert block["type"] == "image_url"
    assert block["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert mock_llm.stats()["image_parts"] == 1
