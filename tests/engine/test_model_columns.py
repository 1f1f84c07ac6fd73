"""Embedding and image columns, image context in prompts and reasoning content, generated
through the real openai client against the in-process mock."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pandas as pd
import pytest

import dd_prefect.config as dd
from dd_prefect.config.modality import ImageContext
from dd_prefect.config.model_columns import EmbeddingColumnConfig, ImageColumnConfig
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.llm import ModelRegistry, RetryPolicy
from dd_prefect.engine.parquet_io import read_parquet
from dd_prefect.testing.mock_llm import MockLLMApp, in_process_client
from dd_prefect.testing.mock_llm.media import tiny_png

PNG = base64.b64encode(tiny_png("seed image")).decode()

MODELS = [
    dd.ModelConfig(alias="chat", model="mock-model"),
    dd.ModelConfig(alias="thinker", model="mock-reasoning"),
    dd.ModelConfig(alias="embed", model="mock-embed", inference_parameters={"dimensions": 6}),
    dd.ModelConfig(
        alias="dalle", model="dall-e-3", inference_parameters={"generation_type": "image"}
    ),
    dd.ModelConfig(
        alias="editor",
        model="mock-image-editor",
        inference_parameters={"generation_type": "image", "extra_body": {"size": "2x2"}},
    ),
]


@pytest.fixture
async def run() -> AsyncIterator[Callable[..., object]]:
    """run(builder, rows, output_dir=None) -> (frame, result, mock app)."""
    registries: list[ModelRegistry] = []

    async def go(
        builder: dd.DataDesignerConfigBuilder, rows: int, output_dir: Path | None = None
    ) -> tuple[pd.DataFrame, object, MockLLMApp]:
        app = MockLLMApp()
        registry = ModelRegistry(
            [dd.ModelProvider(name="mock")],
            MODELS,
            retry=RetryPolicy(max_retries=1, initial_wait=0.01),
            http_clients={"mock": in_process_client(app=app)},
        )
        registries.append(registry)
        generator = DatasetGenerator(builder.build(), dd.RunConfig(), registry)
        result = await generator.generate(0, 0, rows, output_dir)
        return result.frame, result, app

    yield go
    for registry in registries:
        await registry.aclose()


def _builder(seed: pd.DataFrame | None = None) -> dd.DataDesignerConfigBuilder:
    builder = dd.DataDesignerConfigBuilder(model_configs=MODELS)
    if seed is not None:
        builder.with_seed_dataset(dd.DataFrameSeedSource(df=seed))
    return builder


async def test_embedding_column_holds_one_vector_per_text(run, tmp_path: Path) -> None:
    builder = _builder(pd.DataFrame({"text": ["a cat", '["one", "two"]']}))
    builder.add_column(EmbeddingColumnConfig(name="vec", target_column="text", model_alias="embed"))
    frame, result, app = await run(builder, 2, tmp_path)
    first, second = frame["vec"]
    assert first["num_embeddings"] == 1 and first["dimension"] == 6
    assert len(first["embeddings"][0]) == 6
    assert second["num_embeddings"] == 2  # a JSON list of texts: one vector each
    assert app.stats()["by_route"] == {"embeddings": 2}
    back = read_parquet([tmp_path / result.files["main"]])
    assert back["vec"].tolist() == frame["vec"].tolist()


async def test_image_column_keeps_base64_without_output_and_writes_files_with_one(
    run, tmp_path: Path
) -> None:
    builder = _builder()
    builder.add_column(
        dd.SamplerColumnConfig(
            name="animal", sampler_type="category", params={"values": ["cat", "dog"]}
        )
    )
    builder.add_column(
        ImageColumnConfig(name="portrait", prompt="A {{ animal }}", model_alias="dalle")
    )
    frame, _, app = await run(builder, 3)  # a preview: base64 in the column
    assert all(base64.b64decode(images[0]).startswith(b"\x89PNG") for images in frame["portrait"])
    assert app.stats()["by_route"] == {"images": 3}

    frame, result, _ = await run(builder, 3, tmp_path)
    assert frame["portrait"].tolist() == [[f"images/portrait/{i}.png"] for i in range(3)]
    for paths in frame["portrait"]:
        assert (tmp_path / paths[0]).read_bytes().startswith(b"\x89PNG")
    assert not list((tmp_path / "images" / "portrait").glob(".*"))  # no temp file left
    back = read_parquet([tmp_path / result.files["main"]])
    assert back["portrait"].tolist() == frame["portrait"].tolist()


async def test_an_image_model_over_chat_gets_the_images_it_edits(run) -> None:
    builder = _builder()
    builder.add_column(ImageColumnConfig(name="photo", prompt="a fox", model_alias="dalle"))
    builder.add_column(
        ImageColumnConfig(
            name="edited",
            prompt="Add a hat",
            model_alias="editor",
            multi_modal_context=[ImageContext(column_name="photo")],
        )
    )
    frame, _, app = await run(builder, 2)
    stats = app.stats()
    assert stats["by_route"] == {"images": 2, "chat": 2}
    assert stats["image_parts"] == 2  # each edit saw its row's photo
    assert all(base64.b64decode(e[0]).startswith(b"\x89PNG") for e in frame["edited"])


async def test_image_context_from_base64_url_and_file_paths(run, tmp_path: Path) -> None:
    image_file = tmp_path / "seed.png"
    image_file.write_bytes(base64.b64decode(PNG))
    seed = pd.DataFrame(
        {
            "picture": [
                PNG,
                f"data:image/png;base64,{PNG}",
                "https://example.com/cat.png",
                str(image_file),
                json.dumps([PNG, PNG]),
            ]
        }
    )
    builder = _builder(seed)
    builder.add_column(
        dd.LLMTextColumnConfig(
            name="caption",
            prompt="Describe the picture",
            model_alias="chat",
            multi_modal_context=[ImageContext(column_name="picture")],
        )
    )
    frame, result, app = await run(builder, 5)
    assert result.errors == {}
    assert app.stats()["image_parts"] == 6
    assert frame["caption"].str.startswith("Mock answer").all()


async def test_a_value_that_is_no_image_fails_its_cell_naming_the_context(run) -> None:
    builder = _builder(pd.DataFrame({"picture": [PNG, "missing.png"]}))
    builder.add_column(
        dd.LLMTextColumnConfig(
            name="caption",
            prompt="Describe",
            model_alias="chat",
            multi_modal_context=[ImageContext(column_name="picture", image_format="png")],
        )
    )
    _, result, app = await run(builder, 2)
    assert result.errors == {"multi_modal_context": 1}
    assert "image context 'picture'" in result.error_samples[0]
    assert "'missing.png'" in result.error_samples[0]
    assert app.stats()["requests"] == 1  # the bad row never reached the model


async def test_extract_reasoning_content_fills_its_column(run, tmp_path: Path) -> None:
    builder = _builder()
    builder.add_column(
        dd.LLMTextColumnConfig(
            name="answer", prompt="Why?", model_alias="thinker", extract_reasoning_content=True
        )
    )
    builder.add_column(
        dd.LLMTextColumnConfig(
            name="plain", prompt="Why not?", model_alias="chat", extract_reasoning_content=True
        )
    )
    frame, result, _ = await run(builder, 2, tmp_path)
    assert frame["answer__reasoning_content"].str.startswith("Mock reasoning").all()
    assert frame["plain__reasoning_content"].tolist() == [None, None]
    back = read_parquet([tmp_path / result.files["main"]])
    assert back["answer__reasoning_content"].tolist() == frame["answer__reasoning_content"].tolist()


async def test_relative_image_paths_of_a_dataset_seed_resolve_beside_its_parquet(
    run, tmp_path: Path
) -> None:
    # A dataset written by dd_prefect (a stage's output) seeds the next one: its image
    # column holds paths relative to that dataset's directory.
    dataset = tmp_path / "stage-1"
    (dataset / "images" / "photo").mkdir(parents=True)
    (dataset / "images" / "photo" / "0.png").write_bytes(base64.b64decode(PNG))
    (dataset / "parquet-files").mkdir()
    pd.DataFrame({"photo": [["images/photo/0.png"]]}).to_parquet(
        dataset / "parquet-files" / "batch_00000.parquet"
    )
    builder = _builder()
    builder.with_seed_dataset(
        dd.LocalFileSeedSource(path=str(dataset / "parquet-files" / "*.parquet"))
    )
    builder.add_column(
        dd.LLMTextColumnConfig(
            name="caption",
            prompt="Describe",
            model_alias="chat",
            multi_modal_context=[ImageContext(column_name="photo")],
        )
    )
    _, result, app = await run(builder, 1)
    assert result.errors == {}, result.error_samples
    assert app.stats()["image_parts"] == 1


async def test_audio_and_video_context_reach_the_model(run) -> None:
    seed = pd.DataFrame({"clip": ["SUQzBA==", "SUQzBA=="], "film": ["https://x.org/a.mp4", None]})
    builder = _builder(seed)
    builder.add_column(
        dd.LLMTextColumnConfig(
            name="summary",
            prompt="Summarize",
            model_alias="chat",
            multi_modal_context=[
                dd.AudioContext(column_name="clip", audio_format="mp3"),
                dd.VideoContext(column_name="film"),
            ],
        )
    )
    _, result, app = await run(builder, 2)
    assert result.errors == {}, result.error_samples
    assert app.stats()["media_parts"] == {"input_audio": 2, "video_url": 1}


async def test_usage_counts_embedding_and_image_tokens() -> None:
    app = MockLLMApp()
    async with ModelRegistry(
        [dd.ModelProvider(name="mock")], MODELS, http_clients={"mock": in_process_client(app=app)}
    ) as registry:
        await registry.handle("embed").embed(["a fox in the snow"])
        await registry.handle("dalle").generate_image("a fox in the snow", [])
        embed, image = registry.usage["mock/mock-embed"], registry.usage["mock/dall-e-3"]
    tokens = len("a fox in the snow") // 4 + 1
    assert (embed.requests, embed.prompt_tokens) == (1, tokens)
    assert (image.requests, image.prompt_tokens, image.completion_tokens) == (1, tokens, 1)
