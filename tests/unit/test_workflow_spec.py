"""WorkflowSpec: loading from YAML, shared models, and stage-aware validation."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import dd_prefect.config as dd
from dd_prefect.config.stage_chain import chain_problems

BASE_SPEC: dict[str, Any] = {
    "name": "qa-pipeline",
    "model_providers": [
        {
            "name": "nim",
            "endpoint": "https://integrate.api.nvidia.com/v1",
            "api_key": "NVIDIA_API_KEY",
        },
        {"name": "mock", "provider_type": "mock"},
    ],
    "model_configs": [
        {
            "alias": "writer",
            "model": "meta/llama-3.1-8b-instruct",
            "provider": "nim",
            "inference_parameters": {"temperature": 0.7, "max_parallel_requests": 16},
        },
        {"alias": "judge", "model": "mock-judge", "provider": "mock"},
    ],
    "run_config": {"buffer_size": 50, "max_concurrent_row_groups": 2, "seed": 7},
    "stages": [
        {
            "name": "questions",
            "num_records": 100,
            "config": {
                "columns": [
                    {
                        "name": "topic",
                        "column_type": "sampler",
                        "sampler_type": "category",
                        "params": {"values": ["math", "art"]},
                    },
                    {
                        "name": "difficulty",
                        "column_type": "sampler",
                        "sampler_type": "uniform",
                        "params": {"low": 1, "high": 5},
                        "drop": True,
                    },
                    {
                        "name": "question",
                        "column_type": "llm_text",
                        "model_alias": "writer",
                        "prompt": "Ask a level {{ difficulty }} question about {{ topic }}",
                    },
                ]
            },
        },
        {
            "name": "answers",
            "config": {
                "model_configs": [{"alias": "writer", "model": "stage-own-model"}],
                "columns": [
                    {
                        "name": "answer",
                        "column_type": "llm-text",
                        "model_alias": "writer",
                        "prompt": "Answer: {{ question }} ({{ topic }})",
                    },
                ],
                "processors": [
                    {
                        "processor_type": "schema_transform",
                        "name": "chat",
                        "template": {"q": "{{ question }}", "a": "{{ answer }}"},
                    },
                ],
            },
            "output": "processor:chat",
        },
        {
            "name": "graded",
            "sampling_strategy": "shuffle",
            "selection_strategy": {"kind": "index_range", "start": 0, "end": 9},
            "config": {
                "columns": [
                    {
                        "name": "grade",
                        "column_type": "llm-judge",
                        "model_alias": "judge",
                        "prompt": "Grade {{ a }} for {{ q }}",
                        "scores": [
                            {
                                "name": "correct",
                                "description": "Is it correct?",
                                "options": {0: "no", 1: "yes"},
                            }
                        ],
                    },
                ]
            },
        },
    ],
}


def spec_data() -> dict[str, Any]:
    return copy.deepcopy(BASE_SPEC)


HOOKS = "dd_spec_test_hooks"


@pytest.fixture
def hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable module of on_success callbacks (and things that are not)."""
    folder = tmp_path / "hooks"
    folder.mkdir()
    (folder / f"{HOOKS}.py").write_text(
        "def after_questions(stage_dir):\n    return None\n\n"
        "def reshape(stage_dir):\n    return None\n\n"
        "NOT_CALLABLE = 3\n",
        encoding="utf-8",
    )
    (folder / "dd_spec_broken_hooks.py").write_text(
        "raise RuntimeError('boom at import')\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(folder))
    for name in (HOOKS, "dd_spec_broken_hooks"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return HOOKS


def write(tmp_path: Path, data: dict[str, Any], name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def load_error(tmp_path: Path, data: dict[str, Any]) -> dd.ConfigValidationError:
    with pytest.raises(dd.ConfigValidationError) as info:
        dd.WorkflowSpec.from_file(write(tmp_path, data))
    return info.value


def issues_for(err: dd.ConfigValidationError, stage: str) -> list[dd.ConfigIssue]:
    return [i for i in err.issues if i.stage == stage]


# --- loading ----------------------------------------------------------------------------


def test_load_valid_spec(tmp_path: Path) -> None:
    spec = dd.WorkflowSpec.from_file(write(tmp_path, spec_data()))
    assert spec.name == "qa-pipeline"
    assert [p.name for p in spec.model_providers] == ["nim", "mock"]
    assert spec.model_providers[0].api_key == "NVIDIA_API_KEY"
    assert spec.run_config.buffer_size == 50
    assert spec.run_config.seed == 7
    assert spec.run_config.shutdown_error_rate == 0.5  # defaults kept
    assert [s.name for s in spec.stages] == ["questions", "answers", "graded"]
    assert spec.stages[0].num_records == 100
    assert spec.stages[1].output == "processor:chat"
    assert spec.stages[2].sampling_strategy == "shuffle"
    assert spec.stages[2].selection_strategy == dd.IndexRange(start=0, end=9)
    judge = spec.stages[2].config.column("grade")
    assert judge.scores[0].options == {0: "no", 1: "yes"}


def test_load_json_spec(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec_data()), encoding="utf-8")
    assert dd.WorkflowSpec.from_file(path) == dd.WorkflowSpec.from_file(
        write(tmp_path, spec_data())
    )


def test_stage_configs_get_shared_model_configs(tmp_path: Path) -> None:
    spec = dd.WorkflowSpec.from_file(write(tmp_path, spec_data()))
    first = spec.stage_config(spec.stages[0])
    assert [(m.alias, m.model) for m in first.model_configs] == [
        ("writer", "meta/llama-3.1-8b-instruct"),
        ("judge", "mock-judge"),
    ]
    second = spec.stage_config(spec.stages[1])  # its own "writer" wins
    assert [(m.alias, m.model) for m in second.model_configs] == [
        ("writer", "stage-own-model"),
        ("judge", "mock-judge"),
    ]
    # the stage's own config object is left as it was
    assert [m.alias for m in spec.stages[0].config.model_configs] == []
    assert first.columns == spec.stages[0].config.columns


def test_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(dd.ConfigValidationError, match="does not hold a mapping"):
        dd.WorkflowSpec.from_file(path)


def test_first_stage_seeded_from_file(tmp_path: Path) -> None:
    seed = tmp_path / "docs.parquet"
    pd.DataFrame({"doc": ["a"], "source": ["x"]}).to_parquet(seed, index=False)
    data = spec_data()
    first = data["stages"][0]
    del first["num_records"]
    first["config"]["seed_config"] = {"source": {"seed_type": "local", "path": str(seed)}}
    first["config"]["columns"][2]["prompt"] = "About {{ topic }} from {{ doc }}"
    data["stages"][1]["config"]["columns"][0]["prompt"] = "{{ question }} {{ source }}"
    dd.WorkflowSpec.from_file(write(tmp_path, data))
    data["stages"][1]["config"]["columns"][0]["prompt"] = "{{ question }} {{ nope }}"
    err = load_error(tmp_path, data)
    (issue,) = err.issues
    assert (issue.stage, issue.column) == ("answers", "answer")
    assert "nope" in issue.message


# --- stage-level problems ---------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "  ", ".", "..", "a/b", "what?", "x\\y", "a:b"])
def test_bad_stage_names(tmp_path: Path, bad: str) -> None:
    data = spec_data()
    data["stages"][2]["name"] = bad
    err = load_error(tmp_path, data)
    naming = [i for i in err.issues if i.field == "name"]
    assert len(naming) == 1
    assert naming[0].stage == bad
    assert "stage name" in naming[0].message
    assert f"stage '{bad}'" in str(err)


def test_bad_workflow_name(tmp_path: Path) -> None:
    data = spec_data()
    data["name"] = "a/b"
    (issue,) = load_error(tmp_path, data).issues
    assert issue.field == "name" and "workflow name" in issue.message


def test_duplicate_stage_names(tmp_path: Path) -> None:
    data = spec_data()
    data["stages"][2]["name"] = "answers"
    err = load_error(tmp_path, data)
    dup = [i for i in err.issues if "duplicate stage name" in i.message]
    assert len(dup) == 1 and dup[0].stage == "answers"


def test_no_stages(tmp_path: Path) -> None:
    data = spec_data()
    data["stages"] = []
    assert "at least one stage" in str(load_error(tmp_path, data))


def test_output_naming_unknown_processor(tmp_path: Path) -> None:
    data = spec_data()
    data["stages"][1]["output"] = "processor:chatty"
    err = load_error(tmp_path, data)
    issue = next(i for i in err.issues if i.field == "output")
    assert issue.stage == "answers"
    assert "unknown processor 'chatty'" in issue.message
    assert "known: chat" in issue.message


def test_output_neither_final_nor_processor(tmp_path: Path) -> None:
    data = spec_data()
    data["stages"][0]["output"] = "everything"
    issue = next(i for i in load_error(tmp_path, data).issues if i.field == "output")
    assert issue.stage == "questions"
    assert "'final' or 'processor:<name>'" in issue.message


def test_output_can_name_an_output_processor(tmp_path: Path) -> None:
    data = spec_data()
    data["stages"][2]["output_processors"] = [
        {"processor_type": "schema_transform", "name": "flat", "template": {"g": "{{ grade }}"}}
    ]
    data["stages"][2]["output"] = "processor:flat"
    dd.WorkflowSpec.from_file(write(tmp_path, data))


def test_duplicate_output_processor_names(tmp_path: Path) -> None:
    data = spec_data()
    proc = {"processor_type": "drop_columns", "name": "slim", "column_names": ["grade"]}
    data["stages"][2]["output_processors"] = [proc, proc]
    err = load_error(tmp_path, data)
    issue = next(i for i in err.issues if "duplicate output processor" in i.message)
    assert issue.stage == "graded"
    assert "'slim'" in issue.message


def test_output_processor_colliding_with_stage_processor(tmp_path: Path) -> None:
    data = spec_data()
    data["stages"][1]["output_processors"] = [
        {"processor_type": "drop_columns", "name": "chat", "column_names": ["answer"]}
    ]
    err = load_error(tmp_path, data)
    issue = next(i for i in err.issues if "collides" in i.message)
    assert issue.stage == "answers"
    assert "'chat'" in issue.message


def test_first_stage_without_num_records_or_seed(tmp_path: Path) -> None:
    data = spec_data()
    del data["stages"][0]["num_records"]
    (issue,) = load_error(tmp_path, data).issues
    assert (issue.stage, issue.field) == ("questions", "num_records")
    assert "needs num_records" in issue.message


def test_later_stage_with_its_own_seed(tmp_path: Path) -> None:
    seed = tmp_path / "extra.csv"
    pd.DataFrame({"question": ["q"], "topic": ["t"]}).to_csv(seed, index=False)
    data = spec_data()
    data["stages"][1]["config"]["seed_config"] = {
        "source": {"seed_type": "local", "path": str(seed)}
    }
    (issue,) = load_error(tmp_path, data).issues
    assert (issue.stage, issue.field) == ("answers", "config.seed_config")
    assert (
        "only the first stage (or a root stage, depends_on=[]) may have its own seed"
        in issue.message
    )


@pytest.mark.parametrize("bad", ["not_a_path", "pkg.module.function", "pkg:fn:x", "pkg:"])
def test_on_success_must_be_import_path(tmp_path: Path, bad: str) -> None:
    data = spec_data()
    data["stages"][1]["on_success"] = bad
    err = load_error(tmp_path, data)
    (issue,) = err.issues
    assert issue.stage == "answers"
    assert issue.field == "on_success"
    assert "pkg.module:function" in issue.message
    assert "stage 'answers'" in str(err)


def test_structural_errors_name_stage_and_column(tmp_path: Path) -> None:
    data = spec_data()
    del data["stages"][2]["config"]["columns"][0]["model_alias"]
    data["stages"][0]["num_records"] = -5
    err = load_error(tmp_path, data)
    by_stage = {i.stage: i for i in err.issues}
    assert set(by_stage) == {"questions", "graded"}
    assert by_stage["questions"].field == "num_records"
    assert by_stage["graded"].column == "grade"
    assert "model_alias" in by_stage["graded"].field
    assert "stage 'graded', column 'grade'" in str(err)


def test_literal_api_key_never_in_spec_error(tmp_path: Path) -> None:
    literal = "sk-abc123XYZ"
    data = spec_data()
    data["model_providers"][0]["api_key"] = literal
    err = load_error(tmp_path, data)
    assert literal not in str(err)
    assert all(literal not in str(i) for i in err.issues)
    assert any("api_key" in (i.field or "") for i in err.issues)


def test_good_on_success_accepted(tmp_path: Path, hooks: str) -> None:
    data = spec_data()
    data["stages"][0]["on_success"] = f"{hooks}:after_questions"
    spec = dd.WorkflowSpec.from_file(write(tmp_path, data))
    assert spec.stages[0].on_success == f"{hooks}:after_questions"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            "no_such_pkg_dd_prefect.hooks:after",
            "cannot import 'no_such_pkg_dd_prefect.hooks:after'",
        ),
        (f"{HOOKS}:missing", "has no attribute 'missing'"),
        (f"{HOOKS}:NOT_CALLABLE", "is not callable"),
        ("dd_spec_broken_hooks:anything", "RuntimeError: boom at import"),
    ],
)
def test_unimportable_on_success_reported(
    tmp_path: Path, hooks: str, target: str, expected: str
) -> None:
    data = spec_data()
    data["stages"][1]["on_success"] = target
    err = load_error(tmp_path, data)
    (issue,) = err.issues
    assert (issue.stage, issue.field) == ("answers", "on_success")
    assert expected in issue.message


