"""The ``dd-prefect`` CLI in process: error mapping, argument checks, -n, workflow preview.

Nothing here talks to a Prefect server: runs are faked, previews use the bundled mock LLM.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from dd_prefect import cli
from dd_prefect.errors import ConfigIssue, ConfigValidationError, ResumeError
from dd_prefect.workflow.resume import ResumeMode


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dd-prefect: error: ")
    assert "Traceback" not in err
    return lines[0].removeprefix("dd-prefect: error: ")


MOCK = {"name": "mock", "provider_type": "mock"}
MODEL = {"alias": "fast", "model": "mock-model", "provider": "mock"}


def dataset_spec(**extra: Any) -> dict[str, Any]:
    return {
        "name": "tiny",
        "num_records": 3,
        "config": {"columns": [{"name": "a", "column_type": "expression", "expr": "x"}]},
        **extra,
    }


def workflow_spec(tmp_path: Path) -> dict[str, Any]:
    """doc-qa-like: seeded drafts (+ output processors) -> chat (processor output) -> last."""
    seed = tmp_path / "passages.jsonl"
    pd.DataFrame({"doc_id": range(6), "text": [f"passage {i}" for i in range(6)]}).to_json(
        seed, orient="records", lines=True
    )
    return {
        "name": "wf",
        "model_providers": [MOCK],
        "model_configs": [MODEL],
        "run_config": {"buffer_size": 4, "seed": 3},
        "stages": [
            {
                "name": "drafts",
                "config": {
                    "seed_config": {"source": {"seed_type": "local", "path": str(seed)}},
                    "columns": [
                        {
                            "name": "question",
                            "column_type": "llm-text",
                            "model_alias": "fast",
                            "prompt": "Ask about {{ text }}",
                        },
                        {
                            "name": "answer",
                            "column_type": "expression",
                            "expr": "A{{ doc_id }}",
                        },
                    ],
                },
                "output_processors": [
                    {"processor_type": "drop_columns", "name": "scratch", "column_names": ["text"]}
                ],
            },
            {
                "name": "chat",
                "output": "processor:chatml",
                "config": {
                    "processors": [
                        {
                            "processor_type": "schema_transform",
                            "name": "chatml",
                            "template": {"user": "{{ question }}", "bot": "{{ answer }}"},
                        }
                    ]
                },
            },
            {
                "name": "last",
                "selection_strategy": {"kind": "index_range", "start": 1, "end": 2},
                "config": {
                    "columns": [{"name": "pair", "column_type": "expression", "expr": "{{ bot }}!"}]
                },
            },
        ],
    }


# --- error mapping ----------------------------------------------------------------------


class APIConnectionError(Exception):  # the name an openai error would have
    pass


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (ValueError("pyarrow says\nno"), "ValueError: pyarrow says no"),
        (RuntimeError("boom"), "RuntimeError: boom"),
        (RuntimeError(), "RuntimeError"),
        (ImportError("No module named 'x'"), "ImportError: No module named 'x'"),
        (APIConnectionError("Connection error."), "APIConnectionError: Connection error."),
        (asyncio.CancelledError(), "CancelledError"),
        (KeyError("col"), "KeyError: 'col'"),
    ],
)
def test_runtime_failures_are_one_line_exit_1(monkeypatch, capsys, tmp_path, exc, line) -> None:
    def fail(args: Any) -> int:
        raise exc

    monkeypatch.setattr(cli, "_validate", fail)
    assert cli.main(["validate", str(tmp_path / "spec.yaml")]) == 1
    assert one_error_line(capsys) == line


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (
            ConfigValidationError([ConfigIssue("bad", column="c"), ConfigIssue("worse")]),
            "column 'c': bad; worse",
        ),
        (ResumeError("cannot resume 'x': no metadata.json"), "cannot resume 'x': no metadata.json"),
        (cli.BadInput("no stage 'x'"), "no stage 'x'"),
    ],
)
def test_bad_input_errors_exit_2(monkeypatch, capsys, tmp_path, exc, line) -> None:
    def fail(args: Any) -> int:
        raise exc

    monkeypatch.setattr(cli, "_validate", fail)
    assert cli.main(["validate", str(tmp_path / "spec.yaml")]) == 2
    assert one_error_line(capsys) == line


def test_keyboard_interrupt_exits_130(monkeypatch, capsys, tmp_path) -> None:
    def fail(args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_validate", fail)
    assert cli.main(["validate", str(tmp_path / "spec.yaml")]) == 130
    assert one_error_line(capsys) == "interrupted"


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (
            ["run", "s.yaml", "--resume", "sometimes"],
            ["unknown resume mode 'sometimes'", "if_possible"],
        ),
        (["run", "s.yaml", "-n", "-1"], ["-n/--num-records", "must be >= 0"]),
        (["preview", "s.yaml", "-n", "many"], ["-n/--num-records", "whole number"]),
        (["run"], ["required", "spec"]),
        (["launch", "s.yaml"], ["invalid choice: 'launch'"]),
    ],
)
def test_argument_problems_are_one_line_exit_2(capsys, argv, fragments) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    line = one_error_line(capsys)
    for fragment in fragments:
        assert fragment in line


def test_resume_mode_is_parsed_with_the_arguments() -> None:
    args = cli._parser().parse_args(["run", "s.yaml", "--resume", "If-Possible"])
    assert args.resume is ResumeMode.IF_POSSIBLE
    assert cli._parser().parse_args(["run", "s.yaml"]).resume is ResumeMode.NEVER


def test_bad_dataset_name_is_bad_input(capsys, tmp_path) -> None:
    spec = write(tmp_path / "spec.yaml", dataset_spec(name="a/b"))
    assert cli.main(["validate", str(spec)]) == 2
    assert "dataset name 'a/b'" in one_error_line(capsys)


# --- run -n ------------------------------------------------------------------------------


def _fake_run_spec(monkeypatch, seen: dict[str, Any], result: Any = None) -> None:
    """Replace the CLI's run with a recorder of what it was asked to run."""
    from dd_prefect.orchestration import spec_runner

    async def fake(spec: Any, runtime: Any, resume: Any, **kwargs: Any) -> Any:
        seen["spec"], seen["resume"] = spec, resume
        if result is None:
            raise RuntimeError("stop here")
        return result

    monkeypatch.setattr(spec_runner, "run_spec", fake)


