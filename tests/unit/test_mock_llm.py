"""Tests of the mock OpenAI chat-completions server, through the real ``openai`` client."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import openai
import pytest

from dd_prefect.testing import MockLLMConfig, MockLLMServer, mock_llm_subprocess
from dd_prefect.testing.mock_llm import MockLLMApp, build_instance, serve

REPO_ROOT = Path(__file__).resolve().parents[2]

SCHEMA = {
    "type": "object",
    "$defs": {
        "Address": {
            "type": "object",
            "properties": {
                "street": {"type": "string", "minLength": 30},
                "zip": {"type": "string", "maxLength": 5},
                "country": {"type": "string", "enum": ["DE", "FR", "US"]},
            },
            "required": ["street", "zip", "country"],
            "additionalProperties": False,
        },
        "Level": {"type": "string", "enum": ["low", "mid", "high"]},
    },
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 18, "exclusiveMaximum": 21},
        "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "active": {"type": "boolean"},
        "level": {"$ref": "#/$defs/Level"},
        "born": {"type": "string", "format": "date"},
        "seen_at": {"type": "string", "format": "date-time"},
        "kind": {"const": "person"},
        "nickname": {"anyOf": [{"type": "null"}, {"type": "string"}]},
        "home": {"$ref": "#/$defs/Address"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4},
        "history": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "year": {"type": "integer", "minimum": 1990, "maximum": 2024},
                    "where": {"$ref": "#/$defs/Address"},
                },
                "required": ["year", "where"],
                "additionalProperties": False,
            },
        },
        "extra": {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                {"type": "object", "properties": {"b": {"type": "null"}}, "required": ["b"]},
            ]
        },
    },
    "additionalProperties": False,
}
SCHEMA["required"] = list(SCHEMA["properties"])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server() -> Iterator[MockLLMServer]:
    with MockLLMServer() as srv:
        yield srv


@pytest.fixture
def mock(server: MockLLMServer) -> Iterator[MockLLMServer]:
    """The module's server, reset to default knobs and zero counters for each test."""
    server.configure(**MockLLMConfig().to_dict())
    server.reset()
    yield server


def _client(srv: MockLLMServer, api_key: str = "sk-test") -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.url, api_key=api_key, max_retries=0, timeout=10)


def _ask(client: openai.OpenAI, prompt: str, model: str = "mock-model", **kwargs: object) -> str:
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], **kwargs
    )
    return response.choices[0].message.content or ""


def test_plain_text_is_deterministic_and_echoes_the_prompt(mock: MockLLMServer) -> None:
    client = _client(mock)
    first = _ask(client, "Describe a red bicycle in one sentence.")
    again = _ask(client, "Describe a red bicycle in one sentence.")
    other = _ask(client, "Describe a blue car in one sentence.")
    other_model = _ask(client, "Describe a red bicycle in one sentence.", model="other")
    assert first == again
    assert first != other and first != other_model
    assert first.startswith("Mock answer ")
    assert "Describe a red bicycle" in first
    assert "\n" not in first


def test_response_shape_and_usage(mock: MockLLMServer) -> None:
    response = _client(mock).chat.completions.create(
        model="gpt-x", messages=[{"role": "user", "content": "hi " * 40}]
    )
    assert response.object == "chat.completion"
    assert response.model == "gpt-x"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].finish_reason == "stop"
    usage = response.usage
    assert usage is not None and usage.prompt_tokens == len("hi " * 40) // 4 + 1
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_structured_answer_validates_against_schema(mock: MockLLMServer) -> None:
    client = _client(mock)
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": SCHEMA, "strict": True},
    }
    answers = [
        _ask(client, f"Invent person number {i}", response_format=response_format) for i in range(5)
    ]
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    for text in answers:
        value = json.loads(text)
        jsonschema.validate(value, SCHEMA, format_checker=checker)
        assert value["kind"] == "person"
        assert isinstance(value["nickname"], str)
    assert len(set(answers)) == 5
    again = _ask(client, "Invent person number 0", response_format=response_format)
    assert again == answers[0]


