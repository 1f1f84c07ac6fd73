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
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    """

    # Errors never echo the input: a literal key passed by mistake must not reach a log.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str
    endpoint: str = ""
    provider_type: Literal["openai", "mock"] = "openai"
    api_key: str | None = None

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


class ChatCompletionInferenceParams(BaseModel):
    """Sampling parameters sent with each request, and per-model operational knobs.

    `max_parallel_requests` and `timeout` are operational: they don't change what is
    generated, so they are left out of config fingerprints.
    """

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_parallel_requests: int = Field(default=4, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    extra_body: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _sets_sorted(cls, data: Any) -> Any:
        return sorted_sets(data)


class ModelConfig(BaseModel):
    """A model under an alias that LLM columns refer to."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    alias: str
    model: str
    provider: str | None = None
    inference_parameters: ChatCompletionInferenceParams = Field(
        default_factory=ChatCompletionInferenceParams
    )
