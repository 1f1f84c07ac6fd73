"""A fast, deterministic mock of OpenAI's chat-completions HTTP API.

Used by tests, benchmarks and the demo ("dry-run" provider), always through the real
``openai`` client pointed at ``base_url=server.url``. Answers are derived from the request
(never random), faults (429s, 500s, broken JSON, latency) are driven by runtime knobs and a
seeded RNG so runs are reproducible.

The server is a small hand-written HTTP/1.1 server on ``asyncio.start_server`` (keep-alive,
``Content-Length`` or chunked request bodies, no streaming), because a full ASGI stack is
too slow for benchmarks that push hundreds of requests per second through it.

This is a leaf module: standard library only, nothing from ``dd_prefect`` or ``prefect``, so
it can also be run as a plain script (``python path/to/mock_llm.py --port 0``).

Endpoints:

- ``POST /v1/chat/completions`` -- chat completion (plain text, code fence or structured JSON)
- ``GET /v1/models`` -- ``mock-model`` plus every model seen so far
- ``GET /_mock/stats`` / ``POST /_mock/reset`` -- counters
- ``GET /_mock/config`` / ``POST /_mock/config`` -- read / change the knobs at runtime
- ``GET /health`` -- ``ok``
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any

__all__ = [
    "MockLLMApp",
    "MockLLMConfig",
    "MockLLMServer",
    "build_answer",
    "main",
    "mock_llm_subprocess",
    "run_in_subprocess",
    "serve",
    "stop_subprocess",
]

DEFAULT_MODEL = "mock-model"

# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

_PROBABILITY_KNOBS = ("rate_429", "rate_500", "broken_json_rate")


@dataclasses.dataclass
class MockLLMConfig:
    """Runtime knobs of the mock server (settable at construction, on the CLI and over HTTP).

    Attributes:
        latency: Seconds every admitted chat request waits before it is answered.
        latency_jitter: Uniform +/- seconds added to ``latency`` (the sum is floored at 0).
        rate_429: Probability of a random 429 (answered immediately, without latency).
        retry_after: Seconds sent in the ``Retry-After`` header of 429s; ``None`` omits it.
        max_in_flight: Hard cap on concurrent chat requests; a request arriving while this many
            are in flight gets a 429 immediately. ``None`` means no cap.
        rate_500: Probability of a 500 (answered after the latency).
        fail_next_500: The next N chat requests answer 500 (counts down as they arrive).
        broken_json_rate: Probability that a structured request (``response_format`` of type
            ``json_schema`` or ``json_object``) gets syntactically broken JSON.
        seed: Seed of the RNG behind the random faults and the latency jitter.
    """

    latency: float = 0.0
    latency_jitter: float = 0.0
    rate_429: float = 0.0
    retry_after: float | None = 0.0
    max_in_flight: int | None = None
    rate_500: float = 0.0
    fail_next_500: int = 0
    broken_json_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        self.update(**dataclasses.asdict(self))

    @classmethod
    def knob_names(cls) -> tuple[str, ...]:
        """Names of all knobs, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict[str, Any]:
        """The knobs as a JSON-ready dict."""
        return dataclasses.asdict(self)

    def copy(self) -> MockLLMConfig:
        """An independent copy."""
        return dataclasses.replace(self)

    def update(self, **knobs: Any) -> MockLLMConfig:
        """Validate, coerce and apply ``knobs`` in place (all or nothing); returns ``self``.

        Raises:
            ValueError: on an unknown knob or an invalid value (nothing is applied then).
        """
        names = self.knob_names()
        unknown = sorted(set(knobs) - set(names))
        if unknown:
            raise ValueError(f"unknown mock LLM knob(s): {', '.join(unknown)}")
        coerced = {name: _coerce_knob(name, value) for name, value in knobs.items()}
        for name, value in coerced.items():
            setattr(self, name, value)
        return self