@pytest.mark.parametrize("seed", ["0" * 64, "f" * 64, "0123456789abcdef" * 4])
def test_build_instance_handles_schema_features(seed: str) -> None:
    schemas = [
        SCHEMA,
        {"type": "array", "items": {"type": "integer", "multipleOf": 7}, "minItems": 5},
        {"type": ["string", "null"], "minLength": 3, "maxLength": 4},
        {"oneOf": [{"type": "null"}, {"type": "number", "minimum": -5, "maximum": -4}]},
        {"definitions": {"X": {"type": "boolean"}}, "items": {"$ref": "#/definitions/X"}},
        {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
        {"type": "string", "format": "email"},
        {"type": "array", "items": {"enum": [1, 2, 3]}, "uniqueItems": True, "minItems": 3},
    ]
    for schema in schemas:
        value = build_instance(schema, seed, "some prompt words here")
        jsonschema.validate(value, schema)
        assert build_instance(schema, seed, "some prompt words here") == value


def test_json_object_and_code_fences(mock: MockLLMServer) -> None:
    client = _client(mock)
    obj = json.loads(_ask(client, "Any JSON", response_format={"type": "json_object"}))
    assert isinstance(obj, dict) and obj

    python = _ask(client, "Write it as ```python\n# code here\n```")
    assert "```python\ndef f_" in python and "    return " in python
    assert python.rstrip().endswith("```")
    rust = _ask(client, "Please answer with ```rust code")
    assert "```rust\n// " in rust


def test_random_429_carries_retry_after(mock: MockLLMServer) -> None:
    mock.configure(rate_429=1.0, retry_after=3)
    with pytest.raises(openai.RateLimitError) as info:
        _ask(_client(mock), "hello")
    assert info.value.response.headers["retry-after"] == "3"
    assert info.value.status_code == 429

    mock.configure(retry_after=None)
    with pytest.raises(openai.RateLimitError) as info:
        _ask(_client(mock), "hello")
    assert "retry-after" not in info.value.response.headers
    stats = mock.stats()
    assert stats["by_status"]["429"] == 2 and stats["requests"] == 2


@pytest.mark.asyncio
async def test_max_in_flight_cap_rejects_with_429(mock: MockLLMServer) -> None:
    mock.configure(latency=0.2, max_in_flight=5)
    client = openai.AsyncOpenAI(base_url=mock.url, api_key="k", max_retries=0, timeout=10)

    async def one(i: int) -> int:
        try:
            await client.chat.completions.create(
                model="mock-model", messages=[{"role": "user", "content": f"q{i}"}]
            )
            return 200
        except openai.RateLimitError:
            return 429

    codes = await asyncio.gather(*(one(i) for i in range(20)))
    await client.close()
    stats = mock.stats()
    assert codes.count(429) > 0 and codes.count(200) >= 5
    assert stats["max_in_flight"] == 5
    assert stats["by_status"]["429"] == codes.count(429)
    assert stats["by_status"]["200"] == codes.count(200)
    assert stats["in_flight"] == 0


def test_fail_next_500_then_heals(mock: MockLLMServer) -> None:
    client = _client(mock)
    mock.configure(fail_next_500=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as info:
            _ask(client, "hello")
        assert info.value.body["type"] == "server_error"  # type: ignore[index]
    assert _ask(client, "hello").startswith("Mock answer")
    assert mock.stats()["by_status"] == {"200": 1, "429": 0, "500": 2}
    assert mock.configure()["fail_next_500"] == 0


def test_openai_retries_through_transient_failures(mock: MockLLMServer) -> None:
    mock.configure(fail_next_500=1, retry_after=0.01)
    client = openai.OpenAI(base_url=mock.url, api_key="k", max_retries=2, timeout=10)
    assert _ask(client, "retry me").startswith("Mock answer")
    stats = mock.stats()
    assert stats["requests"] == 2 and stats["repeated_prompts"] == 0


def test_broken_json(mock: MockLLMServer) -> None:
    client = _client(mock)
    mock.configure(broken_json_rate=1.0)
    fmt = {"type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMA}}
    with pytest.raises(json.JSONDecodeError):
        json.loads(_ask(client, "structured", response_format=fmt))
    with pytest.raises(json.JSONDecodeError):
        json.loads(_ask(client, "object", response_format={"type": "json_object"}))
    assert _ask(client, "plain text is never broken").startswith("Mock answer")


def test_counters_and_reset(mock: MockLLMServer) -> None:
    _ask(_client(mock, "sk-secret-one"), "a", model="m1")
    _ask(_client(mock, "sk-secret-one"), "a", model="m1")
    _ask(_client(mock, "sk-secret-two"), "b", model="m2")
    _ask(_client(mock, "sk-secret-two"), "a", model="m1", response_format={"type": "json_object"})
    stats = mock.stats()
    assert stats["requests"] == 4
    assert stats["repeated_prompts"] == 1 and stats["unique_prompts"] == 3
    assert stats["by_model"] == {"m1": 3, "m2": 1}
    assert sorted(stats["auth"].values()) == [2, 2]
    assert "sk-secret" not in json.dumps(stats)
    assert stats["prompt_tokens"] == 4 and stats["completion_tokens"] > 0
    assert httpx.get(f"{mock.base}/_mock/stats").json() == stats

    assert httpx.post(f"{mock.base}/_mock/reset").status_code == 200
    stats = mock.stats()
    assert stats["requests"] == 0 and stats["unique_prompts"] == 0 and stats["auth"] == {}
    _ask(_client(mock), "a", model="m1")
    assert mock.stats()["repeated_prompts"] == 0


def test_runtime_config_over_http(mock: MockLLMServer) -> None:
    base = mock.base
    assert httpx.get(f"{base}/health").text == "ok"
    new = httpx.post(f"{base}/_mock/config", json={"rate_500": 1.0, "max_in_flight": 3}).json()
    assert new["rate_500"] == 1.0 and new["max_in_flight"] == 3
    assert httpx.get(f"{base}/_mock/config").json() == new
    with pytest.raises(openai.InternalServerError):
        _ask(_client(mock), "x")
    httpx.post(f"{base}/_mock/config", json={"rate_500": 0})
    assert _ask(_client(mock), "x").startswith("Mock answer")

    bad = httpx.post(f"{base}/_mock/config", json={"no_such_knob": 1})
    assert bad.status_code == 400 and "no_such_knob" in bad.json()["error"]["message"]
    bad = httpx.post(f"{base}/_mock/config", json={"rate_429": 2, "latency": 1})
    assert bad.status_code == 400 and mock.configure()["latency"] == 0.0  # all or nothing
    models = httpx.get(f"{mock.url}/models").json()["data"]
    assert "mock-model" in [m["id"] for m in models]
    assert httpx.get(f"{base}/nope").status_code == 404


def test_routes_methods_and_v1_prefix(mock: MockLLMServer) -> None:
    assert httpx.get(f"{mock.url}/health").text == "ok"
    assert httpx.post(f"{mock.base}/health").text == "ok"
    assert httpx.get(f"{mock.url}/_mock/stats").json() == mock.stats()
    wrong_method = httpx.get(f"{mock.url}/chat/completions")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    no_route = httpx.get(f"{mock.url}/_mock/reset")
    assert no_route.status_code == 404
    assert no_route.json()["error"]["message"] == "no route GET /_mock/reset"
    assert httpx.get(f"{mock.base}/health/").status_code == 404  # no slash redirects
    assert httpx.post(f"{mock.base}/models").status_code == 404


def test_stop_answers_requests_still_waiting_out_their_latency() -> None:
    server = MockLLMServer(MockLLMConfig(latency=60)).start()
    outcome: list[object] = []

    def call() -> None:
        try:
            response = httpx.post(
                f"{server.url}/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "slow"}]},
                timeout=30,
            )
            outcome.append(response.status_code)
        except httpx.HTTPError as exc:  # pragma: no cover - a closed connection is fine too
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 10
    while server.stats()["in_flight"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    began = time.monotonic()
    server.stop()
    caller.join(timeout=10)
    assert time.monotonic() - began < 3
    assert outcome == [503]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base}/health")


def test_taken_port_is_an_error() -> None:
    with MockLLMServer() as first:
        port = int(first.base.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            MockLLMServer(port=port).start()
        result = subprocess.run(
            [sys.executable, "-m", "dd_prefect.testing.mock_llm", "--port", str(port)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1 and "cannot listen" in result.stderr


def test_streaming_and_bad_requests_get_400(mock: MockLLMServer) -> None:
    client = _client(mock)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        )
    response = httpx.post(f"{mock.url}/chat/completions", content=b"{not json")
    assert response.status_code == 400 and "error" in response.json()


def test_seeded_faults_are_reproducible(mock: MockLLMServer) -> None:
    def run() -> list[int]:
        mock.configure(rate_429=0.5, seed=7)
        mock.reset()
        with httpx.Client(base_url=mock.url) as http:
            return [
                http.post(
                    "/chat/completions",
                    json={"model": "m", "messages": [{"role": "user", "content": str(i)}]},
                ).status_code
                for i in range(20)
            ]

    first = run()
    assert first == run()
    assert 0 < first.count(429) < 20


def test_raw_http_chunked_body_and_connection_close(mock: MockLLMServer) -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "chunky"}]})
    raw = body.encode()
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(raw[i : i + 10]), raw[i : i + 10]) for i in range(0, len(raw), 10)
    )
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + chunked + b"0\r\n\r\n"
    )
    port = int(mock.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):  # the server closes the connection after answering
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower()
    assert "chunky" in json.loads(payload)["choices"][0]["message"]["content"]


