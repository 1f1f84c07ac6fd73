"""Media on the wire: multi-modal context parts of a prompt, images and vectors in a
model's answer, and image files.

Follows Data Designer's rules: an image context value is a URL (sent as is), a file path
(read and sent as a base64 data URL) or base64 data; audio and video are URLs or base64
data (see :func:`context_parts`); an image answer holds base64 data, a data URL or
an http(s) URL, in ``data[*].b64_json`` (images API) or in the chat message's ``images`` list
(else its text).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dd_prefect.config.modality import (
    AudioContext,
    ImageContext,
    ModalityDataType,
    MultiModalContext,
)
from dd_prefect.config.seeds import LocalFileSeedSource, SeedConfig

IMAGES_DIR = "images"
"""Where a dataset's generated images are written, beside its parquet files."""

_DIFFUSION_MODELS = ("dall-e-", "dalle", "stable-diffusion", "sd-", "sd_", "imagen", "gpt-image-")
_DATA_URL = re.compile(r"data:(?P<type>[^;,]+);base64,(?P<data>.+)", re.DOTALL)
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+")
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF8", "gif"))
_FORMAT_BY_TYPE = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "gif": "gif", "webp": "webp"}
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_AUDIO_SUFFIXES = (".mp3", ".wav")
_VIDEO_SUFFIXES = (".mp4", ".mov", ".webm")
_AUDIO_TYPES = {
    **{t: "mp3" for t in ("audio/mpeg", "audio/mp3")},
    **{t: "wav" for t in ("audio/wav", "audio/wave", "audio/x-wav", "audio/vnd.wave")},
}
_VIDEO_TYPES = {"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm"}


def is_diffusion_model(model: str) -> bool:
    """Whether Data Designer sends `model`'s image requests to the images API (else to chat)."""
    return any(pattern in model.lower() for pattern in _DIFFUSION_MODELS)


def embedding_vector(raw: Any) -> list[float]:
    """An embedding as floats: a list as is, base64 text as little-endian float32s."""
    if isinstance(raw, str):
        data = base64.b64decode(raw)
        return [float(v) for v in struct.unpack(f"<{len(data) // 4}f", data)]
    return [float(v) for v in raw]


def images_in_message(message: Any) -> list[Any]:
    """The raw images of a chat answer: its ``images`` list, else its text content."""
    extra = getattr(message, "model_extra", None) or {}
    images = extra.get("images", getattr(message, "images", None))
    if isinstance(images, list) and images:
        return images
    content = getattr(message, "content", None)
    return [content] if isinstance(content, str) else []


def image_payload(raw: Any) -> str | None:
    """Base64 data (or an http(s) URL to fetch) of one raw image of an answer; None if it
    holds none."""
    if isinstance(raw, dict):
        for key in ("b64_json", "image_url", "url"):
            if raw.get(key):
                return image_payload(raw[key])
        return None
    if not isinstance(raw, str):
        return None
    value = raw.strip()
    match = _DATA_URL.fullmatch(value)
    if match is not None:
        return match.group("data")
    if value.startswith(("http://", "https://")):
        return value
    try:
        image_format(decode_base64(value))
    except ValueError:
        return None
    return value


def decode_base64(data: str) -> bytes:
    """Bytes of base64 `data` (a data URL's payload too); ValueError if it is not base64."""
    match = _DATA_URL.fullmatch(data.strip())
    text = match.group("data") if match else data
    if not _BASE64.fullmatch(text):
        raise ValueError("not base64 data")
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        raise ValueError("not base64 data") from None


def image_format(data: bytes) -> str:
    """``png``, ``jpg``, ``gif`` or ``webp`` from an image's first bytes; ValueError if none."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    raise ValueError(f"not a png, jpeg, gif or webp image (starts {data[:8]!r})")


def context_values(raw: Any) -> list[Any]:
    """A context cell's values: one value, a list (or array) of them, or a JSON list."""
    if raw is None:
        return []
    if isinstance(raw, str):
        if raw.lstrip().startswith("["):
            try:
                parsed = json.loads(raw)
            except ValueError:
                return [raw]
            if isinstance(parsed, list):
                return parsed
        return [raw]
    if isinstance(raw, list | tuple):
        return list(raw)
    if hasattr(raw, "tolist"):  # a numpy array read from parquet
        values = raw.tolist()
        return values if isinstance(values, list) else [values]
    return [raw]


def image_base_dirs(seed_config: SeedConfig | None) -> list[Path]:
    """Where relative image paths of a seed are looked up: the directory of a local seed's
    files and its three parents (a dataset written by dd_prefect keeps its parquet files in
    ``<dataset>/parquet-files/`` or ``<dataset>/processors-files/<name>/`` and its images
    in ``<dataset>/images/``)."""
    source = seed_config.source if seed_config is not None else None
    if not isinstance(source, LocalFileSeedSource):
        return []
    path = Path(source.path).expanduser()
    while any(ch in path.name for ch in "*?[") or path.suffix:
        path = path.parent
    return [path, *list(path.parents)[:3]]


def context_parts(
    contexts: Sequence[MultiModalContext], row: dict[str, Any], base_dirs: Sequence[Path] = ()
) -> list[dict[str, Any]]:
    """OpenAI content parts for the multi-modal contexts of one row, as Data Designer sends
    them: ``image_url`` for images, ``audio_url`` or ``input_audio`` for audio, ``video_url``
    for video.

    A relative image path is looked up under each of `base_dirs`, then the working
    directory. ValueError (naming the context column) for a value the context can't send.
    """
    parts = []
    for context in contexts:
        for value in context_values(row.get(context.column_name)):
            try:
                parts.append(_part(context, value, base_dirs))
            except ValueError as exc:
                where = f"{context.modality} context '{context.column_name}'"
                raise ValueError(f"{where}: {exc}") from None
    return parts


