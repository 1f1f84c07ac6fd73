"""One model's requests: `ModelHandle` (chat, embeddings, images), retries and usage.

Every request goes through the model's limiter (an AIMD window); transient failures
(connection errors, timeouts, 429 and 5xx) are retried with backoff by tenacity.
"""

from __future__ import annotations

import base64
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import httpx2
import openai
from openai.types.chat import ChatCompletion
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from dd_prefect.config.models import (
    ChatCompletionInferenceParams,
    EmbeddingInferenceParams,
    GenerationType,
    ModelConfig,
    ModelProvider,
)
from dd_prefect.engine.media import (
    embedding_vector,
    image_payload,
    images_in_message,
    is_diffusion_model,
)
from dd_prefect.engine.throttle import AIMDLimiter
from dd_prefect.errors import CellError, GenerationError

MAX_TIMEOUT_HOLD = 60.0
"""The longest a timed-out request's limiter slot stays taken after the timeout (seconds)."""

T = TypeVar("T")
_rng = random.Random()  # draws of inference parameters given as distributions


@dataclass
class RetryPolicy:
    """Retries of transient failures: connection errors, timeouts, 429 and 5xx."""

    max_retries: int = 6
    initial_wait: float = 0.25
    max_wait: float = 20.0


@dataclass
class LLMUsage:
    """Counters for one model: requests sent (each retry is one), those answered, retries,
    requests that got a 429, a 5xx or timed out, tokens (reasoning tokens are part of the
    completion tokens, as providers bill them), the seconds requests took (summed), MCP
    tool calls and the turns they came in (as Data Designer's tool usage counts them), and
    requests that failed for good, by kind."""

    requests: int = 0
    successes: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    timeouts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    request_seconds: float = 0.0
    tool_calls: int = 0
    tool_call_turns: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, Any] = {name: getattr(self, name) for name in USAGE_COUNTERS}
        counts["request_seconds"] = round(self.request_seconds, 3)
        return {**counts, "failures": dict(self.failures)}


USAGE_COUNTERS = tuple(f.name for f in fields(LLMUsage) if f.name != "failures")
"""The names of LLMUsage's counters (summed across attempts, shown per model)."""


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError | openai.APITimeoutError):
        return True  # APITimeoutError is a subclass, listed for clarity
    if isinstance(exc, openai.RateLimitError):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def failure_kind(exc: BaseException) -> str:
    """A short label for an LLM failure, used in error counts."""
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.RateLimitError):
        return "rate_limit"
    if isinstance(exc, openai.APIStatusError):
        return f"http_{exc.status_code}"
    return type(exc).__name__


