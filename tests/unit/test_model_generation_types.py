"""Model configs by generation type (chat, embedding, image), their parameters, image
contexts, and the columns that use them: what loads, what is refused, and how."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import dd_prefect.config as dd
from dd_prefect.config.distributions import ManualDistribution, UniformDistribution
from dd_prefect.config.modality import ImageContext
from dd_prefect.config.model_columns import EmbeddingColumnConfig, ImageColumnConfig
from dd_prefect.config.models import (
    EmbeddingInferenceParams,
    GenerationType,
    ImageInferenceParams,
    ModelConfig,
    ModelProvider,
)
from dd_prefect.errors import ConfigValidationError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "data_designer" / "configs"


def test_generation_type_picks_the_parameters_class() -> None:
    chat = ModelConfig(alias="c", model="m")
    embed = ModelConfig(alias="e", model="m", inference_parameters={"generation_type": "embedding"})
    image = ModelConfig(alias="i", model="m", inference_parameters={"generation_type": "image"})
    assert chat.generation_type == GenerationType.CHAT_COMPLETION
    assert isinstance(embed.inference_parameters, EmbeddingInferenceParams)
    assert isinstance(image.inference_parameters, ImageInferenceParams)
    assert image.generation_type == "image"


def test_a_dict_without_generation_type_is_read_as_data_designer_reads_it() -> None:
    # Data Designer: encoding_format or dimensions mean embedding parameters.
    embed = ModelConfig(alias="e", model="m", inference_parameters={"dimensions": 64})
    assert embed.generation_type == GenerationType.EMBEDDING
    chat = ModelConfig(alias="c", model="m", inference_parameters={"temperature": 0.3})
    assert chat.generation_type == GenerationType.CHAT_COMPLETION


def test_chat_parameters_refuse_another_types_fields() -> None:
    with pytest.raises(ValidationError, match="temperature"):
        ModelConfig(
            alias="e",
            model="m",
            inference_parameters={"generation_type": "embedding", "temperature": 0.5},
        )


def test_model_config_round_trips_with_data_designer_fields() -> None:
    model = ModelConfig(
        alias="e",
        model="nvidia/embed",
        provider="nvidia",
        skip_health_check=True,
        inference_parameters=EmbeddingInferenceParams(encoding_format="float", dimensions=8),
    )
    dumped = model.model_dump(mode="json")
    assert dumped["inference_parameters"]["generation_type"] == "embedding"
    assert dumped["skip_health_check"] is True
    assert ModelConfig.model_validate(dumped) == model


def test_temperature_and_top_p_may_be_distributions_in_range() -> None:
    model = ModelConfig(
        alias="c",
        model="m",
        inference_parameters={
            "temperature": {"distribution_type": "uniform", "params": {"low": 0.5, "high": 0.9}},
            "top_p": {"distribution_type": "manual", "params": {"values": [0.9, 1.0]}},
        },
    )
    params = model.inference_parameters
    assert isinstance(params, dd.ChatCompletionInferenceParams)
    assert isinstance(params.temperature, UniformDistribution)
    assert isinstance(params.top_p, ManualDistribution)
    with pytest.raises(ValidationError, match="temperature must be between"):
        ModelConfig(
            alias="c",
            model="m",
            inference_parameters={
                "temperature": {"distribution_type": "uniform", "params": {"low": 1, "high": 3}}
            },
        )
    with pytest.raises(ValidationError, match="top_p must be between"):
        ModelConfig(alias="c", model="m", inference_parameters={"top_p": 1.5})


def test_provider_takes_data_designer_extras() -> None:
    provider = ModelProvider(
        name="p",
        endpoint="https://example.com/v1",
        provider_type="OpenAI",
        extra_body={"k": 1},
        extra_headers={"X-Team": "a"},
    )
    assert provider.provider_type == "openai"
    assert provider.extra_headers == {"X-Team": "a"}


def test_image_context_rules() -> None:
    legacy = ImageContext.model_validate({"column_name": "img"})  # no modality: an image
    assert legacy.modality == "image"
    with pytest.raises(ValidationError, match="image_format is required"):
        ImageContext(column_name="img", data_type="base64")
    with pytest.raises(ValidationError, match="Input should be 'image'"):
        ImageContext.model_validate({"column_name": "a", "modality": "audio"})


def test_context_columns_are_dependencies() -> None:
    text = dd.LLMTextColumnConfig(
        name="caption",
        prompt="Describe {{ topic }}",
        model_alias="vision",
        multi_modal_context=[{"column_name": "photo", "modality": "image"}],
    )
    image = ImageColumnConfig(
        name="edit",
        prompt="Edit it",
        model_alias="painter",
        multi_modal_context=[ImageContext(column_name="photo")],
    )
    assert text.required_columns() == {"topic", "photo"}
    assert image.required_columns() == {"photo"}
    assert EmbeddingColumnConfig(
        name="v", target_column="t", model_alias="e"
    ).required_columns() == {"t"}


def _builder() -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder(
        model_configs=[
            ModelConfig(alias="chat", model="m"),
            ModelConfig(alias="embed", model="e", inference_parameters={"dimensions": 4}),
            ModelConfig(
                alias="paint", model="i", inference_parameters={"generation_type": "image"}
            ),
        ]
    )


@pytest.mark.parametrize(
    ("column", "alias", "needed"),
    [
        (
            dd.LLMTextColumnConfig(name="c", prompt="hi", model_alias="embed"),
            "embed",
            "chat-completion",
        ),
        (
            EmbeddingColumnConfig(name="c", target_column="t", model_alias="chat"),
            "chat",
            "embedding",
        ),
        (ImageColumnConfig(name="c", prompt="a cat", model_alias="embed"), "embed", "image"),
    ],
)
def test_a_column_using_a_model_of_the_wrong_type_is_refused(
    column: dd.ColumnConfig, alias: str, needed: str
) -> None:
    builder = _builder()
    builder.add_column(dd.SamplerColumnConfig(name="t", sampler_type="uuid", params={}))
    builder.add_column(column)
    with pytest.raises(ConfigValidationError) as info:
        dd.validate_config(builder.build())
    message = str(info.value)
    assert "'c'" in message and f"model alias '{alias}'" in message and needed in message


@pytest.mark.parametrize(
    "name",
    [
        "docs_embeddings.yaml",
        "img_funny_pet_image_edits.yaml",
        "img_product_image_variations.yaml",
        "img_traffic_scenarios.yaml",
        "nb4_images_as_context.yaml",
        "nb5_generating_images.yaml",
        "nb6_editing_images.yaml",
        "vlm_05_visual_qa.yaml",
        "vlm_08_whole_document_qa.yaml",
    ],
)
def test_data_designer_configs_with_models_and_images_load(name: str) -> None:
    config = dd.DataDesignerConfig.from_file(FIXTURES / name)
    assert config.model_configs
    dd.validate_config(config, seed_columns=dd.SEED_PENDING)  # models fit their columns
    again = dd.DataDesignerConfig.from_dict(config.to_dict())
    assert again == config
    assert again.fingerprint() == config.fingerprint()


def test_skip_health_check_leaves_the_fingerprint_alone() -> None:
    def config(skip: bool) -> dd.DataDesignerConfig:
        builder = dd.DataDesignerConfigBuilder(
            model_configs=[ModelConfig(alias="chat", model="m", skip_health_check=skip)]
        )
        builder.add_column(dd.LLMTextColumnConfig(name="a", prompt="hi", model_alias="chat"))
        return builder.build()

    assert config(True).fingerprint() == config(False).fingerprint()
