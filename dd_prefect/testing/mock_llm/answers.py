"""Deterministic answers: plain text, fenced code and JSON (schema instances or broken JSON).

Nothing is random: ``sha256`` of the canonical ``[model, messages]`` seeds every answer, so the
same request always gets the same content.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from .instances import WORD_RE, build_instance

__all__ = [
    "approx_tokens",
    "break_json",
    "build_answer",
    "build_instance",
    "canonical",
    "message_text",
]

_FENCE_RE = re.compile(r"```([A-Za-z0-9_+#-]+)")
_SPACE_RE = re.compile(r"\s+")

_HASH_COMMENT = {"python", "py", "bash", "sh", "shell", "zsh", "ruby", "rb", "r", "yaml", "yml"}
_HASH_COMMENT |= {"perl", "toml", "dockerfile", "make", "makefile", "powershell", "julia"}
_DASH_COMMENT = {"sql", "lua", "haskell", "hs", "ada", "elm"}


def canonical(obj: Any) -> bytes:
    """Canonical JSON bytes of ``obj`` (sorted keys, compact)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def message_text(message: Any) -> str:
    """The text of one chat message (string content or a list of text parts)."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        return "\n".join(parts)
    return ""


def _last_user_text(messages: list[Any]) -> str:
    """Text of the last user message (or of the last message if no user message exists)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return message_text(messages[-1]) if messages else ""


def approx_tokens(text: str) -> int:
    """The mock's token count: ``len(text) // 4 + 1``."""
    return len(text) // 4 + 1


def _code_answer(lang: str, digest: str) -> str:
    """A short line plus a fenced code block in ``lang`` (deterministic from ``digest``)."""
    tag = digest[:8]
    number = int(digest[8:12], 16) % 1000
    low = lang.lower()
    if low in ("python", "py", "python3"):
        body = f"def f_{tag}():\n    return {number}"
    elif low in _HASH_COMMENT:
        body = f"# mock {lang} snippet {tag}\n# value: {number}"
    elif low in _DASH_COMMENT:
        body = f"-- mock {lang} snippet {tag}\n-- value: {number}"
    else:
        body = f"// mock {lang} snippet {tag}\n// value: {number}"
    return f"Here is the {lang} code ({tag}):\n```{lang}\n{body}\n```"


def build_answer(model: str, messages: list[Any], response_format: Any = None) -> str:
    """The deterministic answer content for a chat request (see the module docstring).

    ``h = sha256(canonical JSON of [model, messages])`` seeds everything; structured requests
    get JSON that validates against their schema, a fenced-code marker in the last user
    message gets a code block in that language, anything else gets one line of plain text.
    """
    digest = hashlib.sha256(canonical([model, messages])).hexdigest()
    prompt = _last_user_text(messages)
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema", {}) if isinstance(spec, dict) else {}
        value = build_instance(schema, digest, prompt)
        return json.dumps(value, ensure_ascii=False)
    if kind == "json_object":
        words = WORD_RE.findall(prompt)
        topic = words[int(digest[:4], 16) % len(words)] if words else "value"
        value = {"id": digest[:8], "answer": f"mock {topic} {digest[8:14]}", "score": 0.5}
        return json.dumps(value, ensure_ascii=False)
    fence = _FENCE_RE.search(prompt)
    if fence:
        return _code_answer(fence.group(1), digest)
    snippet = _SPACE_RE.sub(" ", prompt).strip()[:60]
    return f'Mock answer {digest[:8]}: you said "{snippet}".'


def break_json(content: str) -> str:
    """Syntactically broken JSON: the valid text truncated (or with trailing garbage)."""
    broken = content[: max(1, len(content) // 2)]
    try:
        json.loads(broken)
    except ValueError:
        return broken
    return content + "}"