# --- columns flowing between stages -----------------------------------------------------


def test_later_stage_referencing_unproduced_column(tmp_path: Path) -> None:
    data = spec_data()
    data["stages"][1]["config"]["columns"][0]["prompt"] = "{{ question }} {{ reference }}"
    err = load_error(tmp_path, data)
    (issue,) = err.issues
    assert (issue.stage, issue.column) == ("answers", "answer")
    assert "unknown column 'reference'" in issue.message
    assert "stage 'answers', column 'answer'" in str(err)


def test_later_stage_referencing_previous_stage_columns_validates(tmp_path: Path) -> None:
    spec = dd.WorkflowSpec.from_file(write(tmp_path, spec_data()))
    spec.validate_spec()  # and again on the loaded object


def test_dropped_column_is_not_passed_on(tmp_path: Path) -> None:
    data = spec_data()  # `difficulty` has drop: true in the first stage
    data["stages"][1]["config"]["columns"][0]["prompt"] = "{{ question }} {{ difficulty }}"
    (issue,) = load_error(tmp_path, data).issues
    assert (issue.stage, issue.column) == ("answers", "answer")
    assert "difficulty" in issue.message


def test_drop_processor_removes_columns_for_next_stage(tmp_path: Path) -> None:
    data = spec_data()
    data["stages"][0]["config"]["processors"] = [
        {"processor_type": "drop_columns", "name": "slim", "column_names": ["top*"]}
    ]
    (issue,) = load_error(tmp_path, data).issues
    assert (issue.stage, issue.column) == ("answers", "answer")
    assert "topic" in issue.message


