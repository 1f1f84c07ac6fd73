"""Embeddings, images and reasoning: the mock's deterministic answers beyond chat text.

- ``POST /embeddings``: one unit-length vector per input, from ``sha256([model, text])``;
  ``dimensions`` long (default :data:`EMBEDDING_DIMENSIONS`), as floats or as base64
  float32s (``encoding_format``).
- ``POST /images/generations``: ``n`` tiny PNGs (``b64_json``), colored from the prompt.
- A chat request to an image model (its name holds ``image``, ``flux``, ``diffusion``,
  ``imagen`` or ``dall``, or it asks for ``modalities`` with ``image``) is answered with a
  PNG in ``message.images`` (OpenRouter's shape), as image models answer over chat.
- A chat model whose name holds ``reason`` or ``think`` adds ``reasoning_content``.
- Media parts of chat messages are counted: ``image_parts`` (``image_url``) and
  ``media_parts`` (by type: ``image_url``, ``input_audio``, ``audio_url``, ``video_url``).
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import zlib
from typing import Any

from .answers import canonical

__all__ = [
    "EMBEDDING_DIMENSIONS",
    "embeddings_payload",
    "image_message",
    "images_payload",
    "is_image_chat",
    "media_parts",
    "reasoning_for",
    "tiny_png",
]

EMBEDDING_DIMENSIONS = 8
_IMAGE_MODEL_MARKS = ("image", "flux", "diffusion", "imagen", "dall")
_REASONING_MARKS = ("reason", "think")


def _digest(*parts: Any) -> bytes:
    return hashlib.sha256(canonical(list(parts))).digest()


def embedding(model: str, text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for `text`."""
    raw: list[float] = []
    counter = 0
    while len(raw) < dimensions:
        block = _digest(model, text, counter)
        raw.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    values = raw[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def embeddings_payload(request: dict[str, Any], model: str) -> dict[str, Any] | str:
    """The ``/embeddings`` answer, or why the request is bad."""
    inputs = request.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
        return "'input' must be a string or a non-empty list of strings"
    dimensions = request.get("dimensions") or EMBEDDING_DIMENSIONS
    if not isinstance(dimensions, int) or dimensions < 1:
        return "'dimensions' must be a positive integer"
    as_base64 = request.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(inputs):
        vector = embedding(model, text, dimensions)
        value: Any = vector
        if as_base64:
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = sum(len(t) // 4 + 1 for t in inputs)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def tiny_png(*seed: Any) -> bytes:
    """A valid 2x2 RGB PNG whose color comes from `seed`."""
    red, green, blue = _digest(*seed)[:3]
    row = b"\x00" + bytes([red, green, blue]) * 2
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    idat = zlib.compress(row * 2)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def images_payload(request: dict[str, Any], model: str, created: int) -> dict[str, Any] | str:
    """The ``/images/generations`` answer, or why the request is bad."""
    prompt = request.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return "'prompt' is required"
    count = request.get("n") or 1
    if not isinstance(count, int) or not 1 <= count <= 10:
        return "'n' must be an integer from 1 to 10"
    data = [
        {"b64_json": base64.b64encode(tiny_png(model, prompt, i)).decode()} for i in range(count)
    ]
    tokens = len(prompt) // 4 + 1  # usage as OpenAI's image models report it
    usage = {"input_tokens": tokens, "output_tokens": count, "total_tokens": tokens + count}
    return {"created": created, "data": data, "usage": usage}


def is_image_chat(model: str, request: dict[str, Any]) -> bool:
    """Whether a chat request goes to an image model (answered with an image)."""
    modalities = request.get("modalities")
    if isinstance(modalities, list) and "image" in modalities:
        return True
    return any(mark in model.lower() for mark in _IMAGE_MODEL_MARKS)


def image_message(model: str, messages: list[Any]) -> dict[str, Any]:
    """An assistant message holding one PNG, in ``images`` as a data URL."""
    data = base64.b64encode(tiny_png(model, messages)).decode()
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
    return {"role": "assistant", "content": "", "refusal": None, "images": [image]}


def reasoning_for(model: str, content: str) -> str | None:
    """The reasoning a "reasoning" model (by name) gives with `content`, else None."""
    if not any(mark in model.lower() for mark in _REASONING_MARKS):
        return None
    return f"Mock reasoning {_digest(model, content).hex()[:8]}: first think, then answer."


def media_parts(messages: list[Any]) -> dict[str, int]:
    """How many content parts of each type but text (``image_url``, ``input_audio``,
    ``audio_url``, ``video_url``, ...) the messages hold."""
    counts: dict[str, int] = {}
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            kind = part.get("type") if isinstance(part, dict) else None
            if isinstance(kind, str) and kind != "text":
                counts[kind] = counts.get(kind, 0) + 1
    return counts
