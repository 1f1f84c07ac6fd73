"""Provider API keys from Prefect Secret blocks (``api_key: "secret:<block-name>"``)."""

from __future__ import annotations

from dd_prefect.engine.llm import register_secret_resolver


def _load_secret_block(name: str) -> str:
    from prefect.blocks.system import Secret

    return Secret.load(name, _sync=True).get()


def install_secret_resolver() -> None:
    """Let the engine resolve ``secret:<name>`` keys through Prefect Secret blocks."""
    register_secret_resolver(_load_secret_block)