def test_processor_output_columns_feed_the_next_stage(tmp_path: Path) -> None:
    data = spec_data()  # stage 2 outputs processor:chat -> columns q, a
    data["stages"][2]["config"]["columns"][0]["prompt"] = "Grade {{ answer }}"
    (issue,) = load_error(tmp_path, data).issues
    assert (issue.stage, issue.column) == ("graded", "grade")
    assert "answer" in issue.message


def test_stage_after_on_success_is_not_checked_for_references(tmp_path: Path, hooks: str) -> None:
    data = spec_data()
    data["stages"][0]["on_success"] = f"{hooks}:reshape"
    data["stages"][1]["config"]["columns"][0]["prompt"] = "{{ anything_at_all }}"
    data["stages"][1]["config"]["processors"][0]["template"] = {"q": "{{ whatever }}"}
    data["stages"][2]["config"]["columns"][0]["prompt"] = "{{ unknowable }}"
    dd.WorkflowSpec.from_file(write(tmp_path, data))


def test_stage_after_on_success_still_checked_otherwise(tmp_path: Path, hooks: str) -> None:
    data = spec_data()
    data["stages"][0]["on_success"] = f"{hooks}:reshape"
    data["stages"][1]["config"]["columns"][0]["model_alias"] = "nobody"
    (issue,) = load_error(tmp_path, data).issues
    assert (issue.stage, issue.column) == ("answers", "answer")
    assert "unknown model alias 'nobody'" in issue.message


