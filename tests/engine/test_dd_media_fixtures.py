"""Data Designer's own configs with image and embedding models and image context (exported
from its notebooks and recipes) generate through the in-process mock: images written as
files beside the parquet, embeddings stored, image parts sent."""

from __future__ import annotations

from pathlib import Path

import pytest

import dd_prefect.config as dd
from dd_prefect.config.model_columns import EmbeddingColumnConfig, ImageColumnConfig
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.testing.mock_llm import MockLLMApp, in_process_client

CONFIGS = Path(__file__).parents[1] / "fixtures" / "data_designer" / "configs"


@pytest.mark.parametrize(
    "name",
    [
        "nb5_generating_images",
        "nb6_editing_images",
        "img_funny_pet_image_edits",
        "img_traffic_scenarios",
        "nb4_images_as_context",
        "docs_embeddings",
        "vlm_04_page_classification",
    ],
)
async def test_fixture_generates_through_the_mock(name: str, tmp_path: Path) -> None:
    config = dd.DataDesignerConfig.from_file(CONFIGS / f"{name}.yaml")
    app = MockLLMApp()
    names = {m.provider or "default" for m in config.model_configs}
    clients = {n: in_process_client(app=app) for n in names}
    registry = ModelRegistry(
        [dd.ModelProvider(name=n) for n in names], config.model_configs, http_clients=clients
    )
    try:
        generator = DatasetGenerator(config, dd.RunConfig(), registry)
        result = await generator.generate(0, 0, 2, tmp_path)
    finally:
        await registry.aclose()
    assert result.errors == {}, result.error_samples
    assert result.num_rows == 2
    frame = result.frame
    for column in config.columns:
        if column.drop:
            continue
        if isinstance(column, ImageColumnConfig):
            for paths in frame[column.name]:
                assert paths and (tmp_path / paths[0]).read_bytes().startswith(b"\x89PNG")
        if isinstance(column, EmbeddingColumnConfig):
            assert all(cell["num_embeddings"] >= 1 for cell in frame[column.name])
    stats = app.stats()
    if any(getattr(c, "multi_modal_context", None) for c in config.columns):
        assert stats["image_parts"] >= 2
    assert stats["by_status"]["200"] == stats["requests"]
