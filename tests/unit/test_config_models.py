"""The config models: column types, sampler params, models, run config, seeds."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pydantic import BaseModel, ValidationError

import dd_prefect.config as dd
from dd_prefect.config.samplers import PARAMS_BY_TYPE

MODELS = [dd.ModelConfig(alias="m", model="some-model")]


class Answer(BaseModel):
    text: str
    confidence: float


# --- every column type, as an object and through builder.add_column(**kwargs) -----------

COLUMN_KWARGS: dict[str, dict] = {
    "sampler": {"sampler_type": "category", "params": {"values": ["a", "b"]}},
    "expression": {"expr": "{{ base }}!"},
    "llm-text": {"prompt": "Say {{ base }}", "model_alias": "m", "system_prompt": "Be brief"},
    "llm-code": {"prompt": "Code for {{ base }}", "model_alias": "m", "code_lang": "sql:sqlite"},
    "llm-structured": {
        "prompt": "JSON for {{ base }}",
        "model_alias": "m",
        "output_format": {"type": "object", "properties": {"x": {"type": "string"}}},
    },
    "llm-judge": {
        "prompt": "Judge {{ base }}",
        "model_alias": "m",
        "scores": [{"name": "quality", "description": "how good", "options": {1: "bad", 5: "ok"}}],
    },
    "seed-dataset": {},
    "custom": {
        "function": "json:dumps",
        "params": {"k": 1},
        "required_columns": ["base"],
        "generation_strategy": "full_column",
    },
}

COLUMN_CLASSES = {
    "sampler": dd.SamplerColumnConfig,
    "expression": dd.ExpressionColumnConfig,
    "llm-text": dd.LLMTextColumnConfig,
    "llm-code": dd.LLMCodeColumnConfig,
    "llm-structured": dd.LLMStructuredColumnConfig,
    "llm-judge": dd.LLMJudgeColumnConfig,
    "seed-dataset": dd.SeedDatasetColumnConfig,
    "custom": dd.CustomColumnConfig,
}


def _spellings(column_type: str) -> list[str]:
    return sorted({column_type, column_type.replace("-", "_"), column_type.upper()})


@pytest.mark.parametrize("column_type", list(COLUMN_KWARGS))
def test_column_builds_as_object(column_type: str) -> None:
    cls = COLUMN_CLASSES[column_type]
    column = cls(name="col", **COLUMN_KWARGS[column_type])
    assert column.column_type == column_type
    builder = dd.DataDesignerConfigBuilder(model_configs=MODELS).add_column(column)
    assert builder.columns == [column]
    config = builder.build()
    assert isinstance(config.columns[0], cls)


@pytest.mark.parametrize(
    ("column_type", "spelling"),
    [(t, s) for t in COLUMN_KWARGS for s in _spellings(t)],
)
def test_column_builds_via_add_column_kwargs(column_type: str, spelling: str) -> None:
    builder = dd.DataDesignerConfigBuilder(model_configs=MODELS)
    returned = builder.add_column(name="col", column_type=spelling, **COLUMN_KWARGS[column_type])
    assert returned is builder
    (column,) = builder.columns
    assert type(column) is COLUMN_CLASSES[column_type]
    assert column.column_type == column_type  # stored in the canonical hyphenated spelling
    assert column.model_dump(mode="json")["column_type"] == column_type


@pytest.mark.parametrize("spelling", ["llm_text", "llm-text"])
def test_both_spellings_build_equal_columns(spelling: str) -> None:
    a = dd.LLMTextColumnConfig(name="q", column_type=spelling, prompt="p", model_alias="m")
    b = dd.DataDesignerConfigBuilder().add_column(
        name="q", column_type=spelling, prompt="p", model_alias="m"
    )
    assert b.columns == [a]


def test_column_type_underscore_spelling_loads_from_dict() -> None:
    config = dd.DataDesignerConfig.model_validate(
        {
            "columns": [
                {"name": "s", "column_type": "seed_dataset"},
                {
                    "name": "j",
                    "column_type": "llm_judge",
                    "prompt": "p",
                    "model_alias": "m",
                    "scores": [{"name": "x", "description": "d", "options": {"1": "a"}}],
                },
                {"name": "c", "column_type": "llm_code", "prompt": "p", "model_alias": "m"},
                {
                    "name": "st",
                    "column_type": "llm_structured",
                    "prompt": "p",
                    "model_alias": "m",
                    "output_format": {"type": "object"},
                },
            ]
        }
    )
    assert [c.column_type for c in config.columns] == [
        "seed-dataset",
        "llm-judge",
        "llm-code",
        "llm-structured",
    ]


def test_unknown_column_type_rejected_naming_the_column() -> None:
    with pytest.raises(dd.ConfigValidationError) as info:
        dd.DataDesignerConfigBuilder().add_column(name="bad_col", column_type="llm-poem")
    assert all(issue.column == "bad_col" for issue in info.value.issues)
    assert "bad_col" in str(info.value)


def test_add_column_missing_field_names_the_column() -> None:
    with pytest.raises(dd.ConfigValidationError) as info:
        dd.DataDesignerConfigBuilder().add_column(name="q", column_type="llm-text", prompt="p")
    (issue,) = info.value.issues
    assert issue.column == "q"
    assert "model_alias" in issue.field


def test_add_column_rejects_object_and_kwargs_together() -> None:
    column = dd.ExpressionColumnConfig(name="e", expr="1")
    with pytest.raises(TypeError):
        dd.DataDesignerConfigBuilder().add_column(column, name="e")
    with pytest.raises(TypeError):
        dd.DataDesignerConfigBuilder().add_column({"name": "e"})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", " x", "x "])
def test_blank_or_padded_column_names_rejected(name: str) -> None:
    with pytest.raises(ValidationError):
        dd.ExpressionColumnConfig(name=name, expr="1")


def test_llm_columns_are_llm_and_others_are_not() -> None:
    for column_type, kwargs in COLUMN_KWARGS.items():
        column = COLUMN_CLASSES[column_type](name="c", **kwargs)
        assert column.is_llm == column_type.startswith("llm-")


def test_required_columns_from_templates() -> None:
    column = dd.LLMTextColumnConfig(
        name="q", prompt="{{ a }} and {{ b.x }}", system_prompt="{{ c | upper }}", model_alias="m"
    )
    assert column.required_columns() == {"a", "b", "c"}
    assert dd.ExpressionColumnConfig(name="e", expr="{{ a + b }}").required_columns() == {
        "a",
        "b",
    }


# --- llm-structured and llm-judge details ----------------------------------------------


def test_output_format_model_class_stored_as_json_schema() -> None:
    column = dd.LLMStructuredColumnConfig(
        name="s", prompt="p", model_alias="m", output_format=Answer
    )
    assert column.output_format == Answer.model_json_schema()
    assert isinstance(column.output_format, dict)
    via_builder = dd.DataDesignerConfigBuilder().add_column(
        name="s", column_type="llm_structured", prompt="p", model_alias="m", output_format=Answer
    )
    assert via_builder.columns[0].output_format == Answer.model_json_schema()
    # and it serializes as plain JSON
    json.dumps(column.model_dump(mode="json"))


def test_score_int_keys_survive_json_round_trip() -> None:
    score = dd.Score(name="q", description="d", options={1: "bad", 3: "fine", 5: "great"})
    again = dd.Score.model_validate_json(score.model_dump_json())
    assert again.options == {1: "bad", 3: "fine", 5: "great"}
    assert all(isinstance(k, int) for k in again.options)
    from_plain = dd.Score.model_validate(json.loads(json.dumps(score.model_dump(mode="json"))))
    assert from_plain == score


def test_score_keeps_string_keys() -> None:
    score = dd.Score(name="q", description="d", options={"-1": "worse", "low": "bad", 2: "ok"})
    assert score.options == {-1: "worse", "low": "bad", 2: "ok"}


def test_judge_column_int_keys_survive_config_json_file(tmp_path) -> None:
    config = (
        dd.DataDesignerConfigBuilder(model_configs=MODELS)
        .add_column(name="a", column_type="expression", expr="x")
        .add_column(
            name="j",
            column_type="llm-judge",
            prompt="{{ a }}",
            model_alias="m",
            scores=[dd.Score(name="s", description="d", options={0: "no", 1: "yes"})],
        )
        .build()
    )
    path = config.to_file(tmp_path / "c.json")
    loaded = dd.DataDesignerConfig.from_file(path)
    assert loaded.column("j").scores[0].options == {0: "no", 1: "yes"}
    assert loaded == config


# --- samplers ---------------------------------------------------------------------------

SAMPLER_PARAMS: dict[str, dict] = {
    "category": {"values": ["a", 1, 2.5, True], "weights": [1, 2, 3, 4]},
    "subcategory": {"category": "cat", "values": {"a": ["x", "y"]}},
    "uniform": {"low": 0, "high": 10, "decimal_places": 2},
    "gaussian": {"mean": 1.5, "stddev": 0.3},
    "bernoulli": {"p": 0.25},
    "binomial": {"n": 10, "p": 0.5},
    "poisson": {"mean": 3},
    "uuid": {"prefix": "id-", "short_form": True},
    "datetime": {"start": "2024-01-01", "end": "2024-12-31", "unit": "h"},
    "timedelta": {"dt_min": 1, "dt_max": 5, "reference_column_name": "when", "unit": "h"},
    "person": {"locale": "de_DE", "sex": "Female", "age_range": [20, 40]},
    "person_from_faker": {"locale": "en_US", "age_range": [30, 50]},
}


def test_every_sampler_type_has_params() -> None:
    assert {t.value for t in dd.SamplerType} == set(SAMPLER_PARAMS)


@pytest.mark.parametrize("sampler_type", list(SAMPLER_PARAMS))
def test_sampler_params_as_typed_object(sampler_type: str) -> None:
    params_cls = PARAMS_BY_TYPE[dd.SamplerType(sampler_type)]
    params = params_cls(**SAMPLER_PARAMS[sampler_type])
    column = dd.SamplerColumnConfig(name="s", sampler_type=sampler_type, params=params)
    assert column.params == params
    assert column.sampler_type == sampler_type
    # the sampler type is inferred from a typed params object
    inferred = dd.SamplerColumnConfig(name="s", params=params)
    assert inferred.sampler_type == sampler_type


@pytest.mark.parametrize("sampler_type", list(SAMPLER_PARAMS))
def test_sampler_params_as_plain_dict(sampler_type: str) -> None:
    params_cls = PARAMS_BY_TYPE[dd.SamplerType(sampler_type)]
    column = dd.SamplerColumnConfig(
        name="s", sampler_type=sampler_type, params=SAMPLER_PARAMS[sampler_type]
    )
    assert type(column.params) is params_cls
    assert column.params == params_cls(**SAMPLER_PARAMS[sampler_type])
    via_builder = dd.DataDesignerConfigBuilder().add_column(
        name="s",
        column_type="sampler",
        sampler_type=sampler_type,
        params=SAMPLER_PARAMS[sampler_type],
    )
    assert via_builder.columns == [column]


def test_sampler_params_typed_exactly_even_when_fields_overlap() -> None:
    # {"mean": 3} fits Poisson; as gaussian params it must fail (stddev missing), not be
    # silently taken for another sampler's params.
    assert (
        type(dd.SamplerColumnConfig(name="p", sampler_type="poisson", params={"mean": 3}).params)
        is dd.PoissonSamplerParams
    )
    with pytest.raises(ValidationError):
        dd.SamplerColumnConfig(name="g", sampler_type="gaussian", params={"mean": 3})


def test_uuid_params_default_to_empty() -> None:
    column = dd.SamplerColumnConfig(name="id", sampler_type="uuid")
    assert column.params == dd.UUIDSamplerParams()


@pytest.mark.parametrize(
    ("sampler_type", "params"),
    [
        ("uniform", dd.CategorySamplerParams(values=["a"])),
        ("category", dd.UniformSamplerParams(low=0, high=1)),
        ("poisson", dd.GaussianSamplerParams(mean=1, stddev=1)),
        ("timedelta", dd.DatetimeSamplerParams(start="2024-01-01", end="2024-02-01")),
    ],
)
def test_wrong_params_class_for_sampler_type_rejected(sampler_type: str, params) -> None:
    with pytest.raises(ValidationError, match=type(params).__name__):
        dd.SamplerColumnConfig(name="s", sampler_type=sampler_type, params=params)
    with pytest.raises(dd.ConfigValidationError) as info:
        dd.DataDesignerConfigBuilder().add_column(
            name="s", column_type="sampler", sampler_type=sampler_type, params=params
        )
    assert info.value.issues[0].column == "s"


def test_wrong_params_keys_for_sampler_type_rejected() -> None:
    with pytest.raises(ValidationError):
        dd.SamplerColumnConfig(name="s", sampler_type="uniform", params={"values": ["a"]})


def test_unknown_sampler_type_rejected() -> None:
    with pytest.raises(ValidationError, match="sampler_type"):
        dd.SamplerColumnConfig(name="s", sampler_type="zipf", params={"a": 1})


# --- custom columns ---------------------------------------------------------------------


@pytest.mark.parametrize("function", ["pkg.module:function", "mod:f", "_a.b_c.d:_fn2"])
def test_custom_function_import_path_accepted(function: str) -> None:
    assert dd.CustomColumnConfig(name="c", function=function).function == function


@pytest.mark.parametrize(
    "function", ["pkg.module.function", "pkg.module:", ":fn", "pkg mod:fn", "1pkg:fn", "a:b:c"]
)
def test_custom_function_import_path_rejected(function: str) -> None:
    with pytest.raises(ValidationError, match=r"pkg\.module:function"):
        dd.CustomColumnConfig(name="c", function=function)


def test_custom_required_columns_alias_round_trip() -> None:
    column = dd.CustomColumnConfig(name="c", function="m:f", required_columns=["a", "b"])
    assert column.required_columns() == {"a", "b"}
    dumped = column.model_dump(mode="json")
    assert dumped["required_columns"] == ["a", "b"]
    assert dd.CustomColumnConfig.model_validate(dumped) == column


# --- models -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "api_key", [None, "OPENAI_API_KEY", "NVIDIA_API_KEY_2", "secret:my-block", "secret:b1"]
)
def test_provider_api_key_names_accepted(api_key: str | None) -> None:
    assert dd.ModelProvider(name="p", api_key=api_key).api_key == api_key


@pytest.mark.parametrize(
    "literal", ["sk-abc123XYZ", "nvapi-Zz9_secretvalue", "sk-proj-0123456789abcdef", "hunter2"]
)
def test_provider_literal_api_key_rejected_without_echo(literal: str) -> None:
    with pytest.raises(ValidationError) as info:
        dd.ModelProvider(name="p", api_key=literal)
    assert literal not in str(info.value)
    assert literal not in repr(info.value)
    assert "api_key" in str(info.value)


def test_literal_api_key_not_echoed_when_nested_in_a_spec() -> None:
    literal = "sk-abc123XYZ"
    data = {
        "name": "w",
        "model_providers": [{"name": "p", "endpoint": "https://x.test", "api_key": literal}],
        "stages": [{"name": "s", "num_records": 1}],
    }
    with pytest.raises(ValidationError) as info:
        dd.WorkflowSpec.model_validate(data)
    assert literal not in str(info.value)
    with pytest.raises(ValidationError) as info:
        dd.WorkflowSpec(**data)
    assert literal not in str(info.value)


@pytest.mark.parametrize("endpoint", ["https://api.openai.com/v1", "http://localhost:8000/v1"])
def test_provider_http_endpoints_accepted(endpoint: str) -> None:
    assert dd.ModelProvider(name="p", endpoint=endpoint + "/").endpoint == endpoint


@pytest.mark.parametrize("endpoint", ["ftp://x.test", "api.openai.com/v1", "localhost:8000"])
def test_provider_non_http_endpoint_rejected(endpoint: str) -> None:
    with pytest.raises(ValidationError, match="http"):
        dd.ModelProvider(name="p", endpoint=endpoint)


def test_mock_provider_needs_no_endpoint() -> None:
    provider = dd.ModelProvider(name="mock", provider_type="mock")
    assert provider.endpoint == ""
    assert provider.api_key is None


def test_model_config_defaults_and_bounds() -> None:
    model = dd.ModelConfig(alias="a", model="m")
    assert model.provider is None
    assert model.inference_parameters.max_parallel_requests == 4
    assert model.inference_parameters.timeout is None
    with pytest.raises(ValidationError):
        dd.ChatCompletionInferenceParams(max_parallel_requests=0)
    with pytest.raises(ValidationError):
        dd.ChatCompletionInferenceParams(timeout=0)
    with pytest.raises(ValidationError):
        dd.ModelConfig(alias="a", model="m", temperature=0.5)  # belongs in inference_parameters


# --- run config -------------------------------------------------------------------------


def test_run_config_defaults() -> None:
    rc = dd.RunConfig()
    assert rc.buffer_size == 1000
    assert rc.max_concurrent_row_groups == 3
    assert rc.shutdown_error_rate == 0.5
    assert rc.shutdown_error_window == 10
    assert rc.disable_early_shutdown is False
    assert rc.max_conversation_restarts == 5
    assert rc.on_cell_error == "drop"
    assert rc.seed is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"buffer_size": 0},
        {"max_concurrent_row_groups": 0},
        {"shutdown_error_rate": 1.5},
        {"shutdown_error_rate": -0.1},
        {"shutdown_error_window": 0},
        {"max_conversation_restarts": -1},
        {"on_cell_error": "skip"},
        {"bogus": 1},
    ],
)
def test_run_config_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        dd.RunConfig(**kwargs)


# --- seeds ------------------------------------------------------------------------------


def test_index_range_bounds() -> None:
    assert dd.IndexRange(start=2, end=2).end == 2
    with pytest.raises(ValidationError, match="end"):
        dd.IndexRange(start=5, end=4)
    with pytest.raises(ValidationError):
        dd.IndexRange(start=-1, end=4)


def test_partition_block_bounds() -> None:
    assert dd.PartitionBlock(index=2, num_partitions=3).index == 2
    with pytest.raises(ValidationError, match="num_partitions"):
        dd.PartitionBlock(index=3, num_partitions=3)
    with pytest.raises(ValidationError, match="num_partitions"):
        dd.PartitionBlock(index=5, num_partitions=3)
    with pytest.raises(ValidationError):
        dd.PartitionBlock(index=0, num_partitions=0)


def test_seed_config_selection_from_dict() -> None:
    seed = dd.SeedConfig.model_validate(
        {
            "source": {"seed_type": "local", "path": "data/*.parquet"},
            "sampling_strategy": "shuffle",
            "selection_strategy": {"kind": "partition_block", "index": 1, "num_partitions": 4},
        }
    )
    assert seed.sampling_strategy == "shuffle"
    assert seed.selection_strategy == dd.PartitionBlock(index=1, num_partitions=4)
    with pytest.raises(ValidationError):
        dd.SeedConfig.model_validate(
            {"source": {"seed_type": "local", "path": "x.csv"}, "sampling_strategy": "random"}
        )


def test_dataframe_seed_usable_but_not_serializable(tmp_path) -> None:
    df = pd.DataFrame({"topic": ["a", "b"], "n": [1, 2]})
    builder = dd.DataDesignerConfigBuilder(model_configs=MODELS)
    builder.with_seed_dataset(dd.DataFrameSeedSource(df=df), sampling_strategy="shuffle")
    builder.add_column(
        name="q", column_type="llm-text", prompt="{{ topic }} {{ n }}", model_alias="m"
    )
    config = builder.build()
    assert [c.name for c in config.columns] == ["topic", "n", "q"]
    assert dd.validate_config(config) == []
    assert len(config.fingerprint()) == 64
    with pytest.raises(ValueError, match="DataFrameSeedSource cannot be written"):
        config.to_dict()
    target = tmp_path / "config.yaml"
    with pytest.raises(ValueError, match="LocalFileSeedSource"):
        config.to_file(target)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temp file left


def test_with_seed_dataset_adds_seed_columns_once(tmp_path) -> None:
    path = tmp_path / "seed.csv"
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(path, index=False)
    builder = dd.DataDesignerConfigBuilder()
    builder.add_column(dd.SeedDatasetColumnConfig(name="a", drop=True))
    builder.with_seed_dataset(dd.LocalFileSeedSource(path=str(path)))
    assert [(c.name, c.drop) for c in builder.columns] == [("a", True), ("b", False)]


def test_with_seed_dataset_bad_sampling_strategy_raises_config_error() -> None:
    with pytest.raises(dd.ConfigValidationError) as info:
        dd.DataDesignerConfigBuilder().with_seed_dataset(
            dd.LocalFileSeedSource(path="x.csv"), sampling_strategy="sideways"
        )
    (issue,) = info.value.issues
    assert issue.field == "sampling_strategy"


# --- builder ----------------------------------------------------------------------------


def test_build_returns_independent_copy() -> None:
    builder = dd.DataDesignerConfigBuilder(model_configs=MODELS)
    builder.add_column(name="a", column_type="expression", expr="1")
    first = builder.build()
    builder.add_column(name="b", column_type="expression", expr="2")
    builder.delete_column("a")
    assert [c.name for c in first.columns] == ["a"]
    assert [c.name for c in builder.build().columns] == ["b"]


def test_from_config_and_model_config_replacement(tmp_path) -> None:
    builder = dd.DataDesignerConfigBuilder(model_configs=MODELS)
    builder.add_column(name="a", column_type="expression", expr="1")
    builder.add_processor(processor_type="drop_columns", name="d", column_names=["a"])
    config = builder.build()
    again = dd.DataDesignerConfigBuilder.from_config(config)
    again.add_model_config(dd.ModelConfig(alias="m", model="other"))
    assert [m.model for m in again.model_configs] == ["other"]
    assert config.model_configs[0].model == "some-model"
    path = config.to_file(tmp_path / "c.yaml")
    assert dd.DataDesignerConfigBuilder.from_config(path).build() == config


def test_add_processor_bad_kwargs_raise_config_error() -> None:
    with pytest.raises(dd.ConfigValidationError):
        dd.DataDesignerConfigBuilder().add_processor(processor_type="explode", name="x")


def test_column_lookup() -> None:
    config = (
        dd.DataDesignerConfigBuilder()
        .add_column(name="a", column_type="expression", expr="1")
        .build()
    )
    assert config.column("a").name == "a"
    with pytest.raises(KeyError):
        config.column("missing")
