"""The mock's behaviour, independent of HTTP: knobs, counters and chat completions."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import random
import time
from typing import Any, NamedTuple

from .answers import approx_tokens, break_json, build_answer, canonical, message_text
from .config import DEFAULT_MODEL, MockLLMConfig
from .media import (
    embeddings_payload,
    image_message,
    images_payload,
    is_image_chat,
    media_parts,
    reasoning_for,
)
from .tool_calls import mention_tool_results, tool_calls_for

__all__ = ["MockLLMState", "Reply", "error"]

_ANSWER_CACHE_SIZE = 20_000


class Reply(NamedTuple):
    """A JSON answer: status code, payload and extra headers."""

    status: int
    payload: Any
    headers: dict[str, str] | None = None


def error(
    status: int,
    message: str,
    kind: str,
    code: str | None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return Reply(status, payload, headers)


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
    # per model: [monotonic time of its first request, of its last] (do branches overlap?)
    model_times: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    auth: dict[str, int] = dataclasses.field(default_factory=dict)
    image_parts: int = 0
    media_parts: dict[str, int] = dataclasses.field(default_factory=dict)
    by_route: dict[str, int] = dataclasses.field(default_factory=dict)
    tool_calls: int = 0


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class MockLLMState:
    """Knobs, counters and chat handling of the mock (the HTTP side is :class:`MockLLMApp`).

    Counters are plain attributes, touched only from the event loop that serves requests.
    """

    def __init__(self, config: MockLLMConfig | None = None) -> None:
        self.config = config.copy() if config is not None else MockLLMConfig()
        self.models: dict[str, None] = {DEFAULT_MODEL: None}
        self.closing = False
        self._answers: dict[bytes, tuple[str, int, bool]] = {}
        self._waits: set[asyncio.Future[None]] = set()
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
            "model_times": {m: list(t) for m, t in s.model_times.items()},
            "prompt_tokens": s.prompt_tokens,
            "completion_tokens": s.completion_tokens,
            "auth": dict(s.auth),
            "image_parts": s.image_parts,
            "media_parts": dict(s.media_parts),
            "by_route": dict(s.by_route),
            "tool_calls": s.tool_calls,
        }

    def close(self) -> None:
        """Server shutdown: requests waiting out their latency (and later ones) answer 503."""
        self.closing = True
        for future in list(self._waits):
            _wake(future)

    # -- chat completions --------------------------------------------------------------------

    async def chat(self, auth: str, body: bytes, route: str = "chat") -> Reply:
        """Answer one request (``auth`` is the Authorization header) of `route`: ``chat``
        (completions), ``embeddings`` or ``images`` (generations). Every route has the
        same faults, latency and counters."""
        reply = await self._chat(auth, body, route)
        by_status = self._stats.by_status
        status = str(reply.status)
        by_status[status] = by_status.get(status, 0) + 1
        return reply

    async def _chat(self, auth: str, body: bytes, route: str) -> Reply:
        stats = self._stats
        config = self.config
        stats.requests += 1
        stats.by_route[route] = stats.by_route.get(route, 0) + 1
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else auth.strip()
        auth_key = hashlib.sha256(token.encode()).hexdigest()[:12] if token else "none"
        stats.auth[auth_key] = stats.auth.get(auth_key, 0) + 1
        try:
            request = json.loads(body)
        except ValueError as exc:
            return error(400, f"invalid JSON body: {exc}", "invalid_request_error", None)
        if not isinstance(request, dict):
            return error(400, "the body must be a JSON object", "invalid_request_error", None)
        model, messages = request.get("model"), request.get("messages")
        if not isinstance(model, str) or not model:
            return error(400, "'model' is required", "invalid_request_error", "missing_model")
        stats.by_model[model] = stats.by_model.get(model, 0) + 1
        now = time.monotonic()
        stats.model_times.setdefault(model, [now, now])[1] = now
        self.models[model] = None
        if route != "chat":
            messages = []
        elif not isinstance(messages, list) or not messages:
            return error(400, "'messages' must be a non-empty list", "invalid_request_error", None)
        for kind, count in media_parts(messages).items():
            stats.media_parts[kind] = stats.media_parts.get(kind, 0) + count
        stats.image_parts = stats.media_parts.get("image_url", 0)
        if request.get("stream"):
            return error(
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
                await self._sleep(delay)
            if self.closing:
                message = "The mock server is shutting down."
                return error(503, message, "server_error", "shutting_down")
            if fail:
                message = "The server had an error while processing your request (mock)."
                return error(500, message, "server_error", "internal_error")
            if route != "chat" or is_image_chat(model, request):
                return self._media(route, request, model, messages)
            return self._complete(request, model, messages, response_format, draw_broken)
        finally:
            stats.in_flight -= 1

    async def _sleep(self, delay: float) -> None:
        """``asyncio.sleep(delay)`` that :meth:`close` cuts short."""
        if self.closing:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(delay, _wake, future)
        self._waits.add(future)
        try:
            await future
        finally:
            timer.cancel()
            self._waits.discard(future)

    def _too_many(self, message: str) -> Reply:
        retry_after = self.config.retry_after
        headers = {}
        if retry_after is not None:
            value = int(retry_after) if float(retry_after).is_integer() else retry_after
            headers["Retry-After"] = str(value)
        return error(429, message, "rate_limit_error", "rate_limit_exceeded", headers)

    def _complete(
        self,
        request: dict[str, Any],
        model: str,
        messages: list[Any],
        response_format: Any,
        draw_broken: float,
    ) -> Reply:
        config = self.config
        calls = tool_calls_for(
            model,
            messages,
            request.get("tools"),
            request.get("tool_choice"),
            config.tool_call_turns,
            config.tool_calls_per_turn,
        )
        if calls is not None:
            return self._tool_call_reply(model, messages, calls)
        key = hashlib.sha256(canonical([model, messages, response_format])).digest()[:16]
        cached = self._answers.get(key)
        if cached is None:
            kind = response_format.get("type") if isinstance(response_format, dict) else None
            content = build_answer(model, messages, response_format)
            if kind not in ("json_schema", "json_object"):
                content = mention_tool_results(content, messages)
            prompt_tokens = sum(approx_tokens(message_text(m)) for m in messages)
            cached = (content, prompt_tokens, kind in ("json_schema", "json_object"))
            if len(self._answers) >= _ANSWER_CACHE_SIZE:
                self._answers.clear()
            self._answers[key] = cached
        content, prompt_tokens, structured = cached
        if structured and draw_broken < self.config.broken_json_rate:
            content = break_json(content)

        stats = self._stats
        if key in self._seen:
            stats.repeated_prompts += 1
        else:
            self._seen.add(key)
        completion_tokens = approx_tokens(content)
        stats.prompt_tokens += prompt_tokens
        stats.completion_tokens += completion_tokens

        n = request.get("n")
        count = min(n, 16) if isinstance(n, int) and n > 1 else 1
        message = {"role": "assistant", "content": content, "refusal": None}
        reasoning = reasoning_for(model, content)
        if reasoning is not None:
            message["reasoning_content"] = reasoning
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
        return Reply(200, payload)

    def _tool_call_reply(self, model: str, messages: list[Any], calls: list[Any]) -> Reply:
        """An answer that calls tools (``finish_reason`` ``tool_calls``, no content)."""
        stats = self._stats
        stats.tool_calls += len(calls)
        prompt_tokens = sum(approx_tokens(message_text(m)) for m in messages)
        completion_tokens = approx_tokens(json.dumps(calls))
        stats.prompt_tokens += prompt_tokens
        stats.completion_tokens += completion_tokens
        message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": calls}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}
        return Reply(
            200,
            {
                "id": f"chatcmpl-mock-{calls[0]['id']}-{stats.requests}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [choice],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
                "system_fingerprint": "mock",
            },
        )

    def _media(self, route: str, request: dict[str, Any], model: str, messages: list[Any]) -> Reply:
        """An embeddings or images answer, or a chat answer holding an image."""
        created = int(time.time())
        if route == "embeddings":
            payload = embeddings_payload(request, model)
        elif route == "images":
            payload = images_payload(request, model, created)
        else:
            message = image_message(model, messages)
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            payload = {
                "id": f"chatcmpl-mock-image-{self._stats.requests}",
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [choice],
                "usage": None,
            }
        if isinstance(payload, str):
            return error(400, payload, "invalid_request_error", None)
        usage = payload.get("usage") or {}
        self._stats.prompt_tokens += usage.get("prompt_tokens", usage.get("input_tokens", 0))
        self._stats.completion_tokens += usage.get("output_tokens", 0)
        return Reply(200, payload)
