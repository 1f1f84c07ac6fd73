"""Provider API keys from Prefect Secret blocks (``api_key: "secret:<block-name>"``)."""

from __future__ import annotations

from dd_prefect.engine.llm import register_secret_resolver


def _load_secret_block(name: str) -> str:
    from prefect.blocks.system import Secret

    # Called from sync code that may run inside an event loop: force the sync path. Prefect's
    # dispatch decorator adds `_sync`, which its annotations do not show.
    secret: Secret[str] = Secret.load(name, _sync=True)  # type: ignore[call-arg,assignment]
    return secret.get()


def install_secret_resolver() -> None:
    """Let the engine resolve ``secret:<name>`` keys through Prefect Secret blocks."""
    register_secret_resolver(_load_secret_block)
