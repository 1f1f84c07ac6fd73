"""Sessions to MCP servers (the ``mcp`` package): opened once per run and provider, on first
use, and closed with the run.

All MCP I/O runs on one event loop in a thread of its own, as in Data Designer: a session's
transport (anyio task groups) must be entered and left by one task, while cells list and
call tools from many tasks, and under Prefect from more than one event loop. Callers await
the results from their own loop.

A remote provider's api_key is resolved (by the `resolve_key` the model registry hands in,
as for model providers) when its session opens, and held only by the transport; nothing
here logs a key or a stdio provider's environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from mcp import ClientSession, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from dd_prefect.config.mcp import LocalStdioMCPProvider, MCPProvider
from dd_prefect.config.models import KeyedProvider
from dd_prefect.errors import GenerationError

T = TypeVar("T")

OPEN_TIMEOUT = 60.0
"""The longest a session may take to open (start the server, handshake), in seconds,
when its tool config sets no `timeout_sec`."""

HTTP_TIMEOUT = httpx.Timeout(30.0, read=300.0)
"""A remote session's HTTP timeouts: the mcp package's (a server may hold a stream open)."""

CLOSE_TIMEOUT = 10.0
"""The longest closing all sessions may take, in seconds."""


@dataclass(frozen=True)
class ToolDefinition:
    """A tool an MCP server offers: its name, description and JSON schema of arguments."""

    name: str
    description: str
    input_schema: dict[str, Any]

    def openai_schema(self) -> dict[str, Any]:
        """The tool in OpenAI's function-calling format."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.input_schema or {"type": "object", "properties": {}},
            },
        }


def describe(provider: MCPProvider | LocalStdioMCPProvider) -> str:
    """How a provider is reached, for messages: its command line or its endpoint (never
    its environment or key)."""
    if isinstance(provider, LocalStdioMCPProvider):
        return "command " + " ".join([provider.command, *provider.args])
    return f"{provider.provider_type} endpoint {provider.endpoint}"