def test_processor_only_later_stage_validates(tmp_path: Path) -> None:
    data = spec_data()
    data["stages"].append(
        {
            "name": "export",
            "output": "processor:flat",
            "config": {
                "processors": [
                    {
                        "processor_type": "schema_transform",
                        "name": "flat",
                        "template": {"text": "{{ q }} -> {{ a }}", "grade": "{{ grade }}"},
                    },
                ]
            },
        }
    )
    spec = dd.WorkflowSpec.from_file(write(tmp_path, data))
    assert spec.stages[-1].config.columns == []
    data["stages"][-1]["config"]["processors"][0]["template"]["extra"] = "{{ missing }}"
    (issue,) = load_error(tmp_path, data).issues
    assert (issue.stage, issue.field) == ("export", "processors[flat]")
    assert "unknown column 'missing'" in issue.message


def test_model_naming_unknown_provider(tmp_path: Path) -> None:
    data = spec_data()
    data["stages"][1]["config"]["model_configs"][0]["provider"] = "azure"
    (issue,) = load_error(tmp_path, data).issues
    assert issue.stage == "answers"
    assert "model 'writer' names unknown provider 'azure'" in issue.message


def test_duplicate_providers(tmp_path: Path) -> None:
    data = spec_data()
    data["model_providers"].append({"name": "nim", "endpoint": "https://x.test"})
    assert "duplicate model provider 'nim'" in str(load_error(tmp_path, data))


