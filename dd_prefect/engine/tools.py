"""MCP tool use in LLM columns: the tools a column's tool config allows, the loop of
chat -> tool calls -> tool results -> chat, and the trace a column keeps.

Follows Data Designer: a turn runs every call one answer asks for, concurrently; after
`max_tool_call_turns` turns a further request is answered with a refusal, so the model gives
its final answer. A call to a tool the config does not allow, or with arguments that are not
a JSON object, fails the cell. Traces are messages as Data Designer stores them: content as a
list of blocks, with ``tool_calls`` / ``tool_call_id`` / ``reasoning_content`` when set.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from dd_prefect.config.mcp import LocalStdioMCPProvider, MCPProvider, ToolConfig
from dd_prefect.config.models import KeyedProvider
from dd_prefect.config.utils.trace_type import TraceType
from dd_prefect.engine.mcp_io import MCPSessions, ToolDefinition
from dd_prefect.engine.model_handle import ModelHandle, reasoning_content
from dd_prefect.errors import CellError, GenerationError

TOOL_REFUSAL = (
    "Tool call refused: You have reached the maximum number of tool-calling turns. "
    "Please provide your final response without requesting additional tool calls."
)
"""What a tool call gets once the turns are spent (Data Designer's words)."""

MAX_REFUSED_TURNS = 3
"""Refused turns after which a model that still asks for tools fails the cell (Data Designer
would ask forever)."""


class ToolSet:
    """The tools of one tool config: their OpenAI schemas (listed once per run) and calls."""

    def __init__(self, config: ToolConfig, sessions: MCPSessions) -> None:
        self.config = config
        self.sessions = sessions
        self._listing: asyncio.Future[dict[str, tuple[str, ToolDefinition]]] | None = None

    async def schemas(self) -> list[dict[str, Any]]:
        """The allowed tools in OpenAI's function format. GenerationError (failing the run,
        not a cell) when a provider cannot be reached, two providers offer a tool of the
        same name, or an allowed tool is missing."""
        return [tool.openai_schema() for _, tool in (await self._tools()).values()]

    async def run_turn(self, calls: Sequence[Any], column: str) -> list[dict[str, Any]]:
        """Run one turn's tool calls (openai tool call objects) concurrently; the tool
        messages that answer them, in order."""
        tools = await self._tools()
        planned = []
        for call in calls:
            name = call.function.name
            if name not in tools:
                allowed = ", ".join(sorted(tools)) or "none"
                raise CellError(
                    "tool_error",
                    f"column '{column}': the model called tool '{name}', which tool config "
                    f"'{self.config.tool_alias}' does not offer (offered: {allowed})",
                )
            planned.append((call, tools[name][0], name, _arguments(call, column)))
        timeout = self.config.timeout_sec
        try:
            results = await asyncio.gather(
                *(self.sessions.call_tool(p, n, args, timeout) for _, p, n, args in planned)
            )
        except GenerationError:
            raise
        except Exception as exc:
            raise CellError(
                "tool_error",
                f"column '{column}': calling tools {[n for _, _, n, _ in planned]} of tool "
                f"config '{self.config.tool_alias}' failed: {type(exc).__name__}: {exc}",
            ) from None
        return [
            tool_message(call.id, result)
            for (call, _, _, _), result in zip(planned, results, strict=True)
        ]

    async def _tools(self) -> dict[str, tuple[str, ToolDefinition]]:
        if self._listing is None:
            self._listing = asyncio.ensure_future(self._list())
        return await asyncio.shield(self._listing)

    async def _list(self) -> dict[str, tuple[str, ToolDefinition]]:
        config = self.config
        found: dict[str, tuple[str, ToolDefinition]] = {}
        for provider in config.providers:
            for tool in await self.sessions.list_tools(provider, config.timeout_sec):
                if tool.name in found:
                    raise GenerationError(
                        f"tool config '{config.tool_alias}': tool '{tool.name}' is offered by "
                        f"MCP providers '{found[tool.name][0]}' and '{provider}'; tool names "
                        "must be unique across a tool config's providers"
                    )
                found[tool.name] = (provider, tool)
        if config.allow_tools is not None:
            missing = sorted(set(config.allow_tools) - set(found))
            if missing:
                raise GenerationError(
                    f"tool config '{config.tool_alias}': allowed tool(s) {', '.join(missing)} "
                    f"not offered by MCP providers {', '.join(config.providers)}"
                )
            found = {n: found[n] for n in config.allow_tools}
        return found


class ToolRegistry:
    """A run's MCP providers and its configs' tool configs, by alias, and the sessions
    (see :class:`~dd_prefect.engine.mcp_io.MCPSessions` for `resolve_key`)."""

    def __init__(
        self,
        providers: Sequence[MCPProvider | LocalStdioMCPProvider],
        resolve_key: Callable[[KeyedProvider], str | None],
    ) -> None:
        self.sessions = MCPSessions(providers, resolve_key)
        self._configs: dict[str, ToolConfig] = {}
        self._sets: dict[str, ToolSet] = {}

    def update(self, tool_configs: Sequence[ToolConfig]) -> None:
        """Add tool configs (by alias) from another config run with this registry."""
        for config in tool_configs:
            if self._configs.get(config.tool_alias) != config:
                self._configs[config.tool_alias] = config
                self._sets.pop(config.tool_alias, None)

    def tool_set(self, alias: str, column: str) -> ToolSet:
        """The tools under `alias` for `column`; GenerationError if the alias is unknown or
        names an MCP provider the run does not have."""
        if alias not in self._configs:
            known = ", ".join(sorted(self._configs)) or "none defined"
            raise GenerationError(f"column '{column}': unknown tool alias '{alias}' ({known})")
        if alias not in self._sets:
            config = self._configs[alias]
            for provider in config.providers:
                self.sessions.provider(provider)  # raises, naming the known ones
            self._sets[alias] = ToolSet(config, self.sessions)
        return self._sets[alias]

    async def ready(self) -> None:
        """List the tools of every tool config in use (once per run; then at once): a
        provider that cannot be reached fails here, before any LLM call, as Data Designer's
        health check does."""
        for tools in list(self._sets.values()):
            await tools.schemas()

    async def aclose(self) -> None:
        """Close the MCP sessions (stopping the servers started over stdio)."""
        await self.sessions.aclose()


class Conversation:
    """One cell's conversation with its model: the messages so far and the tool turns
    taken (which corrections of a structured answer do not reset)."""

    def __init__(self, messages: list[dict[str, Any]], tools: ToolSet | None, column: str) -> None:
        self.messages = messages
        self.tools = tools
        self.column = column
        self.turns = 0

    async def answer(
        self, handle: ModelHandle, response_format: dict[str, Any] | None = None
    ) -> str:
        """Ask the model until it answers without tool calls; its answer's text."""
        schemas = await self.tools.schemas() if self.tools is not None else None
        while True:
            message = await handle.chat(
                self.messages, response_format=response_format, tools=schemas
            )
            calls = list(getattr(message, "tool_calls", None) or [])
            if self.tools is None or not calls:
                content = message.content or ""
                self.messages.append(assistant_message(message, content.strip()))
                return content
            self.turns += 1
            handle.usage.tool_call_turns += 1
            handle.usage.tool_calls += len(calls)
            limit = self.tools.config.max_tool_call_turns
            if self.turns > limit + MAX_REFUSED_TURNS:
                raise CellError(
                    "tool_turns",
                    f"column '{self.column}': the model still asks for tools after "
                    f"{limit} turns and {MAX_REFUSED_TURNS} refusals",
                )
            if self.turns > limit:
                results = [tool_message(call.id, TOOL_REFUSAL) for call in calls]
            else:
                results = await self.tools.run_turn(calls, self.column)
            self.messages.extend([assistant_message(message, message.content or ""), *results])

    def reasoning(self) -> str | None:
        """The reasoning content of the last answer (None when it has none)."""
        last = next((m for m in reversed(self.messages) if m["role"] == "assistant"), None)
        return (last or {}).get("reasoning_content") or None

    def trace(self, trace_type: TraceType | str) -> list[dict[str, Any]] | None:
        """The trace `trace_type` asks for (None for ``none``), as Data Designer stores it."""
        if trace_type == TraceType.ALL_MESSAGES:
            return [trace_message(m) for m in self.messages]
        if trace_type == TraceType.LAST_MESSAGE:
            last = next((m for m in reversed(self.messages) if m["role"] == "assistant"), None)
            return [trace_message(last)] if last is not None else []
        return None


def _arguments(call: Any, column: str) -> dict[str, Any]:
    raw = call.function.arguments or ""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        raise CellError(
            "tool_error",
            f"column '{column}': arguments of tool call '{call.function.name}' are not JSON: "
            f"{raw[:200]!r}",
        ) from None
    return value if isinstance(value, dict) else {}


def assistant_message(message: Any, content: str) -> dict[str, Any]:
    """An assistant message to send back (and trace): `content`, and the message's tool
    calls and reasoning content when it has them."""
    out: dict[str, Any] = {"role": "assistant", "content": content}
    calls = getattr(message, "tool_calls", None)
    if calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in calls
        ]
    reasoning = reasoning_content(message)
    if reasoning:
        out["reasoning_content"] = reasoning
    return out


def tool_message(call_id: str, content: str | list[dict[str, Any]]) -> dict[str, Any]:
    """The tool message that answers call `call_id`."""
    return {"role": "tool", "content": content, "tool_call_id": call_id}


def trace_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message as Data Designer traces it: content as blocks, optional keys only if set."""
    content = message.get("content")
    if isinstance(content, list):
        blocks = [
            b if "type" in b else {"type": "text", "text": b.get("text", "")} for b in content
        ]
    else:
        blocks = [] if content is None else [{"type": "text", "text": str(content)}]
    out: dict[str, Any] = {"role": message["role"], "content": blocks}
    for key in ("reasoning_content", "tool_calls", "tool_call_id"):
        if message.get(key):
            out[key] = message[key]
    return out
