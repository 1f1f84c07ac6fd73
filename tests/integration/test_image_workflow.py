"""Images across a workflow on a real Prefect server and the mock LLM server: a stage
generates images (files beside its parquet, paths in its column), the next stage sends
them to a vision model as image context and keeps the answer's reasoning."""

from __future__ import annotations

import pytest

import dd_prefect.config as dd
from tests.integration.workflow_callbacks import make_designer

pytestmark = pytest.mark.integration


def pictures() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(
        model_configs=[
            dd.ModelConfig(
                alias="painter",
                model="dall-e-3",
                provider="mock",
                inference_parameters=dd.ImageInferenceParams(),
            )
        ]
    )
    b.add_column(
        dd.SamplerColumnConfig(
            name="animal", sampler_type="category", params={"values": ["cat", "dog", "fox"]}
        )
    )
    b.add_column(
        dd.ImageColumnConfig(name="picture", prompt="A {{ animal }}", model_alias="painter")
    )
    return b


def captions() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(
        model_configs=[
            dd.ModelConfig(alias="vision", model="mock-reasoning-vl", provider="mock"),
            dd.ModelConfig(
                alias="embed",
                model="mock-embed",
                provider="mock",
                inference_parameters=dd.EmbeddingInferenceParams(dimensions=3),
            ),
        ]
    )
    b.add_column(
        dd.LLMTextColumnConfig(
            name="caption",
            prompt="Caption this {{ animal }}.",
            model_alias="vision",
            multi_modal_context=[dd.ImageContext(column_name="picture")],
            extract_reasoning_content=True,
        )
    )
    b.add_column(
        dd.EmbeddingColumnConfig(name="caption_vec", target_column="caption", model_alias="embed")
    )
    return b


async def test_generated_images_feed_the_next_stage(prefect_server, mock_llm, tmp_path):
    designer = make_designer(tmp_path / "artifacts", mock_llm.url)
    workflow = (
        designer.compose_workflow("images")
        .add_stage("pictures", pictures(), num_records=4)
        .add_stage("captions", captions())
    )
    results = await workflow.arun()

    first = results.load_stage_output("pictures")
    stage_dirs = sorted((tmp_path / "artifacts" / "images").glob("stage-*-pictures"))
    assert len(stage_dirs) == 1
    for paths in first["picture"]:
        assert len(paths) == 1 and paths[0].startswith("images/picture/")
        assert (stage_dirs[0] / paths[0]).read_bytes().startswith(b"\x89PNG")

    final = results.load_dataset()
    assert len(final) == 4
    assert final["caption"].str.startswith("Mock answer").all()
    assert final["caption__reasoning_content"].str.startswith("Mock reasoning").all()
    assert all(len(v["embeddings"][0]) == 3 for v in final["caption_vec"])
    stats = mock_llm.stats()
    assert stats["by_route"] == {"images": 4, "chat": 4, "embeddings": 4}
    assert stats["image_parts"] == 4  # each caption saw its row's picture