def test_run_n_overrides_the_first_stage_of_a_workflow(monkeypatch, capsys, tmp_path) -> None:
    from dd_prefect.workflow.results import CompositeWorkflowResults

    seen: dict[str, Any] = {}
    _fake_run_spec(monkeypatch, seen, CompositeWorkflowResults("wf", Path("wf"), {}))
    data = workflow_spec(tmp_path)
    data["stages"][1]["num_records"] = 8
    spec = write(tmp_path / "wf.yaml", data)
    argv = ["run", str(spec), "--artifact-path", str(tmp_path / "art"), "-n", "4"]
    assert cli.main([*argv, "--resume", "if_possible"]) == 0, capsys.readouterr().err
    assert [s.num_records for s in seen["spec"].stages] == [4, 8, None]
    assert seen["resume"] == ResumeMode.IF_POSSIBLE


def test_run_n_makes_a_first_stage_without_num_records_valid(monkeypatch, tmp_path) -> None:
    from dd_prefect.workflow.results import CompositeWorkflowResults

    seen: dict[str, Any] = {}
    _fake_run_spec(monkeypatch, seen, CompositeWorkflowResults("wf", Path("wf"), {}))
    data = workflow_spec(tmp_path)
    del data["stages"][0]["config"]["seed_config"]
    data["stages"][0]["config"]["columns"][0]["prompt"] = "Ask"
    data["stages"][0]["config"]["columns"][1]["expr"] = "A"
    data["stages"][0]["output_processors"] = []
    spec = write(tmp_path / "wf.yaml", data)
    assert cli.main(["run", str(spec), "--artifact-path", str(tmp_path / "art")]) == 2
    assert "spec" not in seen  # refused before anything runs
    assert cli.main(["run", str(spec), "--artifact-path", str(tmp_path / "art"), "-n", "2"]) == 0
    assert seen["spec"].stages[0].num_records == 2


def test_run_n_overrides_a_dataset_specs_num_records(monkeypatch, tmp_path) -> None:
    seen: dict[str, Any] = {}
    _fake_run_spec(monkeypatch, seen)
    spec = write(tmp_path / "d.yaml", dataset_spec())
    assert cli.main(["run", str(spec), "-n", "7", "--artifact-path", str(tmp_path / "a")]) == 1
    assert (seen["spec"].num_records, seen["spec"].name) == (7, "tiny")
    assert seen["resume"] == ResumeMode.NEVER
    assert cli.main(["run", str(spec), "--artifact-path", str(tmp_path / "a")]) == 1
    assert seen["spec"].num_records == 3


# --- preview of workflow stages ----------------------------------------------------------


def preview_workflow(spec: Any, stage: str, num_records: int) -> Any:
    """Preview a workflow stage as `dd-prefect preview --stage` does (the library API)."""
    from dd_prefect import DataDesigner

    designer = DataDesigner(model_providers=spec.model_providers, run_config=spec.run_config)
    return designer.workflow_from_spec(spec).preview(stage, num_records)