def _coerce_knob(name: str, value: Any) -> Any:
    """Convert one knob value to its type and check its range."""
    if isinstance(value, str) and value.strip().lower() in ("none", "null", ""):
        value = None
    if value is None:
        if name in ("retry_after", "max_in_flight"):
            return None
        raise ValueError(f"knob {name!r} may not be null")
    if isinstance(value, bool):
        raise ValueError(f"knob {name!r} must be a number, not a boolean")
    try:
        if name in ("max_in_flight", "fail_next_500", "seed"):
            number: float = int(value)
            if isinstance(value, float) and value != number:
                raise ValueError
        else:
            number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"knob {name!r} got an invalid value: {value!r}") from None
    if name in _PROBABILITY_KNOBS and not 0.0 <= number <= 1.0:
        raise ValueError(f"knob {name!r} is a probability, got {number}")
    if name != "seed" and (number < 0 or not math.isfinite(number)):
        raise ValueError(f"knob {name!r} must be a finite number >= 0, got {number}")
    if name == "max_in_flight" and number < 1:
        raise ValueError("knob 'max_in_flight' must be >= 1 (or null for no cap)")
    return number


# --------------------------------------------------------------------------------------------
# Deterministic answers
# --------------------------------------------------------------------------------------------

_FENCE_RE = re.compile(r"```([A-Za-z0-9_+#-]+)")
_WORD_RE = re.compile(r"[A-Za-z]{3,}")
_SPACE_RE = re.compile(r"\s+")
_MAX_DEPTH = 16

_HASH_COMMENT = {"python", "py", "bash", "sh", "shell", "zsh", "ruby", "rb", "r", "yaml", "yml"}
_HASH_COMMENT |= {"perl", "toml", "dockerfile", "make", "makefile", "powershell", "julia"}
_DASH_COMMENT = {"sql", "lua", "haskell", "hs", "ada", "elm"}


def _canonical(obj: Any) -> bytes:
    """Canonical JSON bytes of ``obj`` (sorted keys, compact)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _message_text(message: Any) -> str:
    """The text of one chat message (string content or a list of text parts)."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        return "\n".join(parts)
    return ""


def _last_user_text(messages: list[Any]) -> str:
    """Text of the last user message (or of the last message if no user message exists)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _message_text(message)
    return _message_text(messages[-1]) if messages else ""


def _approx_tokens(text: str) -> int:
    """The mock's token count: ``len(text) // 4 + 1``."""
    return len(text) // 4 + 1