def test_many_problems_at_once_each_naming_its_stage(tmp_path: Path) -> None:
    data = spec_data()
    del data["stages"][0]["num_records"]
    data["stages"][1]["config"]["columns"][0]["model_alias"] = "nobody"
    data["stages"][2]["config"]["columns"][0]["prompt"] = "{{ ghost }}"
    data["stages"][2]["name"] = "bad/name"
    err = load_error(tmp_path, data)
    assert {i.stage for i in err.issues} == {"questions", "answers", "bad/name"}
    assert len(err.issues) == 4
    assert str(err).startswith("Invalid config (4 problems):")
    assert len(issues_for(err, "bad/name")) == 2


# --- output processors against the stage's main output ----------------------------------


def test_output_processors_referencing_main_output_validate(tmp_path: Path) -> None:
    data = spec_data()
    data["stages"][1]["output_processors"] = [
        {"processor_type": "drop_columns", "name": "slim", "column_names": ["top*"]},
        {
            "processor_type": "schema_transform",
            "name": "pair",
            "template": {"q": "{{ question }}", "a": "{{ answer }}"},
        },
    ]
    dd.WorkflowSpec.from_file(write(tmp_path, data))


@pytest.mark.parametrize(
    ("processor", "expected"),
    [
        (
            {"processor_type": "drop_columns", "name": "slim", "column_names": ["nothing*"]},
            "drops 'nothing*', which matches no column",
        ),
        (
            # dropped by the stage's config (drop: true) before output processors run
            {"processor_type": "drop_columns", "name": "slim", "column_names": ["difficulty"]},
            "drops 'difficulty', which matches no column",
        ),
        (
            {
                "processor_type": "schema_transform",
                "name": "slim",
                "template": {"x": "{{ ghost }}"},
            },
            "template references unknown column 'ghost'",
        ),
        (
            {"processor_type": "schema_transform", "name": "slim", "template": {"x": "{{ bad"}},
            "Jinja syntax error in template",
        ),
    ],
)
def test_output_processors_checked_against_main_output(
    tmp_path: Path, processor: dict, expected: str
) -> None:
    data = spec_data()
    data["stages"][0]["output_processors"] = [processor]
    err = load_error(tmp_path, data)
    (issue,) = err.issues
    assert (issue.stage, issue.field) == ("questions", "output_processors[slim]")
    assert expected in issue.message
    assert "stage 'questions', field 'output_processors[slim]'" in str(err)


def test_output_processors_see_the_stages_input_columns(tmp_path: Path) -> None:
    # the stage after `answers` gets q, a (processor:chat) and passes them through
    data = spec_data()
    data["stages"][2]["output_processors"] = [
        {
            "processor_type": "schema_transform",
            "name": "t",
            "template": {"x": "{{ q }} {{ grade }}"},
        }
    ]
    dd.WorkflowSpec.from_file(write(tmp_path, data))
    data["stages"][2]["output_processors"][0]["template"]["y"] = "{{ answer }}"
    (issue,) = load_error(tmp_path, data).issues
    assert (issue.stage, issue.field) == ("graded", "output_processors[t]")
    assert "unknown column 'answer'" in issue.message


def test_output_processors_after_unknown_input_only_syntax_checked(
    tmp_path: Path, hooks: str
) -> None:
    data = spec_data()
    data["stages"][0]["on_success"] = f"{hooks}:reshape"
    data["stages"][1]["config"]["processors"][0]["template"] = {"q": "{{ whatever }}"}
    data["stages"][1]["output_processors"] = [
        {"processor_type": "drop_columns", "name": "slim", "column_names": ["unknowable"]}
    ]
    dd.WorkflowSpec.from_file(write(tmp_path, data))
    data["stages"][1]["output_processors"].append(
        {"processor_type": "schema_transform", "name": "t", "template": {"x": "{{ bad"}}
    )
    (issue,) = load_error(tmp_path, data).issues
    assert (issue.stage, issue.field) == ("answers", "output_processors[t]")
    assert "Jinja syntax error" in issue.message


