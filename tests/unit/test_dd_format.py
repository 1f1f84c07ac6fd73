"""Data Designer's config format: read wrapped or bare, YAML or JSON; every DD field
accepted or refused by name; written so that Data Designer 0.9.7 loads it."""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

import dd_prefect.config as dd
from dd_prefect.config.columns import column_class
from dd_prefect.config.dd_fields import DD_COLUMN_TYPES, DD_FIELDS, DD_SAMPLER_TYPES
from dd_prefect.config.dd_format import LIBRARY_VERSION
from dd_prefect.config.utils.code_lang import CodeLang

FIXTURES = Path(__file__).parents[1] / "fixtures" / "data_designer"
CONFIGS = sorted((FIXTURES / "configs").glob("*.yaml"))

MODEL = {
    "alias": "m",
    "model": "some-model",
    "provider": "p",
    "skip_health_check": False,
    "inference_parameters": {
        "generation_type": "chat-completion",
        "temperature": 0.5,
        "top_p": None,
        "max_tokens": None,
        "max_parallel_requests": 4,
        "timeout": None,
        "extra_body": None,
    },
}


def sampler(**over: Any) -> dict[str, Any]:
    return {
        "name": "topic",
        "column_type": "sampler",
        "sampler_type": "category",
        "params": {"sampler_type": "category", "values": ["a", "b"], "weights": None},
        "conditional_params": {},
        "convert_to": None,
        "drop": False,
        "skip": None,
        "propagate_skip": True,
        **over,
    }


def llm_text(**over: Any) -> dict[str, Any]:
    return {
        "name": "text",
        "column_type": "llm-text",
        "prompt": "About {{ topic }}",
        "model_alias": "m",
        "system_prompt": None,
        "multi_modal_context": None,
        "tool_alias": None,
        "with_trace": "none",
        "extract_reasoning_content": False,
        "drop": False,
        "skip": None,
        "propagate_skip": True,
        **over,
    }


def dd_config(columns: list[dict[str, Any]] | None = None, **over: Any) -> dict[str, Any]:
    """A config as Data Designer 0.9.7's write_config writes it (every field present)."""
    return {
        "data_designer": {
            "columns": columns if columns is not None else [sampler(), llm_text()],
            "constraints": None,
            "model_configs": [MODEL],
            "processors": None,
            "profilers": None,
            "seed_config": None,
            "tool_configs": [],
            **over,
        },
        "library_version": "0.9.7",
    }


# --- reading ---------------------------------------------------------------------------


@pytest.mark.parametrize("wrapped", [True, False])
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_reads_wrapped_and_bare_yaml_and_json(tmp_path: Path, wrapped: bool, suffix: str) -> None:
    data = dd_config()
    if not wrapped:
        data = data["data_designer"]
    path = tmp_path / f"c{suffix}"
    path.write_text(json.dumps(data) if suffix == ".json" else yaml.safe_dump(data))
    for loaded in (
        dd.DataDesignerConfig.from_file(path),
        dd.DataDesignerConfigBuilder.from_config(path).build(skip_validation=True),
        dd.DataDesignerConfigBuilder.from_config(data).build(skip_validation=True),
    ):
        assert [c.name for c in loaded.columns] == ["topic", "text"]
        assert loaded.column("topic").params == dd.CategorySamplerParams(values=["a", "b"])
        assert loaded.model_configs[0].inference_parameters.temperature == 0.5


@pytest.mark.parametrize("version", ["0.9.0", "0.9.7", "0.9.12rc1", None])
def test_any_0_9_library_version_is_read(version: str | None) -> None:
    data = dd_config()
    data["library_version"] = version
    assert len(dd.DataDesignerConfig.from_dict(data).columns) == 2


@pytest.mark.parametrize("version", ["1.0.0", "0.8.3", "0.10.1", "latest"])
def test_other_library_versions_are_refused_clearly(version: str) -> None:
    data = dd_config()
    data["library_version"] = version
    with pytest.raises(dd.ConfigValidationError, match=f"library_version '{version}'.*0.9"):
        dd.DataDesignerConfig.from_dict(data)


def test_unknown_key_beside_the_wrapper_is_refused() -> None:
    data = {**dd_config(), "extra": 1}
    with pytest.raises(dd.ConfigValidationError, match="beside 'data_designer': extra"):
        dd.DataDesignerConfig.from_dict(data)


