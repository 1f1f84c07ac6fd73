"""DataDesigner.create with MCP tool use on a real Prefect server: traces written to the
dataset's files, one MCP server for the whole run (several row groups), closed at its end,
and the server's environment never written anywhere."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import dd_prefect.config as dd
from dd_prefect import DataDesigner
from dd_prefect.config.mcp import LocalStdioMCPProvider, ToolConfig

pytestmark = pytest.mark.integration
SERVER = str(Path(__file__).parents[1] / "fixtures" / "mcp_server.py")


async def test_create_writes_traces_with_one_server_per_run(prefect_server, mock_llm, tmp_path):
    log = tmp_path / "mcp.log"
    secret = "env-value-that-must-not-be-written"
    provider = LocalStdioMCPProvider(
        name="basic-tools",
        command=sys.executable,
        args=[SERVER],
        env={"MCP_TEST_LOG": str(log), "SOME_TOKEN": secret},
    )
    designer = DataDesigner(
        tmp_path / "artifacts",
        model_providers=[dd.ModelProvider(name="mock", endpoint=mock_llm.url)],
        run_config=dd.RunConfig(buffer_size=4),
        mcp_providers=[provider],
    )
    tools = ToolConfig(tool_alias="basic-tools", providers=["basic-tools"])
    b = dd.DataDesignerConfigBuilder(
        model_configs=[dd.ModelConfig(alias="m", model="mock-model", provider="mock")],
        tool_configs=[tools],
    )
    b.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["water", "light"]},
    )
    b.add_column(
        name="fact",
        column_type="llm-text",
        model_alias="m",
        prompt="Use get_fact on {{ topic }}",
        tool_alias="basic-tools",
        with_trace="all_messages",
    )
    results = await designer.acreate(b, num_records=10, dataset_name="facts")

    df = results.load_dataset()
    assert list(df.columns) == ["topic", "fact", "fact__trace"]
    for _, row in df.iterrows():
        trace = row["fact__trace"]
        assert [m["role"] for m in trace] == ["user", "assistant", "tool", "assistant"]
        assert trace[1]["tool_calls"][0]["function"]["name"] == "get_fact"
        assert trace[-1]["content"][0]["text"] == row["fact"]
    lines = log.read_text().splitlines()
    assert len([x for x in lines if x.startswith("start")]) == 1  # 3 row groups, 1 server
    assert len([x for x in lines if x.startswith("call get_fact")]) == 10

    base = tmp_path / "artifacts" / "facts"
    written = dd.DataDesignerConfig.from_file(base / "config.yaml")
    assert written.tool_configs == [tools]
    for path in base.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    meta = json.loads((base / "metadata.json").read_text())
    assert meta["status"] == "completed"
    usage = meta["llm_usage"]["mock/mock-model"]
    assert (usage["requests"], usage["tool_calls"], usage["tool_call_turns"]) == (20, 10, 10)
