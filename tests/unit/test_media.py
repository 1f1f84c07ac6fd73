"""engine/media.py: image context values to image parts, answers to images and vectors,
image files."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest

import dd_prefect.config as dd
from dd_prefect.config.modality import ImageContext
from dd_prefect.engine.media import (
    context_parts,
    embedding_vector,
    image_base_dirs,
    image_format,
    image_payload,
    is_diffusion_model,
    save_images,
)
from dd_prefect.testing.mock_llm.media import tiny_png

PNG = base64.b64encode(tiny_png("x")).decode()


def _url(context: ImageContext, value: object, base_dirs: list[Path] | None = None) -> str:
    parts = context_parts([context], {"c": value}, base_dirs or [])
    assert len(parts) == 1 and parts[0]["type"] == "image_url"
    return parts[0]["image_url"]["url"]


def test_values_become_urls_or_data_urls() -> None:
    auto = ImageContext(column_name="c")
    assert _url(auto, PNG) == f"data:image/png;base64,{PNG}"
    assert _url(auto, "https://x.org/a.jpg") == "https://x.org/a.jpg"
    as_url = ImageContext(column_name="c", data_type="url")
    assert _url(as_url, "s3-presigned-thing") == "s3-presigned-thing"
    jpeg = ImageContext(column_name="c", data_type="base64", image_format="jpeg")
    assert _url(jpeg, "/9j/4AAQ").startswith("data:image/jpeg;base64,")
    assert context_parts([auto], {"c": None}) == []
    assert len(context_parts([auto], {"c": [PNG, PNG]})) == 2


def test_a_format_that_contradicts_the_data_is_refused() -> None:
    with pytest.raises(ValueError, match=r"image context 'c'.*does not match"):
        context_parts(
            [ImageContext(column_name="c", image_format="gif")],
            {"c": f"data:image/png;base64,{PNG}"},
        )


def test_files_are_read_from_base_dirs(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(base64.b64decode(PNG))
    auto = ImageContext(column_name="c")
    assert _url(auto, "a.png", [tmp_path]) == f"data:image/png;base64,{PNG}"
    with pytest.raises(ValueError, match="does not exist"):
        _url(auto, "b.png", [tmp_path])


def test_image_base_dirs_of_a_dataset_seed(tmp_path: Path) -> None:
    seed = dd.SeedConfig(
        source=dd.LocalFileSeedSource(path=str(tmp_path / "ds" / "parquet-files" / "*.parquet"))
    )
    dirs = image_base_dirs(seed)
    assert dirs[:2] == [tmp_path / "ds" / "parquet-files", tmp_path / "ds"]
    assert image_base_dirs(None) == []


def test_answers() -> None:
    assert image_payload({"b64_json": PNG}) == PNG
    assert (
        image_payload({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}})
        == PNG
    )
    assert image_payload("https://x.org/i.png") == "https://x.org/i.png"
    assert image_payload("no image here") is None
    packed = base64.b64encode(struct.pack("<2f", 0.5, -1.0)).decode()
    assert embedding_vector(packed) == [0.5, -1.0]
    assert is_diffusion_model("dall-e-3") and not is_diffusion_model("gemini-flash-image")
    assert image_format(base64.b64decode(PNG)) == "png"


def test_save_images_writes_files_once(tmp_path: Path) -> None:
    cells = [[PNG], None, [PNG, PNG]]
    paths = save_images(cells, tmp_path, "my col", 10)
    assert paths == [
        ["images/my_col/10.png"],
        None,
        ["images/my_col/12.png", "images/my_col/12_1.png"],
    ]
    assert (tmp_path / "images/my_col/12_1.png").read_bytes() == base64.b64decode(PNG)
    assert save_images(paths, tmp_path, "my col", 10) == paths  # already written
    with pytest.raises(ValueError):
        save_images([["not an image"]], tmp_path, "c", 0)
    assert sorted(p.name for p in (tmp_path / "images/my_col").iterdir()) == [
        "10.png",
        "12.png",
        "12_1.png",
    ]


def test_audio_and_video_contexts_become_data_designers_parts() -> None:
    audio = dd.AudioContext(column_name="c")
    video = dd.VideoContext(column_name="c", video_format="mp4")
    row = {"c": "https://x.org/clip.mp3"}
    assert context_parts([audio], row) == [
        {"type": "audio_url", "audio_url": {"url": "https://x.org/clip.mp3"}}
    ]
    assert context_parts([audio], {"c": "data:audio/wav;base64,UklGRg=="}) == [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    ]
    assert context_parts([video], {"c": "AAAA"}) == [
        {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAA"}}
    ]
    local = dd.VideoContext(column_name="c", data_type="url")
    assert context_parts([local], {"c": "/data/v.webm"})[0]["video_url"] == {"url": "/data/v.webm"}
    with pytest.raises(ValueError, match="audio context 'c': audio_format is required"):
        context_parts([audio], {"c": "UklGRg=="})
    with pytest.raises(ValueError, match="needs data_type 'url'"):
        context_parts([audio], {"c": "/data/a.wav"})
    with pytest.raises(ValueError, match="does not match"):
        context_parts([video], {"c": "data:video/webm;base64,AAAA"})


def test_contexts_are_told_apart_by_modality() -> None:
    column = dd.LLMTextColumnConfig(
        name="x",
        prompt="p",
        model_alias="m",
        multi_modal_context=[
            {"column_name": "a"},  # Data Designer's older image contexts have no modality
            {"column_name": "b", "modality": "audio", "audio_format": "mp3"},
            {"column_name": "c", "modality": "video"},
        ],
    )
    kinds = [type(c) for c in column.multi_modal_context or []]
    assert kinds == [dd.ImageContext, dd.AudioContext, dd.VideoContext]
    with pytest.raises(ValueError, match="needs modality"):
        dd.LLMTextColumnConfig(
            name="x",
            prompt="p",
            model_alias="m",
            multi_modal_context=[{"column_name": "a", "audio_format": "mp3"}],
        )
    with pytest.raises(ValueError, match="video_format is required"):
        dd.VideoContext(column_name="v", data_type="base64")