def reasoning_content(message: Any) -> str | None:
    """The reasoning of a chat answer, as Data Designer reads it: ``message.reasoning``
    (vLLM's field), else ``message.reasoning_content``; stripped, None when empty."""
    for name in ("reasoning", "reasoning_content"):
        value = getattr(message, name, None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


class ModelHandle:
    """Calls one model through its provider's client, under the model's limiter.

    A chat model answers :meth:`chat` / :meth:`complete`, an embedding model :meth:`embed`,
    an image model :meth:`generate_image`. Every request body gets the model's and then the
    provider's `extra_body` (the provider's keys win) and the provider's `extra_headers`.
    """

    def __init__(
        self,
        model_config: ModelConfig,
        client: openai.AsyncOpenAI,
        limiter: AIMDLimiter,
        retry: RetryPolicy,
        usage: LLMUsage,
        provider: ModelProvider | None = None,
    ) -> None:
        self.config = model_config
        self.client = client
        self.limiter = limiter
        self.retry = retry
        self.usage = usage
        params = model_config.inference_parameters
        self._body: dict[str, Any] = {"model": model_config.model}
        # The request's extras, as keyword arguments of the SDK's create() methods and as the
        # request options of a chat completion (see _chat_message).
        self._extras: dict[str, Any] = {}
        self._chat_options: openai.RequestOptions = {"security": {"bearer_auth": True}}
        extra_body = {**(params.extra_body or {}), **((provider and provider.extra_body) or {})}
        if extra_body:
            self._extras["extra_body"] = self._chat_options["extra_json"] = extra_body
        if provider is not None and provider.extra_headers:
            headers = dict(provider.extra_headers)
            self._extras["extra_headers"] = self._chat_options["headers"] = headers
        if params.timeout is not None:
            self._extras["timeout"] = self._chat_options["timeout"] = params.timeout

    def _expect(self, kind: GenerationType) -> None:
        if self.config.generation_type != kind:
            raise GenerationError(
                f"model '{self.config.alias}' generates {self.config.generation_type.value}, "
                f"not {kind.value}"
            )

    def _chat_kwargs(self) -> dict[str, Any]:
        """Sampling parameters for one request (distributions are drawn from now)."""
        params = self.config.inference_parameters
        assert isinstance(params, ChatCompletionInferenceParams)
        kwargs = dict(self._body)
        for name in ("temperature", "top_p"):
            value = getattr(params, name)
            if value is not None:
                kwargs[name] = value if isinstance(value, float | int) else value.sample(_rng)
        if params.max_tokens is not None:
            kwargs["max_tokens"] = params.max_tokens
        return kwargs

    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        response_format: dict[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> Any:
        """The assistant's message (an openai ``ChatCompletionMessage``), offered `tools`
        (OpenAI function schemas) if any; transient failures are retried with backoff."""
        self._expect(GenerationType.CHAT_COMPLETION)
        kwargs = dict(self._chat_kwargs(), messages=messages)
        if response_format is not None:
            kwargs["response_format"] = response_format
        if tools:
            kwargs["tools"] = tools
        return await self._chat_message(kwargs)

    async def complete(
        self, messages: list[dict[str, Any]], *, response_format: dict[str, Any] | None = None
    ) -> str:
        """The assistant's answer text (see :meth:`chat`)."""
        message = await self.chat(messages, response_format=response_format)
        return message.content or ""

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One embedding vector per text, in order (``POST /embeddings``)."""
        self._expect(GenerationType.EMBEDDING)
        params = self.config.inference_parameters
        assert isinstance(params, EmbeddingInferenceParams)
        kwargs = dict(
            self._body, **self._extras, input=texts, encoding_format=params.encoding_format
        )
        if params.dimensions is not None:
            kwargs["dimensions"] = params.dimensions
        response = await self._request(lambda: self.client.embeddings.create(**kwargs))
        self._count_tokens(response.usage)
        vectors = [embedding_vector(item.embedding) for item in response.data]
        if len(vectors) != len(texts):
            raise CellError(
                "embedding_count",
                f"model '{self.config.alias}': {len(texts)} texts got {len(vectors)} embeddings",
            )
        return vectors

    async def generate_image(self, prompt: str, context: list[dict[str, Any]]) -> list[str]:
        """Base64 data of the images generated for `prompt`, as Data Designer asks for them:
        a diffusion model (DALL-E, Stable Diffusion, Imagen, gpt-image, ...) through
        ``POST /images/generations``, any other through chat completions with the image
        `context` parts before the prompt (the images come back in the message)."""
        self._expect(GenerationType.IMAGE)
        if is_diffusion_model(self.config.model):
            kwargs = dict(self._body, **self._extras, prompt=prompt)
            response = await self._request(lambda: self.client.images.generate(**kwargs))
            self._count_tokens(getattr(response, "usage", None))
            raw: list[Any] = [item.model_dump() for item in response.data or []]
        else:
            content = [*context, {"type": "text", "text": prompt}]
            messages = [{"role": "user", "content": content}]
            message = await self._chat_message(dict(self._body, messages=messages))
            raw = images_in_message(message)
        images = [await self._image_data(item) for item in raw]
        found = [image for image in images if image]
        if not found:
            raise CellError("no_image", f"model '{self.config.alias}': the answer holds no image")
        return found

    async def _chat_message(self, body: dict[str, Any]) -> Any:
        """The message of a chat completion of `body` (plain JSON: model, messages, ...).

        Sent with the client's documented ``post`` rather than ``chat.completions.create``,
        which first walks the whole body against its typed-dict declarations to transform
        values a JSON body never holds: about a quarter of the SDK's CPU per request
        (benchmarks/create_throughput.py). Auth, headers, errors, timeouts and the parsed
        ``ChatCompletion`` are the same.
        """
        response = await self._request(
            lambda: self.client.post(
                "/chat/completions", cast_to=ChatCompletion, body=body, options=self._chat_options
            )
        )
        self._count_tokens(response.usage)
        return response.choices[0].message

    async def _image_data(self, item: Any) -> str | None:
        found = image_payload(item)
        if found is None or not found.startswith(("http://", "https://")):
            return found
        # A plain client: the provider's key must not go to wherever the URL points.
        async with httpx2.AsyncClient(timeout=60.0) as http:
            answer = await http.get(found)
            answer.raise_for_status()
        return base64.b64encode(answer.content).decode()

    def _count_tokens(self, usage: Any) -> None:
        """Add an answer's usage (the images API names its tokens input/output)."""
        if usage is not None:
            prompt = getattr(usage, "prompt_tokens", None) or getattr(usage, "input_tokens", 0)
            completion = getattr(usage, "completion_tokens", None) or getattr(
                usage, "output_tokens", 0
            )
            self.usage.prompt_tokens += prompt or 0
            self.usage.completion_tokens += completion or 0
            details = getattr(usage, "completion_tokens_details", None)
            self.usage.reasoning_tokens += getattr(details, "reasoning_tokens", None) or 0

    async def _request(self, send: Callable[[], Awaitable[T]]) -> T:
        """`send()` once, then retried after transient failures; failures are counted."""
        first: Exception | None = None
        try:
            # The first attempt is made directly: tenacity is only set up once it failed.
            return await self._attempt(send)
        except Exception as exc:
            if not _transient(exc) or self.retry.max_retries < 1:
                self.usage.failures[failure_kind(exc)] += 1
                raise
            first = exc
        try:
            return await self._retry(send, first)
        except Exception as exc:
            self.usage.failures[failure_kind(exc)] += 1
            raise

    async def _attempt(self, send: Callable[[], Awaitable[T]]) -> T:
        """One request under a limiter slot; a 429 or a timeout shrinks the window.

        The slot of a request that timed out is held for as long again as the request took
        (at most `MAX_TIMEOUT_HOLD` s): the server is probably still working on it.
        """
        limiter = self.limiter
        ticket = await limiter.acquire()
        hold = 0.0
        began = time.monotonic()
        usage = self.usage
        try:
            usage.requests += 1
            try:
                response = await send()
            except openai.RateLimitError as exc:
                usage.rate_limited += 1
                limiter.on_rate_limited(ticket, _retry_after(exc))
                raise
            except openai.APITimeoutError:
                usage.timeouts += 1
                limiter.on_timeout(ticket)
                hold = min(MAX_TIMEOUT_HOLD, time.monotonic() - began)
                raise
            except openai.APIStatusError as exc:
                usage.server_errors += exc.status_code >= 500
                raise
            usage.successes += 1
            limiter.on_success()
            return response
        finally:
            usage.request_seconds += time.monotonic() - began
            limiter.release(hold)

    async def _retry(self, send: Callable[[], Awaitable[T]], first: Exception) -> T:
        """Retries after a transient failure `first` (attempt 1), with tenacity."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(self.retry.max_retries + 1),
            wait=self._wait,
            reraise=True,
        )
        failed: list[Exception] = [first]
        async for attempt in retrying:
            with attempt:
                if failed:  # attempt 1 already happened: hand tenacity its outcome
                    raise failed.pop()
                self.usage.retries += 1
                return await self._attempt(send)
        raise AssertionError("unreachable: tenacity returns or re-raises")  # pragma: no cover

    def _wait(self, state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = _retry_after(exc) if exc is not None else None
        backoff = min(
            self.retry.max_wait, self.retry.initial_wait * 2 ** (state.attempt_number - 1)
        )
        jittered = random.uniform(0, backoff)  # full jitter
        if hinted is not None:
            return min(self.retry.max_wait, max(hinted, jittered))
        return jittered