class _InstanceBuilder:
    """Builds a JSON instance that validates against a JSON schema, deterministically."""

    def __init__(self, root: Any, rng: random.Random, words: list[str], digest: str) -> None:
        self.root = root
        self.rng = rng
        self.words = words or ["value"]
        self.digest = digest

    # -- helpers ---------------------------------------------------------------------------

    def resolve(self, schema: Any, depth: int = 0) -> Any:
        """Follow ``$ref`` (local JSON pointers such as ``#/$defs/X``) until a concrete schema."""
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and depth < 64:
            target = self._pointer(schema["$ref"])
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **siblings} if siblings and isinstance(target, dict) else target
            depth += 1
        return schema

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        node = self.root
        for raw in ref[1:].split("/")[1:]:
            key = raw.replace("~1", "/").replace("~0", "~")
            node = node[int(key)] if isinstance(node, list) else node[key]
        return node

    def merge(self, schemas: list[Any]) -> dict[str, Any]:
        """Merge ``allOf`` branches: union of properties/required, later keys win otherwise."""
        merged: dict[str, Any] = {}
        for sub in schemas:
            sub = self.resolve(sub)
            if not isinstance(sub, dict):
                continue
            if "allOf" in sub:
                sub = {**{k: v for k, v in sub.items() if k != "allOf"}, **self.merge(sub["allOf"])}
            for key, value in sub.items():
                if key == "properties" and isinstance(value, dict):
                    props = merged.setdefault("properties", {})
                    for name, prop in value.items():
                        props[name] = {"allOf": [props[name], prop]} if name in props else prop
                elif key == "required" and isinstance(value, list):
                    required = merged.setdefault("required", [])
                    required.extend(r for r in value if r not in required)
                else:
                    merged[key] = value
        return merged

    def text(self, hint: str = "") -> str:
        word = self.rng.choice(self.words)
        tag = f"{self.rng.getrandbits(24):06x}"
        return f"mock {word} {tag}" if not hint else f"mock {hint} {word} {tag}"

    # -- generation ------------------------------------------------------------------------

    def build(self, schema: Any, name: str = "", depth: int = 0) -> Any:
        """An instance of ``schema`` (``name`` is the property name, used as a text hint)."""
        schema = self.resolve(schema)
        if schema is True or not isinstance(schema, dict):
            return self.text(name)
        if depth > _MAX_DEPTH:
            return None
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.rng.choice(schema["enum"])
        if isinstance(schema.get("allOf"), list):
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self.build(self.merge([rest, *schema["allOf"]]), name, depth + 1)
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                rest = {k: v for k, v in schema.items() if k != key}
                chosen = next((b for b in branches if not self._is_null(b)), branches[0])
                return self.build(self.merge([rest, chosen]), name, depth + 1)
        kind = self._type_of(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind == "string":
            return self._string(schema, name)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self.text(name)

    def _is_null(self, schema: Any) -> bool:
        schema = self.resolve(schema)
        return isinstance(schema, dict) and (
            schema.get("type") == "null" or ("const" in schema and schema["const"] is None)
        )

    @staticmethod
    def _type_of(schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            non_null = [k for k in kind if k != "null"]
            kind = non_null[0] if non_null else (kind[0] if kind else None)
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "required" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        if "minimum" in schema or "maximum" in schema or "multipleOf" in schema:
            return "number"
        return "string"

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props = schema.get("properties") or {}
        out = {key: self.build(sub, key, depth + 1) for key, sub in props.items()}
        for key in schema.get("required") or []:
            if key not in out:
                extra = schema.get("additionalProperties")
                out[key] = self.build(extra if isinstance(extra, dict) else True, key, depth + 1)
        return out

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items", True)
        if isinstance(items, list):  # draft-4..2019 tuple form
            prefix, items = items, schema.get("additionalItems", True)
        prefix = prefix if isinstance(prefix, list) else []
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        count = max(low, len(prefix), self.rng.randint(1, 3))
        if high is not None:
            count = max(min(count, int(high)), low)
        if items is False:
            count = min(count, len(prefix))
        out: list[Any] = []
        for index in range(count):
            sub = prefix[index] if index < len(prefix) else items
            value = self.build(sub, name, depth + 1)
            if schema.get("uniqueItems"):
                for _ in range(8):
                    if value not in out:
                        break
                    value = self.build(sub, name, depth + 1)
                else:
                    if len(out) >= low:
                        break
            out.append(value)
        return out

    def _string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        bits = self.rng.getrandbits(32)
        date = f"2024-{bits % 12 + 1:02d}-{bits % 28 + 1:02d}"
        clock = f"{bits % 24:02d}:{bits % 60:02d}:00Z"
        if fmt == "date":
            return date
        if fmt == "date-time":
            return f"{date}T{clock}"
        if fmt == "time":
            return clock
        if fmt == "email":
            return f"mock.{bits:08x}@example.com"
        if fmt in ("uri", "url", "iri"):
            return f"https://example.com/mock/{bits:08x}"
        if fmt == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if fmt == "ipv4":
            return f"10.{bits % 256}.{(bits >> 8) % 256}.{(bits >> 16) % 256}"
        if fmt == "duration":
            return f"PT{bits % 60 + 1}M"
        value = self.text(name)
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        if len(value) < low:
            filler = (self.digest * (low // len(self.digest) + 1))[: low - len(value)]
            value += filler
        if high is not None:
            value = value[: max(int(high), low)]
        return value

    def _bounds(self, schema: dict[str, Any]) -> tuple[float | None, bool, float | None, bool]:
        """(low, low_exclusive, high, high_exclusive) for draft-4 and draft-6+ keywords."""
        low, high = schema.get("minimum"), schema.get("maximum")
        low_ex = high_ex = False
        ex_min, ex_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if isinstance(ex_min, bool):
            low_ex = ex_min
        elif isinstance(ex_min, int | float) and (low is None or ex_min >= low):
            low, low_ex = ex_min, True
        if isinstance(ex_max, bool):
            high_ex = ex_max
        elif isinstance(ex_max, int | float) and (high is None or ex_max <= high):
            high, high_ex = ex_max, True
        return low, low_ex, high, high_ex

    def _integer(self, schema: dict[str, Any]) -> int:
        low_f, low_ex, high_f, high_ex = self._bounds(schema)
        low = None if low_f is None else math.floor(low_f) + 1 if low_ex else math.ceil(low_f)
        high = None if high_f is None else math.ceil(high_f) - 1 if high_ex else math.floor(high_f)
        if low is None and high is None:
            low, high = 0, 100
        elif low is None:
            low = high - 100  # type: ignore[operator]
        elif high is None:
            high = low + 100
        assert low is not None and high is not None
        if low > high:
            return low
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first, last = math.ceil(low / step), math.floor(high / step)
            return self.rng.randint(first, last) * step if first <= last else low
        return self.rng.randint(low, high)

    def _number(self, schema: dict[str, Any]) -> float | int:
        low, low_ex, high, high_ex = self._bounds(schema)
        if low is None and high is None:
            low, high = 0.0, 100.0
        elif low is None:
            low = high - 100.0  # type: ignore[operator]
        elif high is None:
            high = low + 100.0
        assert low is not None and high is not None
        step = schema.get("multipleOf")
        if isinstance(step, int | float) and step > 0:
            first, last = math.ceil(low / step), math.floor(high / step)
            candidates = [k for k in (first, first + 1, last - 1, last) if first <= k <= last]
            for k in candidates:
                value = k * step
                if (not low_ex or value > low) and (not high_ex or value < high):
                    return value
            return low
        value = round(low + self.rng.random() * (high - low), 2)
        if (low_ex and value <= low) or (high_ex and value >= high) or not low <= value <= high:
            value = (low + high) / 2
        return value


def build_instance(schema: Any, seed_hex: str, prompt: str = "") -> Any:
    """A JSON instance of ``schema`` derived deterministically from ``seed_hex`` and ``prompt``.

    Supports object/array/string/integer/number/boolean/null, enum/const, anyOf/oneOf (first
    non-null branch), allOf (merged), local ``$ref`` and the common string formats.
    ``pattern`` is not supported.
    """
    rng = random.Random(int(seed_hex[:16], 16))
    words = _WORD_RE.findall(prompt)[:64]
    return _InstanceBuilder(schema, rng, words, seed_hex).build(schema)


def _code_answer(lang: str, digest: str) -> str:
    """A short line plus a fenced code block in ``lang`` (deterministic from ``digest``)."""
    tag = digest[:8]
    number = int(digest[8:12], 16) % 1000
    low = lang.lower()
    if low in ("python", "py", "python3"):
        body = f"def f_{tag}():\n    return {number}"
    elif low in _HASH_COMMENT:
        body = f"# mock {lang} snippet {tag}\n# value: {number}"
    elif low in _DASH_COMMENT:
        body = f"-- mock {lang} snippet {tag}\n-- value: {number}"
    else:
        body = f"// mock {lang} snippet {tag}\n// value: {number}"
    return f"Here is the {lang} code ({tag}):\n```{lang}\n{body}\n```"


def build_answer(model: str, messages: list[Any], response_format: Any = None) -> str:
    """The deterministic answer content for a chat request (see the module docstring).

    ``h = sha256(canonical JSON of [model, messages])`` seeds everything; structured requests
    get JSON that validates against their schema, a fenced-code marker in the last user
    message gets a code block in that language, anything else gets one line of plain text.
    """
    digest = hashlib.sha256(_canonical([model, messages])).hexdigest()
    prompt = _last_user_text(messages)
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}  # type: ignore[union-attr]
        schema = spec.get("schema", {}) if isinstance(spec, dict) else {}
        value = build_instance(schema, digest, prompt)
        return json.dumps(value, ensure_ascii=False)
    if kind == "json_object":
        words = _WORD_RE.findall(prompt)
        topic = words[int(digest[:4], 16) % len(words)] if words else "value"
        value = {"id": digest[:8], "answer": f"mock {topic} {digest[8:14]}", "score": 0.5}
        return json.dumps(value, ensure_ascii=False)
    fence = _FENCE_RE.search(prompt)
    if fence:
        return _code_answer(fence.group(1), digest)
    snippet = _SPACE_RE.sub(" ", prompt).strip()[:60]
    return f'Mock answer {digest[:8]}: you said "{snippet}".'


def _break_json(content: str) -> str:
    """Syntactically broken JSON: the valid text truncated (or with trailing garbage)."""
    broken = content[: max(1, len(content) // 2)]
    try:
        json.loads(broken)
    except ValueError:
        return broken
    return content + "}"


# --------------------------------------------------------------------------------------------
# The application (protocol-independent request handling)
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Stats:
    requests: int = 0
    by_status: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"200": 0, "429": 0, "500": 0}
    )
    in_flight: int = 0
    max_in_flight: int = 0
    repeated_prompts: int = 0
    by_model: dict[str, int] = dataclasses.field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    auth: dict[str, int] = dataclasses.field(default_factory=dict)


_Response = tuple[int, bytes, str, list[tuple[str, str]]]
_JSON = "application/json"
_ANSWER_CACHE_SIZE = 20_000


def _json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> _Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return status, body, _JSON, headers or []


def _error(
    status: int,
    message: str,
    kind: str,
    code: str | None,
    headers: list[tuple[str, str]] | None = None,
) -> _Response:
    payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return _json_response(status, payload, headers)


class MockLLMApp:
    """Request handling, counters and knobs of the mock, independent of the HTTP transport.

    One instance lives on one event loop; use :class:`MockLLMServer` for the thread-backed
    wrapper or :func:`serve` inside an existing loop.
    """

    def __init__(self, config: MockLLMConfig | None = None) -> None:
        self.config = config.copy() if config is not None else MockLLMConfig()
        self.models: dict[str, None] = {DEFAULT_MODEL: None}
        self.url = ""
        self.base = ""
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._answers: dict[bytes, tuple[str, int, bool]] = {}
        self.reset()

    # -- counters and knobs ----------------------------------------------------------------

    def reset(self) -> None:
        """Zero all counters, forget seen prompts and re-seed the RNG from ``config.seed``."""
        self._stats = _Stats()
        self._seen: set[bytes] = set()
        self._reseed()

    def _reseed(self) -> None:
        self._rng = random.Random(self.config.seed)
        self._jitter_rng = random.Random(self.config.seed + 1)

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Apply knobs (validated, all or nothing); returns the full config afterwards."""
        self.config.update(**knobs)
        if "seed" in knobs:
            self._reseed()
        return self.config.to_dict()

    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters (a fresh dict, safe to keep)."""
        s = self._stats
        return {
            "requests": s.requests,
            "by_status": dict(s.by_status),
            "in_flight": s.in_flight,
            "max_in_flight": s.max_in_flight,
            "repeated_prompts": s.repeated_prompts,
            "unique_prompts": len(self._seen),
            "by_model": dict(s.by_model),
            "prompt_tokens": s.prompt_tokens,
            "completion_tokens": s.completion_tokens,
            "auth": dict(s.auth),
        }

    # -- routing ---------------------------------------------------------------------------

    async def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> _Response:
        """Answer one HTTP request: ``(status, body, content_type, extra_headers)``."""
        path = path.split("?", 1)[0]
        if path.startswith("/v1/"):
            path = path[3:]
        if path == "/chat/completions":
            if method != "POST":
                return _error(405, "use POST", "invalid_request_error", "method_not_allowed")
            response = await self._chat(headers, body)
            status = str(response[0])
            by_status = self._stats.by_status
            by_status[status] = by_status.get(status, 0) + 1
            return response
        if path == "/health":
            return 200, b"ok", "text/plain", []
        if path == "/models" and method == "GET":
            data = [
                {"id": model, "object": "model", "created": 0, "owned_by": "mock"}
                for model in self.models
            ]
            return _json_response(200, {"object": "list", "data": data})
        if path == "/_mock/stats" and method == "GET":
            return _json_response(200, self.stats())
        if path == "/_mock/reset" and method == "POST":
            self.reset()
            return _json_response(200, {"ok": True})
        if path == "/_mock/config":
            if method == "GET":
                return _json_response(200, self.config.to_dict())
            if method == "POST":
                return self._post_config(body)
        return _error(404, f"no route {method} {path}", "invalid_request_error", "not_found")

    def _post_config(self, body: bytes) -> _Response:
        try:
            knobs = json.loads(body or b"{}")
            if not isinstance(knobs, dict):
                raise ValueError("the body must be a JSON object of knobs")
            return _json_response(200, self.configure(**knobs))
        except ValueError as exc:
            return _error(400, str(exc), "invalid_request_error", "invalid_config")

    # -- chat completions ------------------------------------------------------------------

    async def _chat(self, headers: dict[str, str], body: bytes) -> _Response:
        stats = self._stats
        config = self.config
        stats.requests += 1
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else auth.strip()
        auth_key = hashlib.sha256(token.encode()).hexdigest()[:12] if token else "none"
        stats.auth[auth_key] = stats.auth.get(auth_key, 0) + 1
        try:
            request = json.loads(body)
        except ValueError as exc:
            return _error(400, f"invalid JSON body: {exc}", "invalid_request_error", None)
        if not isinstance(request, dict):
            return _error(400, "the body must be a JSON object", "invalid_request_error", None)
        model, messages = request.get("model"), request.get("messages")
        if not isinstance(model, str) or not model:
            return _error(400, "'model' is required", "invalid_request_error", "missing_model")
        stats.by_model[model] = stats.by_model.get(model, 0) + 1
        self.models[model] = None
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty list", "invalid_request_error", None)
        if request.get("stream"):
            return _error(
                400, "streaming is not supported by the mock", "invalid_request_error", None
            )
        response_format = request.get("response_format")

        # Random draws happen at arrival, a fixed number per request, so a given seed and
        # arrival order always produce the same faults.
        rng = self._rng
        draw_429, draw_500, draw_broken = rng.random(), rng.random(), rng.random()
        cap = config.max_in_flight
        if cap is not None and stats.in_flight >= cap:
            return self._too_many(f"mock in-flight cap of {cap} requests reached")
        if draw_429 < config.rate_429:
            return self._too_many("mock random rate limit (rate_429)")

        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            fail = False
            if config.fail_next_500 > 0:
                config.fail_next_500 -= 1
                fail = True
            elif draw_500 < config.rate_500:
                fail = True
            delay = config.latency
            if config.latency_jitter:
                jitter = config.latency_jitter
                delay = max(0.0, delay + self._jitter_rng.uniform(-jitter, jitter))
            if delay > 0:
                await asyncio.sleep(delay)
            if fail:
                message = "The server had an error while processing your request (mock)."
                return _error(500, message, "server_error", "internal_error")
            return self._complete(request, model, messages, response_format, draw_broken)
        finally:
            stats.in_flight -= 1

    def _too_many(self, message: str) -> _Response:
        retry_after = self.config.retry_after
        headers = []
        if retry_after is not None:
            value = int(retry_after) if float(retry_after).is_integer() else retry_after
            headers.append(("Retry-After", str(value)))
        return _error(429, message, "rate_limit_error", "rate_limit_exceeded", headers)

    def _complete(
        self,
        request: dict[str, Any],
        model: str,
        messages: list[Any],
        response_format: Any,
        draw_broken: float,
    ) -> _Response:
        key = hashlib.sha256(_canonical([model, messages, response_format])).digest()[:16]
        cached = self._answers.get(key)
        if cached is None:
            content = build_answer(model, messages, response_format)
            prompt_tokens = sum(_approx_tokens(_message_text(m)) for m in messages)
            kind = response_format.get("type") if isinstance(response_format, dict) else None
            cached = (content, prompt_tokens, kind in ("json_schema", "json_object"))
            if len(self._answers) >= _ANSWER_CACHE_SIZE:
                self._answers.clear()
            self._answers[key] = cached
        content, prompt_tokens, structured = cached
        if structured and draw_broken < self.config.broken_json_rate:
            content = _break_json(content)

        stats = self._stats
        if key in self._seen:
            stats.repeated_prompts += 1
        else:
            self._seen.add(key)
        completion_tokens = _approx_tokens(content)
        stats.prompt_tokens += prompt_tokens
        stats.completion_tokens += completion_tokens

        n = request.get("n")
        count = min(n, 16) if isinstance(n, int) and n > 1 else 1
        message = {"role": "assistant", "content": content, "refusal": None}
        choices = [
            {"index": i, "message": message, "logprobs": None, "finish_reason": "stop"}
            for i in range(count)
        ]
        payload = {
            "id": f"chatcmpl-mock-{key.hex()[:12]}-{stats.requests}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens * count,
                "total_tokens": prompt_tokens + completion_tokens * count,
            },
            "system_fingerprint": "mock",
        }
        return _json_response(200, payload)

    # -- HTTP/1.1 transport ----------------------------------------------------------------

    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        """Start listening (``port=0`` picks a free port); sets :attr:`url` and :attr:`base`."""
        self._server = await asyncio.start_server(
            self._connection, host, port, limit=1 << 20, backlog=1024
        )
        bound_port = self._server.sockets[0].getsockname()[1]
        url_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        if ":" in url_host:
            url_host = f"[{url_host}]"
        self.base = f"http://{url_host}:{bound_port}"
        self.url = f"{self.base}/v1"
        return self._server

    async def shutdown(self) -> None:
        """Stop listening, close open connections and wait for their handlers to finish."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request on a connection; returns whether to keep the connection open."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        except asyncio.LimitOverrunError:
            self._write(writer, *_error(431, "headers too large", "invalid_request_error", None))
            return False
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self._write(writer, *_error(400, "bad request line", "invalid_request_error", None))
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection

        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_chunked(reader)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                self._write(
                    writer, *_error(400, "bad Content-Length", "invalid_request_error", None)
                )
                return False
            body = await reader.readexactly(length) if length > 0 else b""
        else:
            body = b""

        try:
            response = await self.handle(method, target, headers, body)
        except Exception as exc:  # a bug in the mock must not hang the client
            response = _error(500, f"mock internal error: {exc!r}", "server_error", "mock_bug")
        status, payload, content_type, extra = response
        self._write(writer, status, payload, content_type, extra, keep_alive)
        await writer.drain()
        return keep_alive

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    @staticmethod
    def _write(
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str,
        extra: list[tuple[str, str]],
        keep_alive: bool = False,
    ) -> None:
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        head.append(f"Content-Type: {content_type}")
        head.append(f"Content-Length: {len(body)}")
        head.extend(f"{name}: {value}" for name, value in extra)
        head.append("Connection: keep-alive" if keep_alive else "Connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


_REASONS = {status.value: status.phrase for status in HTTPStatus}


async def serve(
    config: MockLLMConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ready: Callable[[MockLLMApp], None] | None = None,
) -> None:
    """Serve the mock inside the running event loop until cancelled.

    ``ready`` is called with the :class:`MockLLMApp` once listening (read ``app.url``,
    ``app.stats()``, call ``app.configure(...)`` from the same loop).
    """
    app = MockLLMApp(config)
    await app.listen(host, port)
    try:
        if ready is not None:
            ready(app)
        await asyncio.Event().wait()
    finally:
        await app.shutdown()


# --------------------------------------------------------------------------------------------
# Thread-backed server
# --------------------------------------------------------------------------------------------


class MockLLMServer:
    """The mock served from a daemon thread with its own event loop.

    Example::

        with MockLLMServer(MockLLMConfig(latency=0.05)) as server:
            client = openai.OpenAI(base_url=server.url, api_key="x")
            ...
            assert server.stats()["requests"] == 1
    """

    def __init__(
        self, config: MockLLMConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.app = MockLLMApp(config)
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> MockLLMConfig:
        """The live config (prefer :meth:`configure` to change it while running)."""
        return self.app.config

    @property
    def url(self) -> str:
        """``http://host:port/v1`` -- the ``base_url`` for the openai client."""
        return self.app.url

    @property
    def base(self) -> str:
        """``http://host:port``."""
        return self.app.base

    def start(self) -> MockLLMServer:
        """Start serving in a background thread; returns once the socket is listening."""
        if self._thread is not None:
            raise RuntimeError("MockLLMServer already started")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="mock-llm-server", daemon=True
        )
        self._thread.start()
        try:
            ready.result(timeout=30)
        except BaseException:
            self._thread.join(timeout=5)
            self._thread = None
            raise
        return self

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(self.app.listen(self.host, self.port))
        except BaseException as exc:
            loop.close()
            ready.set_exception(exc)
            return
        self.port = server.sockets[0].getsockname()[1]
        self._loop = loop
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.app.shutdown())
            loop.run_until_complete(loop.shutdown_asyncgens())
            self._loop = None
            loop.close()

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._thread = None

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the server's loop (counters are only touched from that thread)."""
        loop = self._loop
        if loop is None or threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                result.set_exception(exc)

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:  # loop closed meanwhile
            return fn(*args, **kwargs)
        return result.result(timeout=30)

    def stats(self) -> dict[str, Any]:
        """Same as ``GET /_mock/stats``."""
        return self._call(self.app.stats)

    def reset(self) -> None:
        """Same as ``POST /_mock/reset``."""
        self._call(self.app.reset)

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Same as ``POST /_mock/config``; returns the full config afterwards."""
        return self._call(self.app.configure, **knobs)

    def __enter__(self) -> MockLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"MockLLMServer(url={self.url or None!r}, config={self.config!r})"


# --------------------------------------------------------------------------------------------
# CLI and subprocess helpers
# --------------------------------------------------------------------------------------------

_LISTEN_RE = re.compile(r"mock LLM listening on (http://\S+)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dd_prefect.testing.mock_llm",
        description="Mock OpenAI chat-completions server (deterministic answers, fault knobs).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    defaults = MockLLMConfig()
    for field in dataclasses.fields(MockLLMConfig):
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            default=getattr(defaults, field.name),
            metavar="VALUE",
            help=f"default: {getattr(defaults, field.name)}",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: serve until SIGINT/SIGTERM."""
    args = _parser().parse_args(argv)
    try:
        config = MockLLMConfig(**{name: getattr(args, name) for name in MockLLMConfig.knob_names()})
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve_cli(config, args.host, args.port))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # e.g. the port is taken
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve_cli(config: MockLLMConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    app = MockLLMApp(config)
    await app.listen(host, port)
    print(f"mock LLM listening on {app.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await app.shutdown()


def _config_argv(config: MockLLMConfig) -> list[str]:
    argv: list[str] = []
    for name, value in config.to_dict().items():
        argv += ["--" + name.replace("_", "-"), "none" if value is None else repr(value)]
    return argv


def run_in_subprocess(
    config: MockLLMConfig | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    timeout: float = 20.0,
) -> tuple[subprocess.Popen[str], str]:
    """Start the mock CLI in a separate Python process; returns ``(process, url)``.

    Waits until ``/health`` answers. The module file is run as a script, so the child does
    not import the ``dd_prefect`` package (or Prefect). Stop it with :func:`stop_subprocess`
    (or use :func:`mock_llm_subprocess`).
    """
    argv = [sys.executable, os.path.abspath(__file__), "--host", host, "--port", str(port)]
    argv += _config_argv(config or MockLLMConfig())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # keep draining stdout so the child never blocks on a full pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="mock-llm-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    url = None
    try:
        while url is None:
            remaining = deadline - time.monotonic()
            line = lines.get(timeout=max(remaining, 0.01))
            if line is None:
                raise RuntimeError(f"mock LLM process exited early (code {proc.wait()})")
            match = _LISTEN_RE.search(line)
            url = match.group(1) if match else None
        _wait_healthy(url.removesuffix("/v1"), deadline)
    except BaseException as exc:
        stop_subprocess(proc)
        if isinstance(exc, queue.Empty):
            raise TimeoutError(f"mock LLM process did not start within {timeout}s") from None
        raise
    return proc, url


def _wait_healthy(base: str, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"mock LLM at {base} is not healthy") from None
            time.sleep(0.02)


def stop_subprocess(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int | None:
    """SIGTERM the process started by :func:`run_in_subprocess`, kill it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@contextlib.contextmanager
def mock_llm_subprocess(
    config: MockLLMConfig | None = None, port: int = 0, host: str = "127.0.0.1"
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Context manager around :func:`run_in_subprocess` / :func:`stop_subprocess`."""
    proc, url = run_in_subprocess(config, port=port, host=host)
    try:
        yield proc, url
    finally:
        stop_subprocess(proc)


if __name__ == "__main__":
    raise SystemExit(main())