class MCPSessions:
    """The MCP sessions of one run, one per provider, opened on first use.

    Always close it (:meth:`aclose`): that ends the sessions, stops the servers started
    over stdio and the I/O thread. `resolve_key` turns a remote provider's api_key
    reference into the key (GenerationError when it can't).
    """

    def __init__(
        self,
        providers: Sequence[MCPProvider | LocalStdioMCPProvider],
        resolve_key: Callable[[KeyedProvider], str | None],
    ) -> None:
        self.providers = {p.name: p for p in providers}
        self._resolve_key = resolve_key
        self._headers_of: dict[str, dict[str, str] | None] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Owned by the I/O loop: each provider's session (a future, so openings coalesce),
        # the task that holds it open, the event that lets it close, and listed tools.
        self._sessions: dict[str, asyncio.Future[ClientSession]] = {}
        self._holders: dict[str, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()
        self._tools: dict[str, asyncio.Future[tuple[ToolDefinition, ...]]] = {}

    def provider(self, name: str) -> MCPProvider | LocalStdioMCPProvider:
        """The provider called `name` (GenerationError naming the known ones if none is)."""
        if name not in self.providers:
            known = ", ".join(sorted(self.providers)) or "none"
            raise GenerationError(
                f"unknown MCP provider '{name}' (DataDesigner's mcp_providers: {known})"
            )
        return self.providers[name]

    async def list_tools(self, name: str, timeout: float | None) -> tuple[ToolDefinition, ...]:
        """The tools provider `name` offers (listed once per run)."""
        provider = self.provider(name)
        headers = self._headers(provider)
        return await self._run(self._list_tools(provider, headers, timeout))

    async def call_tool(
        self, name: str, tool: str, arguments: dict[str, Any], timeout: float | None
    ) -> str | list[dict[str, Any]]:
        """Call `tool` on provider `name`: its result as text, or as content blocks when it
        holds images. A tool that reports an error returns its error text (the model reads
        it); a failed call raises."""
        provider = self.provider(name)
        headers = self._headers(provider)
        return await self._run(self._call_tool(provider, headers, tool, arguments, timeout))

    async def aclose(self) -> None:
        """Close every session (stopping stdio servers) and the I/O thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._close_all(), loop)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.wrap_future(future), CLOSE_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, CLOSE_TIMEOUT)
        if not thread.is_alive():
            loop.close()

    # -- on the caller's loop ------------------------------------------------------------

    def _headers(self, provider: MCPProvider | LocalStdioMCPProvider) -> dict[str, str] | None:
        """A remote provider's auth header, its key resolved once per run."""
        if isinstance(provider, LocalStdioMCPProvider):
            return None
        if provider.name not in self._headers_of:
            key = self._resolve_key(provider)
            self._headers_of[provider.name] = {"Authorization": f"Bearer {key}"} if key else None
        return self._headers_of[provider.name]

    def _run(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """Run `coro` on the I/O loop; the caller awaits it on its own loop."""
        with self._lock:
            if self._loop is None:
                self._stop = asyncio.Event()
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="dd-prefect-mcp", daemon=True
                )
                self._thread.start()
            loop = self._loop
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    # -- on the I/O loop -----------------------------------------------------------------

    async def _session(
        self,
        provider: MCPProvider | LocalStdioMCPProvider,
        headers: dict[str, str] | None,
        timeout: float | None,
    ) -> ClientSession:
        if provider.name not in self._sessions:
            opened: asyncio.Future[ClientSession] = asyncio.get_running_loop().create_future()
            self._sessions[provider.name] = opened
            self._holders[provider.name] = asyncio.create_task(
                self._hold(provider, headers, opened)
            )
        try:
            return await asyncio.wait_for(
                asyncio.shield(self._sessions[provider.name]), timeout or OPEN_TIMEOUT
            )
        except TimeoutError:
            error = GenerationError(
                f"MCP provider '{provider.name}' ({describe(provider)}): no session after "
                f"{timeout or OPEN_TIMEOUT:g} s"
            )
            opened = self._sessions[provider.name]
            if not opened.done():  # give up on it: later callers fail at once, the server stops
                opened.set_exception(error)
                opened.exception()  # retrieved: only later callers raise it
                self._holders[provider.name].cancel()
            raise error from None

    async def _hold(
        self,
        provider: MCPProvider | LocalStdioMCPProvider,
        headers: dict[str, str] | None,
        opened: asyncio.Future[ClientSession],
    ) -> None:
        """Open the provider's session, hand it out through `opened`, keep it open until
        the run closes; entered and left in this one task, as the transports require."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                streams = await stack.enter_async_context(_transport(provider, headers))
                session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
                await session.initialize()
                opened.set_result(session)
                await self._stop.wait()
        except Exception as exc:
            if not opened.done():
                opened.set_exception(
                    GenerationError(
                        f"MCP provider '{provider.name}' ({describe(provider)}): could not "
                        f"open a session: {_reason(exc)}"
                    )
                )

    async def _list_tools(
        self,
        provider: MCPProvider | LocalStdioMCPProvider,
        headers: dict[str, str] | None,
        timeout: float | None,
    ) -> tuple[ToolDefinition, ...]:
        if provider.name not in self._tools:
            self._tools[provider.name] = asyncio.ensure_future(
                self._fetch_tools(provider, headers, timeout)
            )
        return await asyncio.shield(self._tools[provider.name])

    async def _fetch_tools(
        self,
        provider: MCPProvider | LocalStdioMCPProvider,
        headers: dict[str, str] | None,
        timeout: float | None,
    ) -> tuple[ToolDefinition, ...]:
        session = await self._session(provider, headers, timeout)
        try:
            listed = await asyncio.wait_for(session.list_tools(), timeout)
        except Exception as exc:
            raise GenerationError(
                f"MCP provider '{provider.name}' ({describe(provider)}): listing its tools "
                f"failed: {_reason(exc)}"
            ) from None
        return tuple(
            ToolDefinition(tool.name, tool.description or "", dict(tool.inputSchema or {}))
            for tool in listed.tools
        )

    async def _call_tool(
        self,
        provider: MCPProvider | LocalStdioMCPProvider,
        headers: dict[str, str] | None,
        tool: str,
        arguments: dict[str, Any],
        timeout: float | None,
    ) -> str | list[dict[str, Any]]:
        session = await self._session(provider, headers, timeout)
        wait = timedelta(seconds=timeout) if timeout else None
        result = await session.call_tool(tool, arguments, read_timeout_seconds=wait)
        return tool_result_content(result.content)

    async def _close_all(self) -> None:
        self._stop.set()
        holders = list(self._holders.values())
        if holders:
            await asyncio.wait(holders, timeout=CLOSE_TIMEOUT)
        for task in holders:
            task.cancel()
        for listing in self._tools.values():
            listing.cancel()
        self._sessions.clear()
        self._holders.clear()
        self._tools.clear()


@contextlib.asynccontextmanager
async def _transport(
    provider: MCPProvider | LocalStdioMCPProvider, headers: dict[str, str] | None
) -> AsyncIterator[tuple[Any, ...]]:
    """The provider's (read, write, ...) streams, for as long as the block runs."""
    if isinstance(provider, LocalStdioMCPProvider):
        params = StdioServerParameters(
            command=provider.command, args=list(provider.args), env=dict(provider.env) or None
        )
        async with stdio_client(params) as streams:
            yield streams
    elif provider.provider_type == "streamable_http":
        async with (
            httpx.AsyncClient(headers=headers, timeout=HTTP_TIMEOUT) as client,
            streamable_http_client(provider.endpoint, http_client=client) as streams,
        ):
            yield streams
    else:
        async with sse_client(provider.endpoint, headers=headers) as streams:
            yield streams


def _reason(exc: BaseException) -> str:
    """A failure's message, looking inside the exception groups anyio raises."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def tool_result_content(content: Sequence[Any]) -> str | list[dict[str, Any]]:
    """A tool result as a tool message's content (as Data Designer does): its texts joined
    by newlines, or content blocks (``text`` / ``image_url``) when it holds an image."""
    blocks: list[dict[str, Any]] = []
    for item in content:
        kind = getattr(item, "type", None)
        if kind == "text":
            blocks.append({"type": "text", "text": item.text})
        elif kind == "image":
            url = f"data:{item.mimeType};base64,{item.data}"
            blocks.append({"type": "image_url", "image_url": {"url": url}})
        else:
            dumped = item.model_dump(mode="json") if hasattr(item, "model_dump") else item
            blocks.append({"type": "text", "text": json.dumps(dumped, default=str)})
    if any(block["type"] == "image_url" for block in blocks):
        return blocks
    return "\n".join(block["text"] for block in blocks)
