"""Cells of the columns that call a model: LLM columns (`LLMCell`), embedding and image
columns, and :func:`model_cell`, which picks the one for a column."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dd_prefect.config.column_base import ColumnConfigBase
from dd_prefect.config.llm_columns import LLMTextColumnConfig
from dd_prefect.config.model_columns import EmbeddingColumnConfig, ImageColumnConfig
from dd_prefect.engine.cells import LLMCell
from dd_prefect.engine.llm import ModelRegistry, failure_kind
from dd_prefect.engine.media import context_parts, context_values, is_diffusion_model
from dd_prefect.engine.templating import render
from dd_prefect.errors import CellError, GenerationError


class EmbeddingCell:
    """Embeds the text(s) of a row's target column: ``{"embeddings", "num_embeddings",
    "dimension"}``, as Data Designer stores them."""

    def __init__(self, column: EmbeddingColumnConfig, models: ModelRegistry) -> None:
        self.column = column
        self.handle = models.handle(column.model_alias)

    async def __call__(self, row: dict[str, Any]) -> Any:
        name = self.column.name
        texts = [
            v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for v in context_values(row.get(self.column.target_column))
        ]
        if not texts:
            raise CellError("empty_input", f"column '{name}': no text to embed")
        vectors = await _called(name, self.handle.embed(texts))
        return {
            "embeddings": vectors,
            "num_embeddings": len(vectors),
            "dimension": len(vectors[0]) if vectors else 0,
        }


class ImageCell:
    """Generates a row's images: a list of their base64 data (files are written with the
    row group's output: :func:`~dd_prefect.engine.media.save_images`)."""

    def __init__(
        self, column: ImageColumnConfig, models: ModelRegistry, base_dirs: Sequence[Path] = ()
    ) -> None:
        self.column = column
        self.handle = models.handle(column.model_alias)
        self.base_dirs = base_dirs
        # Diffusion models get the prompt only (Data Designer ignores the context for them).
        diffusion = is_diffusion_model(self.handle.config.model)
        self.contexts = [] if diffusion else list(column.multi_modal_context or [])

    async def __call__(self, row: dict[str, Any]) -> Any:
        name = self.column.name
        prompt = render(self.column.prompt, row, column=name)
        if not prompt.strip():
            raise CellError("empty_prompt", f"column '{name}': the rendered prompt is empty")
        try:
            parts = context_parts(self.contexts, row, self.base_dirs)
        except ValueError as exc:
            raise CellError("multi_modal_context", f"column '{name}': {exc}") from None
        return await _called(name, self.handle.generate_image(prompt, parts))


async def _called(column: str, call: Any) -> Any:
    """Await a model call; a failure becomes a CellError naming the column (a
    GenerationError, which stops the run, stays one)."""
    try:
        return await call
    except CellError as exc:
        raise CellError(exc.kind, f"column '{column}': {exc}") from None
    except GenerationError:
        raise
    except Exception as exc:
        kind = failure_kind(exc)
        raise CellError(kind, f"column '{column}': {kind}: {exc}") from None


ModelCell = LLMCell | EmbeddingCell | ImageCell


def model_cell(
    column: ColumnConfigBase, models: ModelRegistry, restarts: int, base_dirs: Sequence[Path] = ()
) -> ModelCell:
    """The cell generator of a column whose `is_llm` is true (`base_dirs`: where relative
    image paths of its image context are looked up)."""
    if isinstance(column, EmbeddingColumnConfig):
        return EmbeddingCell(column, models)
    if isinstance(column, ImageColumnConfig):
        return ImageCell(column, models, base_dirs)
    assert isinstance(column, LLMTextColumnConfig)
    return LLMCell(column, models, restarts, base_dirs)
