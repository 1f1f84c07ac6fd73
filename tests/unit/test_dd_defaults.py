"""What a Data Designer user gets without configuring anything (issue 12): the default
providers and model aliases (``openai-text``, ``nvidia-text``...), ``info`` tables, and
the results API (analysis, sample records, artifact paths)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import dd_prefect.config as dd
from dd_prefect import ConfigValidationError, DataDesigner, DataDesignerGenerationError
from dd_prefect.config.default_model_settings import (
    default_model_configs,
    default_model_providers,
)
from dd_prefect.workflow.metadata import DatasetMetadata
from dd_prefect.workflow.results import DatasetCreationResults

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data_designer"


@pytest.fixture(autouse=True)
def empty_data_designer_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Data Designer home without settings files: the built-in defaults apply."""
    home = tmp_path / "dd-home"
    home.mkdir()
    monkeypatch.setenv("DATA_DESIGNER_HOME", str(home))
    return home


def qa_builder(alias: str = "openai-text") -> dd.DataDesignerConfigBuilder:
    builder = dd.DataDesignerConfigBuilder()
    builder.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["tea", "coffee"]},
    )
    builder.add_column(
        name="question", column_type="llm-text", model_alias=alias, prompt="Ask about {{ topic }}"
    )
    return builder


def mock_as(*names: str) -> list[dd.ModelProvider]:
    """The in-process mock standing in for providers called `names`."""
    return [dd.ModelProvider(name=n, provider_type="mock") for n in names]