def test_preview_later_stage_is_seeded_by_the_stages_before_it(tmp_path) -> None:
    from dd_prefect.config.workflow_spec import load_spec

    spec = load_spec(write(tmp_path / "wf.yaml", workflow_spec(tmp_path)))
    chat = preview_workflow(spec, "chat", 3)
    # drafts: 6 seed rows capped at max(3, 10) -> 6; its output processor dropped `text`
    assert list(chat.dataset.columns) == ["doc_id", "question", "answer"]
    assert len(chat.dataset) == 3  # -n caps the previewed stage
    assert chat.output == "processor:chatml"
    assert list(chat.selected.columns) == ["user", "bot"]
    assert chat.selected["bot"].tolist() == ["A0", "A1", "A2"]
    assert chat.selected["user"].str.contains("Mock").all()
    assert chat.errors == {} and chat.notes == []

    # `last` reads chat's selected output (processor:chatml), rows 1..2 of it
    last = preview_workflow(spec, "last", 10)
    assert list(last.dataset.columns) == ["user", "bot", "pair"]
    assert last.dataset["pair"].tolist() == ["A1!", "A2!"]

    first = preview_workflow(spec, "drafts", 4)
    assert list(first.dataset.columns) == ["doc_id", "question", "answer"]
    assert first.dataset["doc_id"].tolist() == [0, 1, 2, 3]


def test_preview_sampling_strategy_and_num_records_of_a_later_stage(tmp_path) -> None:
    from dd_prefect.config.workflow_spec import load_spec

    data = workflow_spec(tmp_path)
    data["stages"][1]["num_records"] = 12  # explode 6 -> 12, capped at max(n, 10)
    data["stages"][2]["selection_strategy"] = None
    data["stages"][2]["sampling_strategy"] = "shuffle"
    spec = load_spec(write(tmp_path / "wf.yaml", data))
    chat = preview_workflow(spec, "chat", 20)
    assert len(chat.dataset) == 12
    assert chat.selected["bot"].tolist() == [f"A{i % 6}" for i in range(12)]
    last = preview_workflow(spec, "last", 3)  # chat makes max(3, 10) = 10
    assert len(last.dataset) == 3
    assert set(last.dataset["pair"]) <= {f"A{i}!" for i in range(6)}


def test_preview_notes_on_success_not_run(tmp_path, monkeypatch) -> None:
    from dd_prefect.config.workflow_spec import load_spec

    data = workflow_spec(tmp_path)
    data["stages"][0]["on_success"] = "dd_prefect.examples.callbacks:keep_helpful"
    spec = load_spec(write(tmp_path / "wf.yaml", data))
    preview = preview_workflow(spec, "chat", 2)
    assert preview.notes == [
        "stage 'drafts': on_success dd_prefect.examples.callbacks:keep_helpful is not run "
        "in a preview"
    ]


def test_preview_config_problem_names_the_stage(tmp_path) -> None:
    from dd_prefect.config.workflow_spec import load_spec

    data = workflow_spec(tmp_path)
    # after a callback the input is unknown, so validation can't catch this reference
    data["stages"][0]["on_success"] = "dd_prefect.examples.callbacks:keep_helpful"
    data["stages"][1]["config"]["processors"][0]["template"]["extra"] = "{{ made_by_callback }}"
    spec = load_spec(write(tmp_path / "wf.yaml", data))
    with pytest.raises(ConfigValidationError) as info:
        preview_workflow(spec, "chat", 2)
    (issue,) = info.value.issues
    assert issue.stage == "chat"
    assert "made_by_callback" in issue.message


def test_preview_command_prints_the_stage_and_its_selected_output(capsys, tmp_path) -> None:
    spec = write(tmp_path / "wf.yaml", workflow_spec(tmp_path))
    assert cli.main(["preview", str(spec), "--stage", "chat", "-n", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["doc_id", "question", "answer"]
    assert "selected output (processor:chatml):" in out
    assert out[-1] == "2 record(s); errors: none"


def test_preview_unknown_stage_and_stage_of_a_dataset_are_bad_input(capsys, tmp_path) -> None:
    spec = write(tmp_path / "wf.yaml", workflow_spec(tmp_path))
    assert cli.main(["preview", str(spec), "--stage", "nope"]) == 2
    assert one_error_line(capsys) == (
        "no stage 'nope' in workflow 'wf' (stages: drafts, chat, last)"
    )
    dataset = write(tmp_path / "d.yaml", dataset_spec())
    assert cli.main(["preview", str(dataset), "--stage", "x"]) == 2
    assert "--stage needs a workflow spec" in one_error_line(capsys)


def test_preview_frames_with_nested_values_can_seed_a_stage(tmp_path) -> None:
    from dd_prefect.config.seeds import DataFrameSeedSource

    # a previewed stage's frame (nested values) seeds the next stage's preview
    source = DataFrameSeedSource(df=pd.DataFrame({"p": [{"a": 1}, {"a": 2}], "q": [[1], [2]]}))
    assert len(source.content_digest()) == 64
    plain = DataFrameSeedSource(df=pd.DataFrame({"x": [1, 2]}))
    assert plain.content_digest() == DataFrameSeedSource(df=plain.df).content_digest()