def test_selection_strategy_without_kind_is_read() -> None:
    seed = {
        "source": {"seed_type": "local", "path": "s.parquet"},
        "sampling_strategy": "shuffle",
        "selection_strategy": {"start": 2, "end": 5},
    }
    config = dd.DataDesignerConfig.from_dict(dd_config(seed_config=seed))
    assert config.seed_config.selection_strategy == dd.IndexRange(start=2, end=5)
    seed["selection_strategy"] = {"index": 1, "num_partitions": 3}
    config = dd.DataDesignerConfig.from_dict(dd_config(seed_config=seed))
    assert config.seed_config.selection_strategy == dd.PartitionBlock(index=1, num_partitions=3)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_exported_fixture_loads_or_is_refused_as_not_supported(path: Path) -> None:
    try:
        dd.DataDesignerConfigBuilder.from_config(path)
    except dd.ConfigValidationError as exc:
        assert all("not supported" in issue.message for issue in exc.issues), str(exc)


# --- refusals --------------------------------------------------------------------------

# A value that turns each table field's feature on.
ON: dict[str, Any] = {
    "skip": {"when": "{{ topic == 'a' }}", "value": None},
    "propagate_skip": False,
    "conditional_params": {"topic == 'a'": {"values": ["x"]}},
    "multi_modal_context": [{"modality": "image", "column_name": "topic"}],
    "tool_alias": "tools",
    "with_trace": "all_messages",
    "extract_reasoning_content": True,
    "generator_function": "my_generator",
    "generator_params": {"a": 1},
    "tool_configs": [{"tool_alias": "tools", "providers": ["p"]}],
    "constraints": [
        {"target_column": "x", "rhs": 1.0, "operator": "gt", "constraint_type": "scalar_inequality"}
    ],
    "profilers": [{"model_alias": "m", "summary_score_sample_size": 20}],
    "skip_health_check": True,
    "generation_type": "embedding",
    "select_field_values": {"state": ["NY"]},
    "with_synthetic_personas": True,
}

UNSUPPORTED = [entry for entry in DD_FIELDS if not entry.supported]


def test_every_table_field_has_an_on_value() -> None:
    assert {entry.field for entry in DD_FIELDS} <= set(ON)


# A column of each type, to carry a field; other types are built by their own tests.
COLUMNS: dict[str, dict[str, Any]] = {
    **{t: llm_text(name="col", column_type=t) for t in ("llm-text", "llm-structured")},
    "llm-code": llm_text(name="col", column_type="llm-code", code_lang="python"),
    "llm-judge": llm_text(name="col", column_type="llm-judge", scores=[]),
    "sampler": sampler(name="col"),
    "expression": {"name": "col", "column_type": "expression", "expr": "{{ topic }}"},
    "seed-dataset": {"name": "col", "column_type": "seed-dataset"},
    "custom": {"name": "col", "column_type": "custom", "function": "pkg.mod:fn"},
}


def config_setting(where: str, field: str) -> tuple[dict[str, Any], str]:
    """A DD config with `field` of a `where` object turned on, and the owner it names."""
    value = ON[field]
    if where == "config":
        return dd_config(**{field: value}), "config"
    declared = {"model": dd.ModelConfig, "inference": dd.ChatCompletionInferenceParams}
    if where in declared and field in declared[where].model_fields:
        pytest.skip(f"{field} is a field of {declared[where].__name__}: the class decides")
    if where == "model":
        return dd_config(model_configs=[{**MODEL, field: value}]), "model 'm'"
    if where == "inference":
        params = {**MODEL["inference_parameters"], field: value}
        return dd_config(model_configs=[{**MODEL, "inference_parameters": params}]), "model 'm'"
    if where.startswith("params:"):
        kind = where.split(":", 1)[1]
        params = {"sampler_type": kind, field: value}
        return dd_config([sampler(name="col", sampler_type=kind, params=params)]), "column 'col'"
    if where not in COLUMNS:
        pytest.skip(f"{where} columns are built by their own tests")
    return dd_config([sampler(), {**COLUMNS[where], field: value}]), "column 'col'"


@pytest.mark.parametrize(
    ("where", "field"), [(where, entry.field) for entry in UNSUPPORTED for where in entry.where]
)
def test_unsupported_field_not_at_default_is_refused_by_name(where: str, field: str) -> None:
    data, owner = config_setting(where, field)
    with pytest.raises(dd.ConfigValidationError) as caught:
        dd.DataDesignerConfig.from_dict(data)
    text = str(caught.value)
    assert "not supported" in text and f"{field}=" in text and owner in text, text


@pytest.mark.parametrize("column_type", sorted(DD_COLUMN_TYPES))
def test_data_designer_column_types_are_known_or_refused_by_name(column_type: str) -> None:
    try:
        column_class(column_type)
    except ValueError as exc:
        assert "not supported" in str(exc)
        column = {"name": "odd", "column_type": column_type}
        with pytest.raises(dd.ConfigValidationError, match=r"column 'odd'.*not supported"):
            dd.DataDesignerConfig.from_dict(dd_config([column]))


