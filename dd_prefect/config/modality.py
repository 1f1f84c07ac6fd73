"""Multi-modal context of a prompt: images, audio or video from a column, sent with the
prompt's text.

Names and fields follow Data Designer (``ImageContext(column_name=..., data_type=...,
image_format=...)``, ``AudioContext``, ``VideoContext``), told apart by ``modality``. A
context dict without ``modality`` is an image context, as Data Designer reads its older
configs (unless it has ``audio_format`` or ``video_format``).
"""

from __future__ import annotations

from collections.abc import Hashable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, model_validator


class Modality(StrEnum):
    """Kinds of multi-modal context."""

    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"


class ModalityDataType(StrEnum):
    """How a context column holds its media: URLs or base64 data."""

    URL = "url"
    BASE64 = "base64"


class ImageFormat(StrEnum):
    """Image formats an image context or an image column may hold."""

    PNG = "png"
    JPG = "jpg"
    JPEG = "jpeg"
    GIF = "gif"
    WEBP = "webp"


class AudioFormat(StrEnum):
    """Audio formats of base64 audio context."""

    MP3 = "mp3"
    WAV = "wav"


class VideoFormat(StrEnum):
    """Video formats of base64 video context."""

    MP4 = "mp4"
    MOV = "mov"
    WEBM = "webm"


class ModalityContext(BaseModel):
    """Fields of every context: the column holding the media and how it holds them.

    A cell may hold one value, a list of them or a JSON list.
    """

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    column_name: str
    data_type: ModalityDataType | None = None

    def _format_for_base64(self, field: str) -> None:
        if self.data_type == ModalityDataType.BASE64 and getattr(self, field) is None:
            raise ValueError(f"{field} is required when data_type is 'base64'")


class ImageContext(ModalityContext):
    """Images from column `column_name`, sent before the prompt's text as image parts.

    `data_type`: ``url`` sends values as they are, ``base64`` sends them as base64 data of
    `image_format` (required then); None detects each value: an http(s) URL is sent as is, a
    file path that exists (absolute, or relative to the working directory or the seed
    dataset's directory) is read and sent as base64, anything else is taken as base64 data
    (format from its bytes).
    """

    modality: Literal["image"] = "image"
    image_format: ImageFormat | None = None

    @model_validator(mode="after")
    def _needs_format(self) -> ImageContext:
        self._format_for_base64("image_format")
        return self


class AudioContext(ModalityContext):
    """Audio from column `column_name`: an http(s) URL (or, with ``data_type="url"``, a
    local path the model's server can read) is sent as an ``audio_url`` part, base64 data
    (of `audio_format`, or a data URL) as an ``input_audio`` part, as Data Designer does."""

    modality: Literal["audio"] = "audio"
    audio_format: AudioFormat | None = None

    @model_validator(mode="after")
    def _needs_format(self) -> AudioContext:
        self._format_for_base64("audio_format")
        return self


class VideoContext(ModalityContext):
    """Video from column `column_name`: an http(s) URL (or, with ``data_type="url"``, a
    local path the model's server can read) or base64 data (of `video_format`, or a data
    URL) is sent as a ``video_url`` part, as Data Designer does."""

    modality: Literal["video"] = "video"
    video_format: VideoFormat | None = None

    @model_validator(mode="after")
    def _needs_format(self) -> VideoContext:
        self._format_for_base64("video_format")
        return self


def _modality(value: Any) -> Hashable:
    """The union's tag: `modality`, ``image`` for a dict without one (Data Designer's
    older image contexts) unless it carries another modality's format."""
    if not isinstance(value, dict):
        return getattr(value, "modality", None)
    if "modality" in value:
        return str(value["modality"])
    if "audio_format" in value or "video_format" in value:
        return None
    return "image"


MultiModalContext = Annotated[
    Annotated[ImageContext, Tag("image")]
    | Annotated[AudioContext, Tag("audio")]
    | Annotated[VideoContext, Tag("video")],
    Discriminator(
        _modality,
        custom_error_type="modality",
        custom_error_message="a multi_modal_context entry needs modality image, audio or video",
    ),
]
"""One multi-modal context, told apart by its `modality`."""


def context_columns(contexts: list[MultiModalContext] | None) -> set[str]:
    """The columns a list of multi-modal contexts reads."""
    return {context.column_name for context in contexts or []}
