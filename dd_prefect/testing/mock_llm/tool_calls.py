"""Tool calls: what the mock answers a request that offers ``tools``.

Deterministic like every answer: while the conversation holds fewer assistant tool-call
turns than the ``tool_call_turns`` knob, the answer is ``tool_calls_per_turn`` calls of the
offered functions (those the conversation names, if any, else all; picked from ``sha256``
of the request, arguments built from each function's parameter schema); after that it is a
final answer, whose plain text quotes the last tool result so a test can see the result
reached the model. ``tool_choice="none"``
gets no tool calls; ``tool_choice`` naming a function gets calls of that function.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .answers import canonical, message_text
from .instances import build_instance

__all__ = ["mention_tool_results", "tool_calls_for"]


def _functions(tools: Any, tool_choice: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list) or tool_choice == "none":
        return []
    functions = [
        t["function"]
        for t in tools
        if isinstance(t, dict)
        and t.get("type") == "function"
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
    ]
    if isinstance(tool_choice, dict):
        chosen = (tool_choice.get("function") or {}).get("name")
        functions = [f for f in functions if f["name"] == chosen]
    return functions


def _turns_taken(messages: list[Any]) -> int:
    return sum(
        1
        for m in messages
        if isinstance(m, dict) and m.get("role") == "assistant" and m.get("tool_calls")
    )


def tool_calls_for(
    model: str,
    messages: list[Any],
    tools: Any,
    tool_choice: Any,
    turns: int,
    per_turn: int,
) -> list[dict[str, Any]] | None:
    """The tool calls answering this request, or None when it gets a final answer."""
    functions = _functions(tools, tool_choice)
    taken = _turns_taken(messages)
    if not functions or taken >= turns:
        return None
    digest = hashlib.sha256(canonical([model, messages, functions])).hexdigest()
    prompt = " ".join(message_text(m) for m in messages if isinstance(m, dict))
    functions = [f for f in functions if f["name"] in prompt] or functions
    calls = []
    for i in range(per_turn):
        function = functions[(int(digest[:8], 16) + i) % len(functions)]
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        seed = hashlib.sha256(f"{digest}:{i}".encode()).hexdigest()
        arguments = build_instance(schema, seed, prompt)
        calls.append(
            {
                "id": f"call_{digest[:12]}_{taken}_{i}",
                "type": "function",
                "function": {"name": function["name"], "arguments": json.dumps(arguments)},
            }
        )
    return calls


def mention_tool_results(content: str, messages: list[Any]) -> str:
    """A plain-text final answer with the last tool result quoted (unchanged without one)."""
    results = [m for m in messages if isinstance(m, dict) and m.get("role") == "tool"]
    if not results:
        return content
    quoted = " ".join(message_text(results[-1]).split())[:80]
    return f'{content} Tool said: "{quoted}".'
