"""Agent rollout seeds: Claude Code session traces as rows, as Data Designer reads them.

Each ``*.jsonl`` session file is one row (:data:`~dd_prefect.config.file_seed_sources.
ROLLOUT_COLUMNS`): its user and assistant records become OpenAI-shaped messages (content as
a list of blocks; thinking as ``reasoning_content``; ``tool_use`` blocks as ``tool_calls``;
``tool_result`` blocks as ``tool`` messages), with the session's ids, working directory,
branch, first and last timestamps, and what a ``sessions-index.json`` beside them says
(project path, summary, first prompt). A file that can't be parsed is skipped with a
warning, as Data Designer skips it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dd_prefect.config.file_seed_sources import AgentRolloutSeedSource

logger = logging.getLogger(__name__)


class TraceError(ValueError):
    """A trace file that does not parse as its format."""


def rollout_rows(source: AgentRolloutSeedSource) -> list[dict[str, Any]]:
    """One row per session file of `source`; ValueError when none can be read."""
    root = source.root()
    index = _session_index(root, recursive=source.recursive)
    rows = []
    for path in source.files():
        try:
            row = _claude_session(path, index, source.format.value)
        except (TraceError, UnicodeDecodeError) as exc:
            logger.warning("skipping the malformed trace file %s: %s", path, exc)
            continue
        if row is not None:
            rows.append(row)
    if not rows:
        raise ValueError(f"agent rollout seed {str(root)!r} has no readable session")
    return rows


def _claude_session(
    path: Path, index: dict[str, dict[str, Any]], kind: str
) -> dict[str, Any] | None:
    records = _jsonl(path)
    if not records:
        logger.warning("skipping the empty trace file %s", path)
        return None
    messages: list[dict[str, Any]] = []
    stamps: list[str] = []
    versions: set[str] = set()
    types: set[str] = set()
    first: dict[str, str | None] = dict.fromkeys(("sessionId", "agentId", "cwd", "gitBranch"))
    sidechain = False
    for record in records:
        types.add(str(record.get("type", "unknown")))
        if stamp := _text_or_none(record.get("timestamp")):
            stamps.append(stamp)
        for key in first:
            first[key] = first[key] or _text_or_none(record.get(key))
        if version := _text_or_none(record.get("version")):
            versions.add(version)
        sidechain = sidechain or bool(record.get("isSidechain"))
        if record.get("type") == "assistant":
            messages += _assistant_messages(record)
        elif record.get("type") == "user":
            messages += _user_messages(record)
    session = first["sessionId"] or path.stem
    agent = first["agentId"]
    entry = index.get(session, {})
    meta: dict[str, Any] = {"record_count": len(records), "record_types": sorted(types)}
    if versions:
        meta["claude_versions"] = sorted(versions)
    for key, name in (("summary", "summary"), ("firstPrompt", "first_prompt")):
        if value := _text_or_none(entry.get(key)):
            meta[name] = value
    started, ended = _first_and_last(stamps)
    return {
        "trace_id": f"{session}:{agent}" if agent else session,
        "source_kind": kind,
        "source_path": str(path),
        "root_session_id": session,
        "agent_id": agent,
        "is_sidechain": sidechain,
        "cwd": first["cwd"],
        "project_path": _text_or_none(entry.get("projectPath")) or first["cwd"],
        "git_branch": first["gitBranch"],
        "started_at": started,
        "ended_at": ended,
        "messages": messages,
        "source_meta": meta,
        "message_count": len(messages),
        "tool_call_count": sum(len(m.get("tool_calls", [])) for m in messages),
        "final_assistant_message": _final_answer(messages),
    }


def _assistant_messages(record: dict[str, Any]) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    tools: list[dict[str, Any]] = []
    for block in _blocks(_payload(record, "assistant").get("content")):
        kind = _text_or_none(block.get("type"))
        if kind == "thinking":
            if text := _text_or_none(block.get("thinking")) or _text_or_none(block.get("text")):
                reasoning.append(text)
        elif kind == "tool_use":
            calls.append(
                {
                    "id": _required(block.get("id"), "tool_use id"),
                    "type": "function",
                    "function": {
                        "name": _required(block.get("name"), "tool_use name"),
                        "arguments": _json_text(block.get("input")),
                    },
                }
            )
        elif kind == "tool_result":  # Claude Code nests some tool results in assistant records
            tools.append(_tool_message(block))
        else:
            content.append(_content_block(block))
    out = []
    if content or reasoning or calls:
        out.append(
            _message("assistant", content, reasoning="\n\n".join(reasoning) or None, calls=calls)
        )
    return out + tools


def _user_messages(record: dict[str, Any]) -> list[dict[str, Any]]:
    content = _payload(record, "user").get("content")
    if isinstance(content, dict) and content.get("type") == "tool_result":
        return [_tool_message(content)]
    if not isinstance(content, list):
        return [_message("user", content)]
    blocks = _blocks(content)
    text = [_content_block(b) for b in blocks if b.get("type") != "tool_result"]
    tools = [_tool_message(b) for b in blocks if b.get("type") == "tool_result"]
    return ([_message("user", text)] if text else []) + tools


def _payload(record: dict[str, Any], role: str) -> dict[str, Any]:
    payload = record.get("message")
    if not isinstance(payload, dict):
        raise TraceError(f"a Claude {role} record has no message payload")
    return payload


def _tool_message(block: dict[str, Any]) -> dict[str, Any]:
    call_id = _required(block.get("tool_use_id"), "tool_result tool_use_id")
    return _message("tool", block.get("content"), call_id=call_id)


def _message(
    role: str,
    content: Any,
    *,
    reasoning: str | None = None,
    calls: list[dict[str, Any]] | None = None,
    call_id: str | None = None,
) -> dict[str, Any]:
    """A message as Data Designer writes it: content as blocks, optional keys only when set."""
    if isinstance(content, list):
        blocks = [b if isinstance(b, dict) and "type" in b else _text_block(b) for b in content]
    else:
        blocks = [] if content is None else [_text_block(content)]
    message: dict[str, Any] = {"role": role, "content": blocks}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    if call_id:
        message["tool_call_id"] = call_id
    return message


def _text_block(value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and "text" in value:
        value = value["text"]
    return {"type": "text", "text": "" if value is None else str(value)}


def _content_block(block: dict[str, Any]) -> dict[str, Any]:
    kind = _text_or_none(block.get("type"))
    if kind in {"text", "input_text", "output_text"} and "text" in block:
        return _text_block(block["text"])
    return block if kind is not None else _text_block(block)


def _blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, dict):
        return [content]
    if isinstance(content, list):
        return [b if isinstance(b, dict) else _text_block(b) for b in content]
    return [_text_block(content)]


def _final_answer(messages: list[dict[str, Any]]) -> str | None:
    for message in reversed(messages):
        if message["role"] == "assistant":
            text = "\n\n".join(b["text"] for b in message["content"] if b.get("text"))
            if text:
                return text
    return None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TraceError(f"line {number} is not JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise TraceError(f"line {number} is not a JSON object")
            records.append(record)
    return records


def _session_index(root: Path, *, recursive: bool) -> dict[str, dict[str, Any]]:
    """Claude Code's ``sessions-index.json`` entries under `root`, by session id."""
    entries: dict[str, dict[str, Any]] = {}
    found = root.rglob("sessions-index.json") if recursive else root.glob("sessions-index.json")
    for path in sorted(found):
        try:
            listed = json.loads(path.read_text(encoding="utf-8")).get("entries", [])
        except (OSError, ValueError, AttributeError) as exc:
            logger.warning("skipping the malformed sessions index %s: %s", path, exc)
            continue
        for entry in listed if isinstance(listed, list) else []:
            if isinstance(entry, dict) and (session := _text_or_none(entry.get("sessionId"))):
                entries[session] = entry
    return entries


def _first_and_last(stamps: list[str]) -> tuple[str | None, str | None]:
    """The earliest and latest ISO timestamps (naive ones as UTC), as written."""
    parsed = []
    for stamp in stamps:
        try:
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            continue
        parsed.append((when if when.tzinfo else when.replace(tzinfo=UTC), stamp))
    if not parsed:
        return None, None
    return min(parsed)[1], max(parsed)[1]


def _required(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TraceError(f"a Claude {what} is missing")
    return value


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else str(value)


def _json_text(value: Any) -> str:
    return (
        value
        if isinstance(value, str)
        else json.dumps(value if value is not None else {}, sort_keys=True)
    )
