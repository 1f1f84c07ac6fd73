"""The mock in-process (``httpx2.ASGITransport``): the real openai client, no socket, no thread."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx2
import jsonschema
import openai
import pytest

from dd_prefect.testing import MockLLMConfig, in_process_client
from dd_prefect.testing.mock_llm import IN_PROCESS_BASE_URL, MockLLMApp

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 3},
        "age": {"type": "integer", "minimum": 18, "maximum": 99},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 1},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}


def _openai(http: httpx2.AsyncClient) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=str(http.base_url), api_key="sk-in-process", http_client=http, max_retries=0
    )


async def _ask(client: openai.AsyncOpenAI, prompt: str, **kwargs: Any) -> str:
    response = await client.chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": prompt}], **kwargs
    )
    return response.choices[0].message.content or ""


async def test_openai_client_through_asgi_transport() -> None:
    async with in_process_client() as http:
        assert str(http.base_url).rstrip("/") == IN_PROCESS_BASE_URL
        client = _openai(http)
        text = await _ask(client, "Describe a red bicycle.")
        assert text.startswith("Mock answer ") and "red bicycle" in text

        response_format = {
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": SCHEMA, "strict": True},
        }
        value = json.loads(await _ask(client, "Invent a person", response_format=response_format))
        jsonschema.validate(value, SCHEMA)

        stats = await client.get("/_mock/stats", cast_to=httpx2.Response)
        assert stats.json() == (await http.get("_mock/stats")).json()
        stats = stats.json()
        assert stats["requests"] == 2 and stats["by_status"]["200"] == 2
        assert stats["by_model"] == {"mock-model": 2} and stats["unique_prompts"] == 2
        assert list(stats["auth"].values()) == [2]
        assert stats["in_flight"] == 0 and stats["completion_tokens"] > 0


async def test_latency_sleeps_in_the_callers_loop_and_requests_overlap() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    app = MockLLMApp(MockLLMConfig(latency=0.3))
    async with in_process_client(app=app) as http:
        client = _openai(http)
        background = asyncio.create_task(ticker())
        began = time.perf_counter()
        answers = await asyncio.gather(*(_ask(client, f"q{i}") for i in range(16)))
        elapsed = time.perf_counter() - began
        background.cancel()
    assert len(set(answers)) == 16
    assert 0.3 <= elapsed < 1.5  # 16 requests of 0.3 s each, at once
    assert ticks >= 10  # the loop kept running while the requests waited
    stats = app.stats()
    assert stats["max_in_flight"] == 16 and stats["in_flight"] == 0


async def test_in_flight_cap_and_retry_after() -> None:
    config = MockLLMConfig(latency=0.2, max_in_flight=3, retry_after=1.5)
    async with in_process_client(config) as http:
        client = _openai(http)

        async def one(i: int) -> int | str:
            try:
                await _ask(client, f"q{i}")
            except openai.RateLimitError as exc:
                return exc.response.headers["retry-after"]
            return 200

        outcomes = await asyncio.gather(*(one(i) for i in range(8)))
        stats = (await http.get("_mock/stats")).json()
    assert outcomes.count(200) == 3 and outcomes.count("1.5") == 5
    assert stats["max_in_flight"] == 3 and stats["by_status"]["429"] == 5


async def test_knobs_over_the_same_client() -> None:
    async with in_process_client() as http:
        client = _openai(http)
        config = await http.post("_mock/config", json={"fail_next_500": 1, "broken_json_rate": 1})
        assert config.json()["fail_next_500"] == 1
        with pytest.raises(openai.InternalServerError):
            await _ask(client, "x")
        broken = await _ask(client, "y", response_format={"type": "json_object"})
        with pytest.raises(json.JSONDecodeError):
            json.loads(broken)
        assert (await http.post("_mock/reset")).json() == {"ok": True}
        assert (await http.get("_mock/stats")).json()["requests"] == 0
        assert (await http.get("/health")).text == "ok"


async def test_every_client_gets_a_fresh_app() -> None:
    async with in_process_client() as first, in_process_client() as second:
        await _ask(_openai(first), "only here")
        assert (await first.get("_mock/stats")).json()["requests"] == 1
        assert (await second.get("_mock/stats")).json()["requests"] == 0
    with pytest.raises(ValueError, match="config or app"):
        in_process_client(MockLLMConfig(), app=MockLLMApp())