def _part(context: MultiModalContext, value: Any, base_dirs: Sequence[Path]) -> dict[str, Any]:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a URL, a file path or base64 data, got {value!r:.60}")
    if isinstance(context, ImageContext):
        return {"type": "image_url", "image_url": {"url": _image_url(context, value, base_dirs)}}
    kind = context.modality
    wanted = context.audio_format if isinstance(context, AudioContext) else context.video_format
    types, suffixes = (
        (_AUDIO_TYPES, _AUDIO_SUFFIXES) if kind == "audio" else (_VIDEO_TYPES, _VIDEO_SUFFIXES)
    )
    is_url = value.startswith(("http://", "https://"))
    local = not is_url and value.lower().endswith(suffixes)
    if context.data_type == ModalityDataType.URL or (context.data_type is None and is_url):
        if not (is_url or local):
            raise ValueError(f"{kind} URLs must be http(s) URLs or local {kind} paths")
        return {"type": f"{kind}_url", f"{kind}_url": {"url": value}}
    match = _DATA_URL.fullmatch(value.strip())
    if match is not None:
        detected = types.get(match.group("type").lower())
        if detected is None:
            raise ValueError(f"unsupported {kind} media type {match.group('type')!r}")
        if wanted is not None and wanted != detected:
            raise ValueError(f"{kind}_format {wanted!r} does not match the data ({detected})")
        data, fmt = match.group("data"), detected
    elif local:
        raise ValueError(f"a local {kind} path needs data_type 'url' (else give base64 data)")
    elif wanted is None:
        raise ValueError(f"{kind}_format is required for base64 {kind} data")
    else:
        data, fmt = value.strip(), str(wanted)
    if kind == "audio":
        return {"type": "input_audio", "input_audio": {"data": data, "format": fmt}}
    mime = next(t for t, f in _VIDEO_TYPES.items() if f == fmt)
    return {"type": "video_url", "video_url": {"url": f"data:{mime};base64,{data}"}}


def _image_url(context: ImageContext, value: Any, base_dirs: Sequence[Path]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a URL, a file path or base64 data, got {value!r:.60}")
    if context.data_type == ModalityDataType.URL:
        return value
    if context.data_type is None:
        if value.startswith(("http://", "https://")):
            return value
        path = _image_file(value, base_dirs)
        if path is not None:
            data = path.read_bytes()
            return _data_url(base64.b64encode(data).decode(), image_format(data), context)
    match = _DATA_URL.fullmatch(value.strip())
    if match is not None:
        kind = _FORMAT_BY_TYPE.get(match.group("type").lower().removeprefix("image/"))
        if kind is None:
            raise ValueError(f"unsupported image media type {match.group('type')!r}")
        return _data_url(match.group("data"), kind, context)
    try:
        data = decode_base64(value)
        detected = str(context.image_format or image_format(data))
    except ValueError as exc:
        hint = " (or a file that does not exist)" if value.lower().endswith(_IMAGE_SUFFIXES) else ""
        raise ValueError(
            f"{value[:60]!r} is not a URL, an image file or base64 image data{hint}: {exc}"
        ) from None
    return _data_url(value.strip(), detected, context)


def _data_url(data: str, detected: str, context: ImageContext) -> str:
    """A data URL of `data` in format `detected`, which must be the context's image_format."""
    kind = _FORMAT_BY_TYPE[detected]
    if context.image_format is not None and _FORMAT_BY_TYPE[context.image_format] != kind:
        raise ValueError(f"image_format {context.image_format!r} does not match the data ({kind})")
    return f"data:image/{'jpeg' if kind == 'jpg' else kind};base64,{data}"


def _image_file(value: str, base_dirs: Sequence[Path]) -> Path | None:
    if not value.lower().endswith(_IMAGE_SUFFIXES) or "\n" in value:
        return None
    path = Path(value).expanduser()
    candidates = [path] if path.is_absolute() else [*(d / path for d in base_dirs), path]
    return next((p for p in candidates if p.is_file()), None)


def write_image(data: str, directory: Path, stem: str) -> str:
    """Write base64 image `data` to ``directory/<stem>.<format>`` atomically (a temp file
    renamed into place); returns the file name. ValueError if `data` is no image."""
    content = decode_base64(data)
    name = f"{stem}.{image_format(content)}"
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return name


def save_images(values: Sequence[Any], output_dir: Path, column: str, first_row: int) -> list[Any]:
    """Write an image column's cells (lists of base64 images) as files under
    ``images/<column>/`` of `output_dir`; the cells as lists of those files' paths relative
    to `output_dir`. Row ``first_row + i`` gets ``<row>.<format>`` (``<row>_<k>.<format>``
    for its k-th image after the first), so a rewritten row group replaces its files."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", column).lstrip(".") or "_"
    directory = output_dir / IMAGES_DIR / safe
    out: list[Any] = []
    for i, cell in enumerate(values):
        if not isinstance(cell, list):
            out.append(None)
            continue
        if all(isinstance(v, str) and v.startswith(f"{IMAGES_DIR}/") for v in cell):
            out.append(cell)  # written already (no image's base64 starts so)
            continue
        row = first_row + i
        names = [
            write_image(data, directory, f"{row}" if k == 0 else f"{row}_{k}")
            for k, data in enumerate(cell)
        ]
        out.append([f"{IMAGES_DIR}/{safe}/{name}" for name in names])
    return out