def test_designer_without_providers_has_data_designers_three(tmp_path: Path) -> None:
    providers = DataDesigner(artifact_path=tmp_path).model_providers
    assert [(p.name, p.endpoint, p.api_key) for p in providers] == [
        ("nvidia", "https://integrate.api.nvidia.com/v1", "NVIDIA_API_KEY"),
        ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
        ("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    ]


def test_builtin_models_are_the_ones_data_designer_exports() -> None:
    """nb4's builder was made with no model configs after DataDesigner() seeded its home,
    so Data Designer 0.9.7 wrote its twelve default models into the export."""
    raw = yaml.safe_load((FIXTURES / "configs" / "nb4_images_as_context.yaml").read_text())
    exported = [dd.ModelConfig.model_validate(m) for m in raw["data_designer"]["model_configs"]]
    assert exported == default_model_configs()
    assert {m.alias for m in exported} == {
        f"{p}-{k}"
        for p in ("nvidia", "openai", "openrouter")
        for k in ("text", "reasoning", "vision", "embedding")
    }


def test_a_default_alias_works_when_the_config_defines_no_models(tmp_path: Path) -> None:
    designer = DataDesigner(artifact_path=tmp_path, model_providers=mock_as("openai"))
    config = designer.validate(qa_builder("openai-text"))
    assert [(m.alias, m.model, m.provider) for m in config.model_configs] == [
        ("openai-text", "gpt-4.1", "openai")
    ]
    preview = designer.preview(qa_builder("openai-text"), num_records=3)
    assert len(preview.dataset) == 3 and preview.dataset["question"].map(bool).all()


def test_a_config_s_own_model_wins_over_the_default(tmp_path: Path) -> None:
    builder = qa_builder("openai-text")
    builder.add_model_config(dd.ModelConfig(alias="openai-text", model="mine", provider="openai"))
    config = DataDesigner(artifact_path=tmp_path, model_providers=mock_as("openai")).validate(
        builder
    )
    assert [(m.alias, m.model) for m in config.model_configs] == [("openai-text", "mine")]


def test_an_unknown_alias_is_still_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigValidationError, match="unknown model alias 'openai-txt'"):
        DataDesigner(artifact_path=tmp_path).validate(qa_builder("openai-txt"))


def test_workflow_stages_get_default_models_too(tmp_path: Path) -> None:
    workflow = DataDesigner(artifact_path=tmp_path).compose_workflow("w")
    workflow.add_stage("questions", qa_builder("nvidia-text"), num_records=2)
    (model,) = workflow.stages[0].config.model_configs
    assert (model.alias, model.provider) == ("nvidia-text", "nvidia")


def test_the_data_designer_home_files_are_read(
    tmp_path: Path, empty_data_designer_home: Path
) -> None:
    """What `data-designer config` writes: a provider moved to another endpoint, and a
    default alias pointing at another model."""
    (empty_data_designer_home / "model_providers.yaml").write_text(
        "providers:\n- name: nvidia\n  endpoint: http://127.0.0.1:9/v1\n"
        "  provider_type: openai\n  api_key: NVIDIA_API_KEY\n"
    )
    (empty_data_designer_home / "model_configs.yaml").write_text(
        "model_configs:\n- alias: nvidia-text\n  model: small\n  provider: nvidia\n"
    )
    designer = DataDesigner(artifact_path=tmp_path)
    assert [(p.name, p.endpoint) for p in designer.model_providers] == [
        ("nvidia", "http://127.0.0.1:9/v1")
    ]
    config = designer.validate(qa_builder("nvidia-text"))
    assert [m.model for m in config.model_configs] == ["small"]


def test_a_key_written_into_the_home_file_is_refused(empty_data_designer_home: Path) -> None:
    (empty_data_designer_home / "model_providers.yaml").write_text(
        "providers:\n- name: openai\n  endpoint: https://api.openai.com/v1\n"
        "  api_key: sk-live-123\n"
    )
    with pytest.raises(ConfigValidationError, match=r"model_providers\.yaml") as caught:
        default_model_providers()
    assert "sk-live-123" not in str(caught.value)


def test_info_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qa_builder().info.display("samplers")
    assert "subcategory" in capsys.readouterr().out
    qa_builder().info.display("samplers", sampler_type="uuid")
    out = capsys.readouterr().out
    assert "short_form" in out and "subcategory" not in out
    DataDesigner(artifact_path=tmp_path).info.display("model_providers")
    assert "OPENROUTER_API_KEY" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unsupported info_type 'columns'"):
        qa_builder().info.display("columns")


def test_preview_analysis_and_sample_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    designer = DataDesigner(artifact_path=tmp_path, model_providers=mock_as("openai"))
    preview = designer.preview(qa_builder(), num_records=4)
    analysis = preview.analysis
    assert analysis.num_records == 4
    stats = {s.column_name: s for s in analysis.column_statistics}
    assert set(stats) == {"topic", "question"} and stats["topic"].num_unique <= 2
    analysis.to_report()
    assert "question" in capsys.readouterr().out
    preview.display_sample_record()
    preview.display_sample_record()
    out = capsys.readouterr().out
    assert "record 0" in out and "record 1" in out
    preview.display_sample_record(index=3)
    assert "record 3" in capsys.readouterr().out


def test_dataset_results_analysis_and_artifact_paths(tmp_path: Path) -> None:
    base = tmp_path / "reviews"
    (base / "parquet-files").mkdir(parents=True)
    pd.DataFrame({"a": [1, None, 3], "b": [{"x": 1}, {"x": 1}, {"x": 2}]}).to_parquet(
        base / "parquet-files" / "batch_00000.parquet"
    )
    metadata = DatasetMetadata(
        dataset_name="reviews",
        dataset_key="k",
        config_fingerprint="f",
        target_records=5,
        buffer_size=5,
        num_batches=1,
        files=["parquet-files/batch_00000.parquet"],
    )
    (base / "metadata.json").write_text(metadata.model_dump_json())
    results = DatasetCreationResults(base)
    analysis = results.load_analysis()
    assert (analysis.num_records, analysis.target_num_records) == (3, 5)
    stats = {s.column_name: s for s in analysis.column_statistics}
    assert (stats["a"].num_null, stats["b"].num_unique) == (1, 2)
    storage = results.artifact_storage
    assert storage.base_dataset_path == base
    assert storage.final_dataset_path == base / "parquet-files"
    assert storage.metadata_file_path == base / "metadata.json"
    with pytest.raises(FileNotFoundError, match="processor 'chat' has no artifacts"):
        results.get_path_to_processor_artifacts("chat")


def test_a_default_provider_s_key_is_read_when_a_run_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation does not need the key; a run without it stops before any request,
    naming the variable Data Designer uses."""
    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    designer = DataDesigner(artifact_path=tmp_path)
    designer.validate(qa_builder("nvidia-text"))
    with pytest.raises(DataDesignerGenerationError, match=r"NVIDIA_API_KEY.* is not set"):
        designer.preview(qa_builder("nvidia-text"), num_records=1)


def test_set_run_config_as_data_designer_programs_call_it(tmp_path: Path) -> None:
    designer = DataDesigner(artifact_path=None, model_providers=mock_as("openai"))
    assert designer.artifact_path == Path("artifacts")
    designer.set_run_config(dd.RunConfig(display_tui=True, max_llm_retries=1, seed=3))
    assert designer.run_config.seed == 3 and designer.runtime.retry is not None
    assert designer.runtime.retry.max_retries == 1
    assert len(designer.preview(qa_builder(), num_records=2).dataset) == 2