@pytest.mark.parametrize("sampler_type", sorted(DD_SAMPLER_TYPES))
def test_data_designer_sampler_types_are_known_or_refused_by_name(sampler_type: str) -> None:
    if sampler_type in {t.value for t in dd.SamplerType}:
        return
    column = sampler(name="odd", sampler_type=sampler_type, params={})
    with pytest.raises(dd.ConfigValidationError, match=r"column 'odd'.*not supported"):
        dd.DataDesignerConfig.from_dict(dd_config([column]))


def test_mismatched_params_sampler_type_is_an_error() -> None:
    column = sampler(params={"sampler_type": "uniform", "low": 0, "high": 1})
    with pytest.raises(dd.ConfigValidationError, match=r"params\.sampler_type 'uniform'"):
        dd.DataDesignerConfig.from_dict(dd_config([column]))


# --- writing ---------------------------------------------------------------------------


def a_builder() -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder.from_config(dd_config())


def test_to_dict_is_data_designers_bare_config() -> None:
    data = a_builder().build(skip_validation=True).to_dict()
    assert "data_designer" not in data and "library_version" not in data
    text = data["columns"][1]
    assert text["with_trace"] == "none" and text["propagate_skip"] is True
    assert text["extract_reasoning_content"] is False
    assert data["tool_configs"] == [] and data["constraints"] is None


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_write_config_and_to_file_wrap_with_library_version(tmp_path: Path, suffix: str) -> None:
    builder = a_builder()
    builder.write_config(tmp_path / f"w{suffix}")
    builder.build(skip_validation=True).to_file(tmp_path / f"f{suffix}")
    for name in ("w", "f"):
        data = yaml.safe_load((tmp_path / f"{name}{suffix}").read_text())
        assert set(data) == {"data_designer", "library_version"}
        assert data["library_version"] == LIBRARY_VERSION
    assert (tmp_path / f"w{suffix}").read_text() == (tmp_path / f"f{suffix}").read_text()


def test_write_config_refuses_other_suffixes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported file type"):
        a_builder().write_config(tmp_path / "c.txt")


def test_to_yaml_and_to_json_return_text_or_write(tmp_path: Path) -> None:
    config = a_builder().build(skip_validation=True)
    assert yaml.safe_load(config.to_yaml()) == config.to_dict()
    assert json.loads(config.to_json()) == config.to_dict()
    assert config.to_yaml(tmp_path / "c.yaml") is None
    assert dd.DataDesignerConfig.from_file(tmp_path / "c.yaml") == config


def test_selection_strategy_is_written_without_kind() -> None:
    builder = a_builder().with_seed_dataset(
        dd.LocalFileSeedSource(path="s.parquet"), selection_strategy=dd.IndexRange(start=0, end=3)
    )
    seed = builder.build(skip_validation=True).to_dict()["seed_config"]
    assert seed["selection_strategy"] == {"start": 0, "end": 3}
    assert seed["source"] == {"seed_type": "local", "path": "s.parquet"}


def test_data_designer_defaults_leave_the_fingerprint_unchanged() -> None:
    plain = dd.DataDesignerConfig.model_validate(
        {
            "columns": [
                {"name": "topic", "column_type": "sampler", "sampler_type": "category",
                 "params": {"values": ["a", "b"]}},
                {"name": "text", "column_type": "llm-text", "prompt": "About {{ topic }}",
                 "model_alias": "m"},
            ],
            "model_configs": [
                {"alias": "m", "model": "some-model", "provider": "p",
                 "inference_parameters": {"temperature": 0.5}}
            ],
        }
    )  # fmt: skip
    assert dd.DataDesignerConfig.from_dict(dd_config()).fingerprint() == plain.fingerprint()


def built_here(tmp_path: Path) -> dd.DataDesignerConfigBuilder:
    """A config built with our API: a seed with a selection, every LLM column, processors."""
    import pandas as pd

    pd.DataFrame({"doc": ["a", "b", "c"]}).to_parquet(tmp_path / "seed.parquet")
    builder = a_builder().with_seed_dataset(
        dd.LocalFileSeedSource(path=str(tmp_path / "seed.parquet")),
        sampling_strategy=dd.SamplingStrategy.SHUFFLE,
        selection_strategy=dd.IndexRange(start=0, end=1),
    )
    builder.add_column(
        dd.LLMCodeColumnConfig(
            name="query", prompt="SQL for {{ doc }}", model_alias="m", code_lang="sql:postgres"
        )
    )
    builder.add_column(
        name="facts",
        column_type="llm-structured",
        prompt="Facts of {{ doc }}",
        model_alias="m",
        output_format={"type": "object", "properties": {"n": {"type": "integer"}}},
    )
    builder.add_column(
        name="grade",
        column_type="llm-judge",
        prompt="Grade {{ text }}",
        model_alias="m",
        scores=[dd.Score(name="q", description="quality", options={1: "bad", 2: "good"})],
    )
    builder.add_column(name="n", column_type="expression", expr="{{ facts.n }}", dtype="int")
    builder.add_processor(dd.DropColumnsProcessorConfig(name="drop", column_names=["n"]))
    builder.add_processor(
        dd.SchemaTransformProcessorConfig(name="chat", template={"user": "{{ text }}"})
    )
    return builder


