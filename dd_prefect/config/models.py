"""Model providers and model configs.

A provider's `api_key` is never a key: it names where the key lives, an environment
variable (``OPENAI_API_KEY``) or a Prefect Secret block (``secret:<block-name>``). The key
itself is read at run time by the engine and never stored in a config, file or parameter.

A config may come from anyone (a spec submitted from the UI), so it may name only the
environment variables the worker allows (:func:`key_variable_allowed`): by default names
ending ``_API_KEY`` or ``_TOKEN``, except Prefect's own ``PREFECT_*`` settings; the worker
widens that, never the config.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dd_prefect.config.distributions import Distribution
from dd_prefect.config.fingerprint import sorted_sets

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_SECRET_NAME = re.compile(r"secret:[a-z0-9][a-z0-9-]*")

DEFAULT_KEY_VARIABLES: tuple[str, ...] = ("*_API_KEY", "*_TOKEN")
"""Environment variables an api_key may name on any worker (glob patterns)."""

_NOT_BY_DEFAULT: tuple[str, ...] = ("PREFECT_*",)
"""Never allowed by the default patterns: Prefect's own settings (``PREFECT_API_KEY`` is the
worker's Prefect Cloud key). A worker pattern that matches one allows it."""


def key_variable_allowed(name: str, allowed: Iterable[str] = ()) -> bool:
    """Whether an api_key may name environment variable `name`: it matches one of the
    worker's `allowed` glob patterns, or a default one (:data:`DEFAULT_KEY_VARIABLES`) and
    is not one of Prefect's own settings."""
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
        return True
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in _NOT_BY_DEFAULT):
        return False
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in DEFAULT_KEY_VARIABLES)


class KeyedProvider(Protocol):
    """A provider (of models or of MCP tools) whose `api_key` names where its key lives."""

    @property
    def name(self) -> str: ...

    @property
    def api_key(self) -> str | None: ...


def api_key_reference(value: str | None) -> str | None:
    """`value` if it names an environment variable or a Prefect Secret block (or is None);
    ValueError if it looks like a key itself."""
    if value is None or _ENV_NAME.fullmatch(value) or _SECRET_NAME.fullmatch(value):
        return value
    raise ValueError(
        "api_key must name an environment variable (e.g. OPENAI_API_KEY) or a Prefect "
        "Secret block ('secret:<block-name>'), never hold the key itself"
    )


def api_key_refusal(provider: KeyedProvider, allowed: Iterable[str] = ()) -> str | None:
    """Why the worker refuses `provider`'s api_key (None when it doesn't). Names the provider
    and the variable, never a value."""
    ref = provider.api_key
    if ref is None or ref.startswith("secret:"):
        return None
    extra = list(allowed)
    if key_variable_allowed(ref, extra):
        return None
    patterns = ", ".join([*DEFAULT_KEY_VARIABLES, *extra])
    return (
        f"provider '{provider.name}': api_key names environment variable {ref}, which this "
        f"worker does not allow (allowed: {patterns}; not PREFECT_* unless listed). Use a "
        "Prefect Secret block ('secret:<block-name>'), or allow the name on the worker with "
        "DD_PREFECT_ALLOWED_KEY_VARIABLES"
    )


