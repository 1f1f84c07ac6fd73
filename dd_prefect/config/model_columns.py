"""Columns from embedding and image models: ``embedding`` and ``image`` (Data Designer's).

An embedding cell holds ``{"embeddings": [[float, ...], ...], "num_embeddings": n,
"dimension": d}``: one vector per text of `target_column` (a text, a list of texts or a JSON
list of them). An image cell holds a list of images: in a preview their base64 data, in a
created dataset the paths of their files relative to the dataset's directory
(``images/<column>/...``), as Data Designer stores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from dd_prefect.config.column_base import ColumnConfigBase
from dd_prefect.config.modality import MultiModalContext, context_columns
from dd_prefect.config.models import GenerationType, ModelConfig


class EmbeddingColumnConfig(ColumnConfigBase):
    """Embeddings of `target_column`'s text(s) from the embedding model `model_alias`."""

    column_type: Literal["embedding"] = "embedding"
    target_column: str
    model_alias: str

    def required_columns(self) -> set[str]:
        return {self.target_column}

    @property
    def is_llm(self) -> bool:
        return True


class ImageColumnConfig(ColumnConfigBase):
    """Images from the image model `model_alias`; `prompt` is a Jinja template over the row.

    `multi_modal_context` sends images (or audio, video) of other columns with the prompt
    (to a model answered through chat completions; diffusion models get the prompt only, as
    in Data Designer).
    """

    column_type: Literal["image"] = "image"
    prompt: str
    model_alias: str
    multi_modal_context: list[MultiModalContext] | None = None

    def templates(self) -> dict[str, str]:
        return {"prompt": self.prompt}

    def required_columns(self) -> set[str]:
        return super().required_columns() | context_columns(self.multi_modal_context)

    @property
    def is_llm(self) -> bool:
        return True


def needed_generation_type(column: ColumnConfigBase) -> GenerationType:
    """The kind of model a column's `model_alias` must name."""
    if isinstance(column, EmbeddingColumnConfig):
        return GenerationType.EMBEDDING
    if isinstance(column, ImageColumnConfig):
        return GenerationType.IMAGE
    return GenerationType.CHAT_COMPLETION


def model_alias_problem(column: ColumnConfigBase, models: Mapping[str, ModelConfig]) -> str | None:
    """What is wrong with the model a column names (by alias): unknown, or of a kind (chat,
    embedding, image) the column cannot use; None when nothing is."""
    alias = getattr(column, "model_alias", None)
    if alias is None:
        return None
    if alias not in models:
        known = ", ".join(sorted(models)) or "none defined"
        return f"unknown model alias '{alias}' (known: {known})"
    needed, kind = needed_generation_type(column), models[alias].generation_type
    if kind != needed:
        return (
            f"model alias '{alias}' names a {kind.value} model; this column needs a "
            f"{needed.value} model (inference_parameters.generation_type)"
        )
    return None
