"""validate_config: one test per problem it reports, and reporting them all at once."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import dd_prefect.config as dd

MODELS = [dd.ModelConfig(alias="m", model="some-model")]


def build(*columns: dict, processors: tuple[dict, ...] = (), seed=None) -> dd.DataDesignerConfig:
    builder = dd.DataDesignerConfigBuilder(model_configs=MODELS)
    for column in columns:
        builder.add_column(**column)
    for processor in processors:
        builder.add_processor(**processor)
    config = builder.build()
    if seed is not None:
        config = config.model_copy(update={"seed_config": seed})
    return config


def expr(name: str, source: str = "x", **kw) -> dict:
    return {"name": name, "column_type": "expression", "expr": source, **kw}


def text(name: str, prompt: str, **kw) -> dict:
    return {"name": name, "column_type": "llm-text", "prompt": prompt, "model_alias": "m", **kw}


def sampler(name: str, sampler_type: str, params: dict) -> dict:
    return {"name": name, "column_type": "sampler", "sampler_type": sampler_type, "params": params}


def issues_of(config: dd.DataDesignerConfig, **kwargs) -> list[dd.ConfigIssue]:
    return dd.validate_config(config, raise_on_error=False, **kwargs)


def only_issue(config: dd.DataDesignerConfig, **kwargs) -> dd.ConfigIssue:
    issues = issues_of(config, **kwargs)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


def test_valid_config_has_no_issues() -> None:
    config = build(
        sampler("topic", "category", {"values": ["a", "b"], "weights": [1, 3]}),
        sampler("sub", "subcategory", {"category": "topic", "values": {"a": ["x"], "b": ["y"]}}),
        sampler("when", "datetime", {"start": "2024-01-01", "end": "2024-06-01"}),
        sampler("later", "timedelta", {"dt_min": 1, "dt_max": 3, "reference_column_name": "when"}),
        sampler("who", "person", {"locale": "en_GB", "age_range": [18, 30]}),
        text("q", "Write about {{ topic }} / {{ sub }} for {{ who.first_name }}"),
        expr("e", "{{ q | length }}", dtype="int"),
        {"name": "c", "column_type": "custom", "function": "json:dumps", "required_columns": ["q"]},
        processors=(
            {"processor_type": "drop_columns", "name": "d", "column_names": ["su*"]},
            {"processor_type": "schema_transform", "name": "t", "template": {"x": "{{ q }}"}},
        ),
    )
    assert dd.validate_config(config) == []


def test_raises_by_default() -> None:
    config = build(text("q", "{{ nope }}"))
    with pytest.raises(dd.ConfigValidationError):
        dd.validate_config(config)


# --- templates and references -----------------------------------------------------------


def test_unknown_jinja_reference_names_column_and_reference() -> None:
    issue = only_issue(build(expr("a"), text("q", "About {{ a }} and {{ missing_thing }}")))
    assert issue.column == "q"
    assert "missing_thing" in issue.message
    assert "unknown column" in issue.message
    assert "'q'" in str(issue) and "missing_thing" in str(issue)


def test_unknown_reference_in_system_prompt() -> None:
    issue = only_issue(build(text("q", "hi", system_prompt="You are {{ persona }}")))
    assert (issue.column, "persona" in issue.message) == ("q", True)


def test_jinja_syntax_error_reported_not_raised() -> None:
    issue = only_issue(build(expr("a"), text("q", "About {{ a ")))
    assert issue.column == "q"
    assert "Jinja syntax error" in issue.message
    assert "prompt" in issue.message


def test_jinja_syntax_error_reported_with_other_problems() -> None:
    config = build(expr("bad", "{% if %}"), text("q", "{{ nothing }}"), expr("q"))
    issues = issues_of(config)
    messages = [str(i) for i in issues]
    assert any("Jinja syntax error" in m and "'bad'" in m for m in messages)
    assert any("nothing" in m for m in messages)
    assert any("duplicate column name" in m for m in messages)


def test_dependency_cycle() -> None:
    issue = only_issue(build(text("a", "{{ b }}"), text("b", "{{ a }}")))
    assert "dependency cycle" in issue.message
    assert "a -> b -> a" in issue.message


def test_self_reference() -> None:
    issue = only_issue(build(text("a", "more of {{ a }}")))
    assert issue.column == "a"
    assert "references itself" in issue.message


def test_duplicate_column_names() -> None:
    issue = only_issue(build(expr("a"), expr("a")))
    assert issue.column == "a"
    assert "duplicate column name" in issue.message


def test_unknown_model_alias() -> None:
    issue = only_issue(build({**text("q", "hi"), "model_alias": "gpt-9"}))
    assert issue.column == "q"
    assert "unknown model alias 'gpt-9'" in issue.message
    assert "known: m" in issue.message


def test_unknown_model_alias_for_every_llm_column_type() -> None:
    config = build(
        {"name": "c", "column_type": "llm-code", "prompt": "p", "model_alias": "x"},
        {
            "name": "s",
            "column_type": "llm-structured",
            "prompt": "p",
            "model_alias": "x",
            "output_format": {"type": "object"},
        },
        {
            "name": "j",
            "column_type": "llm-judge",
            "prompt": "p",
            "model_alias": "x",
            "scores": [{"name": "a", "description": "d", "options": {1: "x"}}],
        },
    )
    assert {i.column for i in issues_of(config)} == {"c", "s", "j"}


# --- samplers ---------------------------------------------------------------------------


def test_subcategory_without_category_parent() -> None:
    issue = only_issue(
        build(expr("topic"), sampler("sub", "subcategory", {"category": "topic", "values": {}}))
    )
    assert issue.column == "sub"
    assert "category sampler column 'topic'" in issue.message


def test_subcategory_with_missing_parent_column() -> None:
    issues = issues_of(build(sampler("sub", "subcategory", {"category": "nope", "values": {}})))
    messages = [i.message for i in issues]
    assert all(i.column == "sub" for i in issues)
    assert any("category sampler column 'nope'" in m for m in messages)
    assert any("unknown column 'nope'" in m for m in messages)


def test_subcategory_missing_values_for_parent_value() -> None:
    issue = only_issue(
        build(
            sampler("topic", "category", {"values": ["a", "b", 3]}),
            sampler("sub", "subcategory", {"category": "topic", "values": {"a": ["x"]}}),
        )
    )
    assert issue.column == "sub"
    assert "parent value(s): b, 3" in issue.message


def test_subcategory_empty_values_for_a_parent_value() -> None:
    issue = only_issue(
        build(
            sampler("topic", "category", {"values": ["a"]}),
            sampler("sub", "subcategory", {"category": "topic", "values": {"a": []}}),
        )
    )
    assert "must not be empty" in issue.message


def test_empty_category_values() -> None:
    issue = only_issue(build(sampler("c", "category", {"values": []})))
    assert (issue.column, issue.message) == ("c", "category values must not be empty")


def test_weights_length_mismatch() -> None:
    issue = only_issue(build(sampler("c", "category", {"values": ["a", "b"], "weights": [1]})))
    assert issue.column == "c"
    assert "weights has 1 entries but values has 2" in issue.message


@pytest.mark.parametrize("weights", [[1, -1], [0, 0]])
def test_negative_or_zero_weights(weights: list[float]) -> None:
    issue = only_issue(build(sampler("c", "category", {"values": ["a", "b"], "weights": weights})))
    assert "non-negative with a positive sum" in issue.message


@pytest.mark.parametrize(
    ("sampler_type", "params", "fragment"),
    [
        ("uniform", {"low": 1, "high": 1}, "uniform needs low < high"),
        ("uniform", {"low": 2, "high": 1}, "uniform needs low < high"),
        ("gaussian", {"mean": 0, "stddev": 0}, "gaussian needs stddev > 0"),
        ("gaussian", {"mean": 0, "stddev": -1}, "gaussian needs stddev > 0"),
        ("bernoulli", {"p": 1.5}, "bernoulli needs 0 <= p <= 1"),
        ("bernoulli", {"p": -0.1}, "bernoulli needs 0 <= p <= 1"),
        ("binomial", {"n": -1, "p": 0.5}, "binomial needs n >= 0"),
        ("binomial", {"n": 3, "p": 2}, "binomial needs n >= 0 and 0 <= p <= 1"),
        ("poisson", {"mean": 0}, "poisson needs mean > 0"),
        ("poisson", {"mean": -2}, "poisson needs mean > 0"),
        ("datetime", {"start": "2024-02-01", "end": "2024-01-01"}, "datetime needs start < end"),
        ("datetime", {"start": "2024-01-01", "end": "2024-01-01"}, "datetime needs start < end"),
        ("datetime", {"start": "yesterday", "end": "2024-01-01"}, "must be ISO dates"),
        ("datetime", {"start": "2024-01-01", "end": "01/02/2024"}, "must be ISO dates"),
        ("person", {"locale": "xx_YY"}, "unknown Faker locale 'xx_YY'"),
        ("person", {"age_range": [40, 20]}, "age_range"),
        ("person", {"age_range": [-1, 20]}, "age_range"),
        ("person", {"age_range": [20]}, "age_range"),
    ],
)
def test_sampler_param_problems(sampler_type: str, params: dict, fragment: str) -> None:
    issue = only_issue(build(sampler("s", sampler_type, params)))
    assert issue.column == "s"
    assert fragment in issue.message


def test_datetime_mixing_aware_and_naive_reported_not_raised() -> None:
    params = {"start": "2024-01-01T00:00:00+00:00", "end": "2024-02-01"}
    issue = only_issue(build(sampler("d", "datetime", params)))
    assert issue.column == "d"
    assert "time zone" in issue.message


def test_datetime_aware_bounds_are_compared() -> None:
    ok = {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-01T00:00:00-01:00"}
    assert issues_of(build(sampler("d", "datetime", ok))) == []


def test_timedelta_without_datetime_reference() -> None:
    config = build(
        sampler("n", "uniform", {"low": 0, "high": 1}),
        sampler("t", "timedelta", {"dt_min": 0, "dt_max": 2, "reference_column_name": "n"}),
    )
    issue = only_issue(config)
    assert issue.column == "t"
    assert "reference column 'n' must be a datetime sampler column" in issue.message


def test_timedelta_with_missing_reference_and_bad_range() -> None:
    config = build(
        sampler("t", "timedelta", {"dt_min": 5, "dt_max": 2, "reference_column_name": "w"}),
    )
    messages = [i.message for i in issues_of(config)]
    assert any("dt_min < dt_max" in m for m in messages)
    assert any("must be a datetime sampler column" in m for m in messages)
    assert any("unknown column 'w'" in m for m in messages)


# --- llm-structured / llm-judge / custom ------------------------------------------------


def test_structured_column_needs_schema() -> None:
    config = build(
        {
            "name": "s",
            "column_type": "llm-structured",
            "prompt": "p",
            "model_alias": "m",
            "output_format": {},
        }
    )
    assert "non-empty JSON schema" in only_issue(config).message


def structured(schema: dict) -> dict:
    return {
        "name": "s",
        "column_type": "llm-structured",
        "prompt": "p",
        "model_alias": "m",
        "output_format": schema,
    }


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"type": "objekt"}, "$.type"),
        ({"type": "object", "required": "a"}, "$.required"),
        ({"type": "object", "properties": {"a": {"type": 3}}}, "$.properties.a.type"),
        ({"type": "object", "additionalProperties": "no"}, "$.additionalProperties"),
    ],
)
def test_structured_schema_must_be_a_valid_json_schema(schema: dict, where: str) -> None:
    issue = only_issue(build(structured(schema)))
    assert (issue.column, issue.field) == ("s", "output_format")
    assert "not a valid JSON schema" in issue.message
    assert where in issue.message


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "array"},
        {"$schema": "https://example.test/unknown-draft", "type": "object"},
    ],
)
def test_structured_valid_json_schemas_pass(schema: dict) -> None:
    assert issues_of(build(structured(schema))) == []


def test_structured_schema_from_pydantic_model_passes() -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        text: str
        confidence: float

    assert issues_of(build(structured(Answer))) == []


def test_judge_problems() -> None:
    score = {"name": "a", "description": "d", "options": {}}
    config = build(
        {
            "name": "j",
            "column_type": "llm-judge",
            "prompt": "p",
            "model_alias": "m",
            "scores": [score, score],
        }
    )
    messages = [i.message for i in issues_of(config)]
    assert "score 'a' has no options" in messages
    assert "duplicate score name 'a'" in messages
    none = build(
        {"name": "j", "column_type": "llm-judge", "prompt": "p", "model_alias": "m", "scores": []}
    )
    assert "at least one score" in only_issue(none).message


@pytest.mark.parametrize(
    "function", ["no_such_module_xyz:fn", "json:no_such_function", "json.nope.deeper:fn"]
)
def test_custom_function_that_cannot_be_imported(function: str) -> None:
    issue = only_issue(build({"name": "c", "column_type": "custom", "function": function}))
    assert issue.column == "c"
    assert f"cannot import function '{function}'" in issue.message


def test_custom_function_module_failing_at_import(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "dd_broken_user_module.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "dd_broken_user_module", raising=False)
    issue = only_issue(
        build({"name": "c", "column_type": "custom", "function": "dd_broken_user_module:f"})
    )
    assert issue.column == "c"
    assert "cannot import function" in issue.message
    assert "boom at import" in issue.message


def test_custom_function_not_callable() -> None:
    issue = only_issue(build({"name": "c", "column_type": "custom", "function": "json:__all__"}))
    assert "not callable" in issue.message


def test_custom_required_columns_must_exist() -> None:
    issue = only_issue(
        build(
            {
                "name": "c",
                "column_type": "custom",
                "function": "json:dumps",
                "required_columns": ["ghost"],
            }
        )
    )
    assert (issue.column, "unknown column 'ghost'" in issue.message) == ("c", True)


# --- seeds ------------------------------------------------------------------------------

SeedWriter = Callable[[pd.DataFrame, Path], None]
WRITERS: dict[str, SeedWriter] = {
    "parquet": lambda df, p: df.to_parquet(p, index=False),
    "csv": lambda df, p: df.to_csv(p, index=False),
    "jsonl": lambda df, p: df.to_json(p, orient="records", lines=True),
}


def seed_of(path: Path | str) -> dd.SeedConfig:
    return dd.SeedConfig(source=dd.LocalFileSeedSource(path=str(path)))


def test_seed_path_matching_no_file(tmp_path: Path) -> None:
    config = build(text("q", "{{ topic }}"), seed=seed_of(tmp_path / "nothing-*.parquet"))
    issue = only_issue(config)  # references can't be checked without the seed's columns
    assert issue.field == "seed_config.source.path"
    assert "matches no file" in issue.message


def test_seed_single_path_missing(tmp_path: Path) -> None:
    issue = only_issue(build(seed=seed_of(tmp_path / "missing.csv")))
    assert "matches no file" in issue.message


def test_unsupported_seed_file_suffix(tmp_path: Path) -> None:
    path = tmp_path / "seed.txt"
    path.write_text("topic\na\n")
    issue = only_issue(build(text("q", "{{ topic }}"), seed=seed_of(path)))
    assert issue.field == "seed_config.source.path"
    assert "unsupported seed file 'seed.txt'" in issue.message


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_seed_columns_count_as_known(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"seed.{fmt}"
    WRITERS[fmt](pd.DataFrame({"topic": ["a", "b"], "level": [1, 2]}), path)
    config = build(text("q", "{{ topic }} at {{ level }}"), seed=seed_of(path))
    assert dd.validate_config(config) == []
    bad = build(text("q", "{{ topic }} {{ colour }}"), seed=seed_of(path))
    issue = only_issue(bad)
    assert "colour" in issue.message


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_seed_glob_reads_columns(tmp_path: Path, fmt: str) -> None:
    for i in range(2):
        WRITERS[fmt](pd.DataFrame({"topic": [f"t{i}"]}), tmp_path / f"part-{i}.{fmt}")
    config = build(text("q", "{{ topic }}"), seed=seed_of(tmp_path / f"part-*.{fmt}"))
    assert dd.validate_config(config) == []


def test_seed_columns_declared_with_builder(tmp_path: Path) -> None:
    path = tmp_path / "seed.parquet"
    WRITERS["parquet"](pd.DataFrame({"topic": ["a"]}), path)
    builder = dd.DataDesignerConfigBuilder(model_configs=MODELS)
    builder.with_seed_dataset(dd.LocalFileSeedSource(path=str(path)), sampling_strategy="shuffle")
    builder.add_column(**text("q", "{{ topic }}"))
    assert dd.validate_config(builder.build()) == []


def test_declared_seed_column_missing_from_seed(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    WRITERS["csv"](pd.DataFrame({"topic": ["a"]}), path)
    config = build({"name": "ghost", "column_type": "seed-dataset"}, seed=seed_of(path))
    issue = only_issue(config)
    assert issue.column == "ghost"
    assert "seed has no such column" in issue.message


def test_seed_pending_skips_unknown_reference_checks() -> None:
    config = build(
        text("q", "{{ from_earlier_stage }}"),
        {"name": "input_col", "column_type": "seed-dataset"},
        processors=({"processor_type": "drop_columns", "name": "d", "column_names": ["zz*"]},),
    )
    assert dd.validate_config(config, seed_columns=dd.SEED_PENDING) == []
    assert len(issues_of(config)) == 3  # the same config with nothing seeded


def test_seed_pending_still_reports_other_problems() -> None:
    config = build(text("q", "{{ whatever }}"), sampler("p", "poisson", {"mean": 0}))
    issue = only_issue(config, seed_columns=dd.SEED_PENDING)
    assert issue.column == "p"


def test_explicit_seed_columns() -> None:
    config = build(text("q", "{{ topic }} {{ level }}"))
    assert dd.validate_config(config, seed_columns=["topic", "level"]) == []
    issue = only_issue(config, seed_columns=["topic"])
    assert (issue.column, "unknown column 'level'" in issue.message) == ("q", True)


def test_stage_named_in_every_issue() -> None:
    config = build(text("q", "{{ a }}"), expr("q"))
    issues = issues_of(config, stage="stage-2")
    assert issues and all(i.stage == "stage-2" for i in issues)
    assert all("stage 'stage-2'" in str(i) for i in issues)


# --- many problems at once --------------------------------------------------------------


def test_several_problems_reported_at_once() -> None:
    config = build(
        text("q", "{{ missing }}"),
        {**text("r", "hi"), "model_alias": "nope"},
        sampler("u", "uniform", {"low": 5, "high": 1}),
        expr("dup"),
        expr("dup"),
        processors=({"processor_type": "drop_columns", "name": "d", "column_names": ["zzz"]},),
    )
    with pytest.raises(dd.ConfigValidationError) as info:
        dd.validate_config(config)
    err = info.value
    assert len(err.issues) == 5
    text_of = str(err)
    assert text_of.startswith("Invalid config (5 problems):")
    for issue in err.issues:
        assert str(issue) in text_of
    for fragment in ("missing", "nope", "low < high", "duplicate column name", "zzz"):
        assert fragment in text_of


def test_single_problem_message_format() -> None:
    with pytest.raises(dd.ConfigValidationError) as info:
        dd.validate_config(build(text("q", "{{ nope }}")))
    assert str(info.value) == "Invalid config: column 'q': references unknown column 'nope'"


# --- processors -------------------------------------------------------------------------


def test_drop_columns_pattern_matching_nothing() -> None:
    config = build(
        expr("keep_a"),
        expr("keep_b"),
        processors=(
            {"processor_type": "drop_columns", "name": "d", "column_names": ["keep_*", "nope*"]},
        ),
    )
    issue = only_issue(config)
    assert issue.field == "processors[d]"
    assert "drops 'nope*', which matches no column" in issue.message


def test_drop_columns_pattern_matches_seed_column() -> None:
    config = build(
        expr("a"),
        processors=({"processor_type": "drop_columns", "name": "d", "column_names": ["top*"]},),
    )
    assert dd.validate_config(config, seed_columns=["topic"]) == []


def test_drop_columns_needs_names() -> None:
    config = build(
        expr("a"),
        processors=({"processor_type": "drop_columns", "name": "d", "column_names": []},),
    )
    assert "at least one column name" in only_issue(config).message


def test_schema_transform_unknown_column() -> None:
    template = {"out": {"nested": ["{{ a }}", "{{ ghost }}"]}, "n": 3}
    config = build(
        expr("a"),
        processors=({"processor_type": "schema_transform", "name": "t", "template": template},),
    )
    issue = only_issue(config)
    assert issue.field == "processors[t]"
    assert "unknown column 'ghost'" in issue.message


def test_schema_transform_syntax_error() -> None:
    config = build(
        expr("a"),
        processors=(
            {"processor_type": "schema_transform", "name": "t", "template": {"x": "{{ a"}},
        ),
    )
    assert "Jinja syntax error in template" in only_issue(config).message


def test_duplicate_processor_names_and_model_aliases() -> None:
    config = build(
        expr("a"),
        processors=(
            {"processor_type": "drop_columns", "name": "p", "column_names": ["a"]},
            {"processor_type": "schema_transform", "name": "p", "template": {"x": "{{ a }}"}},
        ),
    )
    config = config.model_copy(update={"model_configs": [*MODELS, *MODELS]})
    messages = [i.message for i in issues_of(config)]
    assert "duplicate processor name 'p'" in messages
    assert "duplicate model alias 'm'" in messages


def test_seed_path_under_unknown_home_reported_not_raised() -> None:
    source = dd.LocalFileSeedSource(path="~no_such_user_dd_prefect/seed.csv")
    issue = only_issue(build(text("q", "{{ topic }}"), seed=dd.SeedConfig(source=source)))
    assert "matches no file" in issue.message
    builder = dd.DataDesignerConfigBuilder().with_seed_dataset(source)  # no crash either
    assert builder.columns == []


# --- convert_to against category values -------------------------------------------------


def converted(name: str, sampler_type: str, params: dict, to: str) -> dict:
    return {**sampler(name, sampler_type, params), "convert_to": to}


@pytest.mark.parametrize(
    ("values", "to", "bad"),
    [
        (["a", "b"], "int", "'a', 'b'"),
        (["1", "x"], "float", "'x'"),
        ([1.0, float("nan")], "int", "nan"),
        ([True, 2], "float", "True"),  # mixed bool/number values are sampled as strings
    ],
)
def test_category_values_that_convert_to_cannot_convert(values, to, bad) -> None:
    issue = only_issue(build(converted("c", "category", {"values": values}, to)))
    assert issue.column == "c"
    assert f"convert_to '{to}' fails for value(s) {bad}" == issue.message


@pytest.mark.parametrize(
    ("values", "to"),
    [
        (["1", "2.5", " 3 ", "1e3"], "int"),
        (["1", "2.5"], "float"),
        ([1, 2], "float"),
        ([True, False], "int"),
        ([1.0, float("nan")], "float"),
        (["a", "b"], "str"),
    ],
)
def test_category_values_that_convert(values, to) -> None:
    assert issues_of(build(converted("c", "category", {"values": values}, to))) == []


def test_subcategory_values_checked_for_convert_to() -> None:
    config = build(
        sampler("topic", "category", {"values": ["a", "b"]}),
        converted(
            "n",
            "subcategory",
            {"category": "topic", "values": {"a": ["1"], "b": ["2", "x"]}},
            "int",
        ),
    )
    issue = only_issue(config)
    assert issue.column == "n"
    assert "convert_to 'int' fails for value(s) 'x'" in issue.message


def test_convert_to_problems_match_the_sampler_engine() -> None:
    """Whatever validation accepts, generation converts (and what it rejects, fails)."""
    from dd_prefect.engine.samplers import sample_columns

    cases = [["a", "1"], ["1", "2.5"], [1.0, float("nan")], [True, 2], [True, False], [3, 4]]
    for values in cases:
        for to in ("int", "float"):
            config = build(converted("c", "category", {"values": values}, to))
            reported = bool(issues_of(config))
            try:
                sample_columns(
                    config.columns,
                    pd.DataFrame(index=pd.RangeIndex(20)),
                    start=0,
                    seed=1,
                    fingerprint="f",
                )
                failed = False
            except ValueError:
                failed = True
            assert reported == failed, (values, to)