def test_cli_subprocess_start_and_stop() -> None:
    config = MockLLMConfig(latency=0.01, max_in_flight=8, retry_after=None)
    with mock_llm_subprocess(config) as (proc, url):
        assert _ask(openai.OpenAI(base_url=url, api_key="k", max_retries=0), "hi")
        remote = httpx.get(url.removesuffix("/v1") + "/_mock/config").json()
        assert remote["latency"] == 0.01 and remote["max_in_flight"] == 8
        assert remote["retry_after"] is None
    assert proc.returncode == 0


def test_cli_module_exits_cleanly_on_sigint() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dd_prefect.testing.mock_llm", "--port", "0", "--latency", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("mock LLM listening on http://127.0.0.1:")
        url = line.split()[-1]
        assert httpx.get(url.removesuffix("/v1") + "/health").text == "ok"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in stderr and "Warning" not in stderr


@pytest.mark.asyncio
async def test_serve_inside_a_running_loop() -> None:
    ready: asyncio.Queue[MockLLMApp] = asyncio.Queue()
    task = asyncio.create_task(serve(MockLLMConfig(latency=0.01), port=0, ready=ready.put_nowait))
    app = await asyncio.wait_for(ready.get(), timeout=5)
    client = openai.AsyncOpenAI(base_url=app.url, api_key="k", max_retries=0, timeout=10)
    response = await client.chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "in loop"}]
    )
    await client.close()
    assert "in loop" in (response.choices[0].message.content or "")
    assert app.stats()["requests"] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