def test_duplicate_output_processors_reported_once(tmp_path: Path) -> None:
    data = spec_data()
    proc = {"processor_type": "drop_columns", "name": "slim", "column_names": ["grade"]}
    data["stages"][2]["output_processors"] = [proc, proc]
    err = load_error(tmp_path, data)
    assert [i.message for i in err.issues] == ["duplicate output processor 'slim'"]


def test_chain_problems_checks_output_processors_of_stages() -> None:
    """The path CompositeWorkflow takes (Stage.of, typed processors)."""
    builder = dd.DataDesignerConfigBuilder()
    builder.add_column(name="a", column_type="expression", expr="x")
    stage = dd.Stage.of(
        "only",
        builder,
        num_records=3,
        output_processors=[dd.DropColumnsProcessorConfig(name="d", column_names=["b"])],
    )
    (issue,) = chain_problems([stage])
    assert (issue.stage, issue.field) == ("only", "output_processors[d]")
    assert "drops 'b'" in issue.message


# --- sampling / selection on the first stage --------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sampling_strategy", "shuffle"),
        ("selection_strategy", {"kind": "index_range", "start": 0, "end": 1}),
        ("selection_strategy", {"kind": "partition_block", "index": 0, "num_partitions": 2}),
    ],
)
def test_first_stage_strategies_rejected(tmp_path: Path, field: str, value: Any) -> None:
    data = spec_data()
    data["stages"][0][field] = value
    err = load_error(tmp_path, data)
    (issue,) = err.issues
    assert (issue.stage, issue.field) == ("questions", field)
    assert "first stage's own seed (with_seed_dataset" in issue.message


def test_first_stage_with_both_strategies_gets_two_issues(tmp_path: Path) -> None:
    data = spec_data()
    data["stages"][0]["sampling_strategy"] = "shuffle"
    data["stages"][0]["selection_strategy"] = {"kind": "index_range", "start": 0, "end": 1}
    err = load_error(tmp_path, data)
    assert {(i.stage, i.field) for i in err.issues} == {
        ("questions", "sampling_strategy"),
        ("questions", "selection_strategy"),
    }


def test_first_stage_default_strategies_and_own_seed_strategies_accepted(tmp_path: Path) -> None:
    seed = tmp_path / "docs.parquet"
    pd.DataFrame({"doc": ["a", "b"]}).to_parquet(seed, index=False)
    data = spec_data()
    data["stages"][0]["sampling_strategy"] = "ordered"  # explicit default is fine
    data["stages"][0]["config"]["seed_config"] = {
        "source": {"seed_type": "local", "path": str(seed)},
        "sampling_strategy": "shuffle",
        "selection_strategy": {"kind": "index_range", "start": 0, "end": 0},
    }
    spec = dd.WorkflowSpec.from_file(write(tmp_path, data))
    assert spec.stages[2].sampling_strategy == "shuffle"  # later stages keep theirs


def test_stage_strategies_default_and_checked() -> None:
    config = dd.DataDesignerConfig()
    plain = dd.Stage.of("s", config, num_records=3)
    assert plain.sampling_strategy == dd.SamplingStrategy.ORDERED
    assert plain.selection_strategy is None
    assert chain_problems([plain]) == []
    shuffled = dd.Stage.of("s", config, num_records=3, sampling_strategy="shuffle")
    (issue,) = chain_problems([shuffled])
    assert issue.field == "sampling_strategy"
    later = dd.Stage.of("t", config, selection_strategy=dd.IndexRange(start=0, end=1))
    assert chain_problems([plain, later]) == []


# --- load_spec with a num_records override ----------------------------------------------


def test_load_spec_num_records_overrides_first_stage(tmp_path: Path) -> None:
    data = spec_data()
    del data["stages"][0]["num_records"]  # invalid without the override
    data["stages"][2]["num_records"] = 4
    path = write(tmp_path, data)
    with pytest.raises(dd.ConfigValidationError, match="needs num_records"):
        dd.load_spec(path)
    spec = dd.load_spec(path, num_records=5)
    assert [s.num_records for s in spec.stages] == [5, None, 4]


def test_load_spec_num_records_overrides_dataset(tmp_path: Path) -> None:
    config = {"columns": [{"name": "a", "column_type": "expression", "expr": "x"}]}
    plain = write(tmp_path, config, "plain.yaml")
    assert dd.load_spec(plain, num_records=3).num_records == 3
    dataset = write(tmp_path, {"name": "d", "num_records": 9, "config": config}, "d.yaml")
    assert dd.load_spec(dataset).num_records == 9
    assert dd.load_spec(dataset, num_records=2).num_records == 2