# --- builder names ---------------------------------------------------------------------


def test_validate_logs_or_raises(caplog: pytest.LogCaptureFixture) -> None:
    builder = dd.DataDesignerConfigBuilder(model_configs=[dd.ModelConfig(alias="m", model="x")])
    builder.add_column(name="text", column_type="llm-text", prompt="hi", model_alias="nope")
    with caplog.at_level(logging.WARNING, logger="dd_prefect.config.builder"):
        assert builder.validate() is builder
        builder.build()
    assert sum("unknown model alias 'nope'" in r.getMessage() for r in caplog.records) == 2
    with pytest.raises(dd.ConfigValidationError, match="unknown model alias 'nope'"):
        builder.validate(raise_exceptions=True)
    with pytest.raises(dd.ConfigValidationError):
        builder.build(raise_exceptions=True)
    caplog.clear()
    builder.build(skip_validation=True)
    assert caplog.records == []


def test_code_lang_takes_data_designers_values() -> None:
    for lang in CodeLang:
        column = dd.LLMCodeColumnConfig(name="c", prompt="p", model_alias="m", code_lang=lang)
        assert column.code_lang == lang.value
    assert CodeLang.parse("sql:postgres") == ("sql", "postgres")
    with pytest.raises(ValueError, match="code_lang"):
        dd.LLMCodeColumnConfig(name="c", prompt="p", model_alias="m", code_lang="klingon")


def test_fingerprints_from_before_the_data_designer_fields_still_match() -> None:
    """A config written (and fingerprinted) before columns had Data Designer's fields keeps
    its fingerprint, so earlier runs are still reused."""
    saved = json.loads((FIXTURES / "pre_dd_fields_config.json").read_text())
    config = dd.DataDesignerConfig.from_dict(saved["config"])
    assert config.fingerprint() == saved["fingerprint"]


def test_strftime_convert_to_is_refused_by_name() -> None:
    params = {"sampler_type": "datetime", "start": "2024-01-01", "end": "2024-02-01"}
    column = sampler(name="when", sampler_type="datetime", params=params, convert_to="%Y-%m")
    with pytest.raises(dd.ConfigValidationError, match=r"column 'when'.*not supported"):
        dd.DataDesignerConfig.from_dict(dd_config([column]))


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("base", "SkipConfig"),
        ("column_configs", "LLMTextColumnConfig"),
        ("column_configs", "GenerationStrategy"),
        ("column_types", "DataDesignerColumnType"),
        ("config_builder", "DataDesignerConfigBuilder"),
        ("data_designer_config", "DataDesignerConfig"),
        ("errors", "InvalidConfigError"),
        ("models", "ModelConfig"),
        ("processors", "DropColumnsProcessorConfig"),
        ("run_config", "RunConfig"),
        ("sampler_params", "SamplerType"),
        ("seed", "SamplingStrategy"),
        ("seed_source", "LocalFileSeedSource"),
        ("seed_source_dataframe", "DataFrameSeedSource"),
        ("utils.code_lang", "CodeLang"),
        ("utils.info", "ConfigBuilderInfo"),
        ("utils.trace_type", "TraceType"),
    ],
)
def test_data_designer_module_paths_import(module: str, name: str) -> None:
    """``from data_designer.config.<module> import <name>`` works as ``dd_prefect.config``."""
    assert getattr(importlib.import_module(f"dd_prefect.config.{module}"), name)


def test_builder_reads_model_configs_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"model_configs": [MODEL]}))
    builder = dd.DataDesignerConfigBuilder(model_configs=path)
    assert [m.alias for m in builder.model_configs] == ["m"]
    path.write_text(yaml.safe_dump([MODEL]))
    with pytest.raises(dd.ConfigValidationError, match="under 'model_configs'"):
        dd.DataDesignerConfigBuilder(model_configs=str(path))


def test_add_column_names_the_column_once_and_the_field() -> None:
    builder = dd.DataDesignerConfigBuilder()
    with pytest.raises(dd.ConfigValidationError) as caught:
        builder.add_column(name="t", column_type="llm-text", prompt="p")
    assert str(caught.value) == "Invalid config: column 't', field 'model_alias': Field required"
    with pytest.raises(dd.ConfigValidationError) as caught:
        builder.add_column(name="odd", column_type="sampler", sampler_type="scipy", params={})
    assert str(caught.value).count("odd") == 1 and "not supported" in str(caught.value)
