"""Every ``DD_PREFECT_*`` environment setting, read in one place.

Read when needed (``Settings()``), not cached, so a process or a test may change them
after import. Deployments set them per deployment in ``job_variables.env``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """dd_prefect's settings from ``DD_PREFECT_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="DD_PREFECT_", extra="ignore")

    global_throttle: bool | None = Field(
        default=None,
        description="Lease LLM slots from Prefect global concurrency limits (default: on "
        "with a configured Prefect API URL, off with Prefect's ephemeral server).",
    )
    flow_retries: int = Field(
        default=0, ge=0, description="Prefect retries of a deployment's failed flow run."
    )
    flow_retry_delay: int = Field(
        default=10, ge=0, description="Seconds between those retries (whole seconds)."
    )
    review_timeout: int = Field(
        default=7 * 24 * 3600, ge=1, description="Seconds a review gate waits for an answer."
    )
    review_poll_seconds: int = Field(
        default=5, ge=1, description="How often a paused review gate checks for an answer."
    )
    allowed_key_variables: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Glob patterns of environment variables a provider's api_key may name, "
        "besides *_API_KEY and *_TOKEN (comma-separated, or a JSON list). Only the worker "
        "sets this; a spec never can.",
    )
    shard_deployment: str | None = Field(
        default=None,
        description="The deployment ('dd-prefect-shard/<name>') whose flow runs generate the "
        "shards of a stage or dataset with shards > 1 (default: shards run in this process).",
    )
    mcp_providers_file: Path | None = Field(
        default=None,
        description="A YAML or JSON file of the MCP providers tool configs may name, as Data "
        "Designer's CLI writes mcp_providers.yaml ('providers: [...]'); default: "
        "$DATA_DESIGNER_HOME/mcp_providers.yaml when it exists. Only the worker sets this "
        "(a stdio provider is a command it runs); a spec never can.",
    )

    @field_validator("allowed_key_variables", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value
