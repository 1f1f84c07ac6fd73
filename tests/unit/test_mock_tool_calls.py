"""The mock's tool calls, through the real openai client (in-process): a request offering
``tools`` gets deterministic calls with schema-valid arguments, then a final answer that
quotes the tool result; knobs set the turns and calls per turn; calls are counted."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import jsonschema
import openai
import pytest

from dd_prefect.testing import MockLLMConfig, in_process_client
from dd_prefect.testing.mock_llm import MockLLMApp

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look up a term.",
        "parameters": {
            "type": "object",
            "properties": {"term": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["term", "limit"],
        },
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
}


def _client(http: httpx2.AsyncClient) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=str(http.base_url), api_key="x", http_client=http, max_retries=0
    )


async def _converse(
    client: openai.AsyncOpenAI, tools: list[dict[str, Any]], **kwargs: Any
) -> tuple[list[dict[str, Any]], Any]:
    """Answer every tool call with ``result of <name>`` until the mock answers; the
    messages and the last response."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Tell me about penguins"}]
    for _ in range(10):
        response = await client.chat.completions.create(
            model="mock-model", messages=messages, tools=tools, **kwargs
        )
        message = response.choices[0].message
        if not message.tool_calls:
            return messages, response
        messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [call.model_dump() for call in message.tool_calls],
            }
        )
        messages += [
            {"role": "tool", "tool_call_id": c.id, "content": f"result of {c.function.name}"}
            for c in message.tool_calls
        ]
    raise AssertionError("the mock never stopped calling tools")


async def test_one_tool_call_then_an_answer_quoting_its_result() -> None:
    app = MockLLMApp()
    async with in_process_client(app=app) as http:
        client = _client(http)
        first = await client.chat.completions.create(
            model="mock-model",
            messages=[{"role": "user", "content": "Tell me about penguins"}],
            tools=[LOOKUP],
        )
        assert first.choices[0].finish_reason == "tool_calls"
        (call,) = first.choices[0].message.tool_calls or []
        assert call.function.name == "lookup"
        arguments = json.loads(call.function.arguments)
        jsonschema.validate(arguments, LOOKUP["function"]["parameters"])

        messages, final = await _converse(client, [LOOKUP])
        assert final.choices[0].finish_reason == "stop"
        assert final.choices[0].message.content.endswith('Tool said: "result of lookup".')
        assert len(messages) == 3  # user, assistant with the call, tool
    assert app.stats()["tool_calls"] == 2  # the first request and the conversation's


async def test_same_request_same_calls() -> None:
    async with in_process_client() as http:
        client = _client(http)
        a = await _converse(client, [LOOKUP, ADD])
        b = await _converse(client, [LOOKUP, ADD])
    assert a[0] == b[0]
    assert a[1].choices[0].message.content == b[1].choices[0].message.content


async def test_knobs_set_turns_and_calls_per_turn() -> None:
    app = MockLLMApp(MockLLMConfig(tool_call_turns=3, tool_calls_per_turn=2))
    async with in_process_client(app=app) as http:
        messages, _ = await _converse(_client(http), [LOOKUP, ADD])
    turns = [m for m in messages if m["role"] == "assistant"]
    assert [len(m["tool_calls"]) for m in turns] == [2, 2, 2]
    assert app.stats()["tool_calls"] == 6

    app.configure(tool_call_turns=0)
    async with in_process_client(app=app) as http:
        messages, final = await _converse(_client(http), [LOOKUP])
    assert len(messages) == 1 and "Tool said" not in final.choices[0].message.content


async def test_tool_choice_none_and_named() -> None:
    async with in_process_client() as http:
        client = _client(http)
        messages, _ = await _converse(client, [LOOKUP, ADD], tool_choice="none")
        assert len(messages) == 1
        named = {"type": "function", "function": {"name": "add"}}
        messages, _ = await _converse(client, [LOOKUP, ADD], tool_choice=named)
        assert messages[1]["tool_calls"][0]["function"]["name"] == "add"


async def test_structured_final_answer_stays_json() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    async with in_process_client() as http:
        _, final = await _converse(_client(http), [ADD], response_format=response_format)
    jsonschema.validate(json.loads(final.choices[0].message.content), schema)


def test_tool_knobs_are_validated() -> None:
    with pytest.raises(ValueError, match="tool_calls_per_turn"):
        MockLLMConfig(tool_calls_per_turn=0)
    with pytest.raises(ValueError, match="tool_call_turns"):
        MockLLMConfig(tool_call_turns=-1)
