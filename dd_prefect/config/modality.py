"""Multi-modal context of a prompt: images from a column, sent with the prompt's text.

Names and fields follow Data Designer (``ImageContext(column_name=..., data_type=...,
image_format=...)``). A context dict without ``modality`` is an image context, as Data
Designer reads its older configs. Only images are supported: audio and video contexts are
refused with a message saying so.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator


class Modality(StrEnum):
    """Kinds of multi-modal context (only ``image`` is supported here)."""

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


class ImageContext(BaseModel):
    """Images from column `column_name`, sent before the prompt's text as image parts.

    A cell may hold one value, a list of them or a JSON list. `data_type`: ``url`` sends
    values as they are, ``base64`` sends them as base64 data of `image_format` (required
    then); None detects each value: an http(s) URL is sent as is, a file path that exists
    (absolute, or relative to the working directory or the seed dataset's directory) is read
    and sent as base64, anything else is taken as base64 data (format from its bytes).
    """

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    modality: Literal["image"] = "image"
    column_name: str
    data_type: ModalityDataType | None = None
    image_format: ImageFormat | None = None

    @model_validator(mode="before")
    @classmethod
    def _only_images(cls, data: Any) -> Any:
        if isinstance(data, dict):
            modality = data.get("modality")
            if modality is not None and modality != "image":
                raise ValueError(
                    f"multi_modal_context of modality {modality!r} is not supported "
                    "(only image contexts are)"
                )
        return data

    @model_validator(mode="after")
    def _format_for_base64(self) -> ImageContext:
        if self.data_type == ModalityDataType.BASE64 and self.image_format is None:
            raise ValueError("image_format is required when data_type is 'base64'")
        return self


def context_columns(contexts: list[ImageContext] | None) -> set[str]:
    """The columns a list of multi-modal contexts reads."""
    return {context.column_name for context in contexts or []}