class ModelProvider(BaseModel):
    """An OpenAI-compatible endpoint (OpenAI, vLLM, NIM, Ollama, ...).

    ``provider_type="mock"`` runs the bundled mock LLM server in-process (dry runs, demos).
    `extra_body` is merged into every request's body (its keys win over the model's),
    `extra_headers` are sent with every request, as in Data Designer.

    `http_transport` (ours; Data Designer has none): the HTTP library the openai client
    sends through, ``"aiohttp"`` or ``"httpx"``. Unset means aiohttp, which measured faster
    here (openai's aiohttp backend made 1.5x the requests/s of its default httpx2 one on the
    same mock). Either way the connection pool holds as many connections as the provider's
    models may have requests in flight (their ``max_parallel_requests``). It changes no
    row, so it is in no fingerprint.
    """

    # Errors never echo the input: a literal key passed by mistake must not reach a log.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str
    endpoint: str = ""
    provider_type: Literal["openai", "mock"] = "openai"
    api_key: str | None = None
    extra_body: dict[str, Any] | None = None
    extra_headers: dict[str, str] | None = None
    http_transport: Literal["aiohttp", "httpx"] | None = None

    @field_validator("provider_type", mode="before")
    @classmethod
    def _lower_type(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("api_key")
    @classmethod
    def _names_not_keys(cls, value: str | None) -> str | None:
        return api_key_reference(value)

    @field_validator("endpoint")
    @classmethod
    def _endpoint_url(cls, value: str) -> str:
        if value and not re.match(r"https?://", value):
            raise ValueError("endpoint must be an http(s) URL")
        return value.rstrip("/")


class GenerationType(StrEnum):
    """What a model generates: chat completions, embeddings or images (Data Designer's names)."""

    CHAT_COMPLETION = "chat-completion"
    EMBEDDING = "embedding"
    IMAGE = "image"


class BaseInferenceParams(BaseModel):
    """Fields of every kind of inference parameters.

    `max_parallel_requests` and `timeout` are operational: they don't change what is
    generated, so they are left out of config fingerprints. `extra_body` is merged into the
    body of every request.
    """

    model_config = ConfigDict(extra="forbid")

    max_parallel_requests: int = Field(default=4, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    extra_body: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _sets_sorted(cls, data: Any) -> Any:
        return sorted_sets(data)


class ChatCompletionInferenceParams(BaseInferenceParams):
    """Sampling parameters of a chat model, sent with each request.

    `temperature` and `top_p` are a number or a distribution drawn from per request.
    """

    generation_type: Literal["chat-completion"] = "chat-completion"
    temperature: float | Distribution | None = None
    top_p: float | Distribution | None = None
    max_tokens: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _in_range(self) -> ChatCompletionInferenceParams:
        for name, high in (("temperature", 2.0), ("top_p", 1.0)):
            value = getattr(self, name)
            if value is None:
                continue
            low_value, high_value = (
                (value, value) if isinstance(value, float | int) else value.bounds()
            )
            if low_value < 0.0 or high_value > high:
                raise ValueError(f"{name} must be between 0.0 and {high}")
        return self


class EmbeddingInferenceParams(BaseInferenceParams):
    """Parameters of an embedding model: the vectors' `encoding_format` and `dimensions`."""

    generation_type: Literal["embedding"] = "embedding"
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)


class ImageInferenceParams(BaseInferenceParams):
    """Parameters of an image model; model-specific options (size, quality, ...) go in
    `extra_body`, as in Data Designer."""

    generation_type: Literal["image"] = "image"


InferenceParams = Annotated[
    ChatCompletionInferenceParams | EmbeddingInferenceParams | ImageInferenceParams,
    Field(discriminator="generation_type"),
]


class ModelConfig(BaseModel):
    """A model under an alias that columns refer to.

    The kind of `inference_parameters` says what the model generates (`generation_type`); a
    dict without ``generation_type`` is read as Data Designer reads it (embedding parameters
    when it has ``encoding_format`` or ``dimensions``, chat otherwise). `skip_health_check` is
    accepted for Data Designer configs; dd_prefect runs no separate health check (a run's
    first requests are its check), so it changes nothing.

    `input_price_per_million_tokens` / `output_price_per_million_tokens` (ours; Data
    Designer has no prices): what the provider charges, in any one currency, per million
    prompt / completion tokens (reasoning tokens are completion tokens). With them a run
    reports its cost and `RunConfig.max_cost` can stop it. Like the other operational
    fields they change no fingerprint, and a Data Designer file is written without them
    while they are unset.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    alias: str
    model: str
    provider: str | None = None
    inference_parameters: InferenceParams = Field(default_factory=ChatCompletionInferenceParams)
    skip_health_check: bool = False
    input_price_per_million_tokens: float | None = Field(default=None, ge=0)
    output_price_per_million_tokens: float | None = Field(default=None, ge=0)

    @field_validator("inference_parameters", mode="before")
    @classmethod
    def _infer_generation_type(cls, value: Any) -> Any:
        if isinstance(value, dict) and "generation_type" not in value:
            embedding = "encoding_format" in value or "dimensions" in value
            return {**value, "generation_type": "embedding" if embedding else "chat-completion"}
        return value

    @property
    def generation_type(self) -> GenerationType:
        """What this model generates."""
        return GenerationType(self.inference_parameters.generation_type)
