"""The mock's embeddings, images, image parts and reasoning, through the real openai client."""

from __future__ import annotations

import base64

import openai
import pytest

from dd_prefect.testing.mock_llm import MockLLMApp, in_process_client


@pytest.fixture
async def mock() -> tuple[MockLLMApp, openai.AsyncOpenAI]:
    app = MockLLMApp()
    http = in_process_client(app=app)
    client = openai.AsyncOpenAI(
        base_url=str(http.base_url), api_key="k", http_client=http, max_retries=0
    )
    return app, client


async def test_embeddings_are_deterministic_unit_vectors(mock) -> None:
    app, client = mock
    first = await client.embeddings.create(
        model="e", input=["a", "b"], encoding_format="float", dimensions=5
    )
    again = await client.embeddings.create(
        model="e", input="a", encoding_format="float", dimensions=5
    )
    vectors = [d.embedding for d in first.data]
    assert len(vectors) == 2 and all(len(v) == 5 for v in vectors)
    assert again.data[0].embedding == vectors[0]
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-4
    packed = await client.embeddings.create(model="e", input="a", encoding_format="base64")
    assert isinstance(packed.data[0].embedding, str)  # float32s, as OpenAI sends them
    assert app.stats()["by_route"] == {"embeddings": 3}


async def test_images_api_returns_pngs(mock) -> None:
    _, client = mock
    answer = await client.images.generate(model="dall-e-3", prompt="a cat", n=2)
    images = [base64.b64decode(d.b64_json or "") for d in answer.data or []]
    assert len(images) == 2 and all(i.startswith(b"\x89PNG") for i in images)
    assert images[0] != images[1]


async def test_chat_counts_image_parts_and_image_models_answer_with_images(mock) -> None:
    app, client = mock
    part = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    text = await client.chat.completions.create(
        model="mock-model",
        messages=[{"role": "user", "content": [part, part, {"type": "text", "text": "what?"}]}],
    )
    assert text.choices[0].message.content.startswith("Mock answer")
    picture = await client.chat.completions.create(
        model="gemini-flash-image", messages=[{"role": "user", "content": "draw a cat"}]
    )
    images = picture.choices[0].message.model_extra["images"]
    assert images[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert app.stats()["image_parts"] == 2


async def test_a_reasoning_model_gives_reasoning_content(mock) -> None:
    _, client = mock
    answer = await client.chat.completions.create(
        model="mock-reasoning", messages=[{"role": "user", "content": "why?"}]
    )
    assert answer.choices[0].message.model_extra["reasoning_content"].startswith("Mock reasoning")
    plain = await client.chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "why?"}]
    )
    assert "reasoning_content" not in (plain.choices[0].message.model_extra or {})


async def test_faults_and_bad_requests_apply_to_every_route(mock) -> None:
    app, client = mock
    app.configure(fail_next_500=1)
    with pytest.raises(openai.InternalServerError):
        await client.embeddings.create(model="e", input="a", encoding_format="float")
    with pytest.raises(openai.BadRequestError, match="'input'"):
        await client.embeddings.create(model="e", input=[], encoding_format="float")
    with pytest.raises(openai.BadRequestError, match="'prompt'"):
        await client.images.generate(model="dall-e-3", prompt="")
    assert app.stats()["by_status"] == {"200": 0, "429": 0, "500": 1, "400": 2}
