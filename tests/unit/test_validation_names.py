"""Bad input that used to pass `validate` (issue 10, item 5) is rejected up front.

Names that become directories (stage, workflow, dataset, processor) must be short enough
for one path component and free of control characters; column names must not shadow what
a template means by a Jinja global; a column must not silently redefine a column its
input already has; counts must be whole numbers. Each is rejected by ``dd-prefect
validate`` (exit 2, naming the thing) and by the Python API, before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import dd_prefect.config as dd
from dd_prefect import cli
from dd_prefect.config.stage import check_name
from dd_prefect.config.templates import jinja_environment

MOCK = {"name": "mock", "provider_type": "mock"}
MAX_NAME_BYTES = 200  # dd_prefect.config.stage.MAX_NAME_BYTES (checked below)


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def expr(name: str, source: str = "x", **kw: Any) -> dict[str, Any]:
    return {"name": name, "column_type": "expression", "expr": source, **kw}


def workflow(*stages: dict[str, Any], name: str = "wf") -> dict[str, Any]:
    return {"name": name, "model_providers": [MOCK], "stages": list(stages)}


def stage(name: str, *columns: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "config": {"columns": list(columns)}, **extra}


def two_stages(num_records: Any = 3) -> dict[str, Any]:
    return workflow(
        stage("s1", expr("topic", "t"), num_records=num_records),
        stage("s2", expr("answer", "{{ topic }}!")),
    )


def validate(tmp_path: Path, data: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> str:
    """`dd-prefect validate` on `data`; asserts exit 2 and returns the one error line."""
    code = cli.main(["validate", str(write(tmp_path / "spec.yaml", data))])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dd-prefect: error: "), err
    return lines[0]


def validates(tmp_path: Path, data: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["validate", str(write(tmp_path / "spec.yaml", data))])
    assert code == 0, capsys.readouterr().err


# --- names that become directories -----------------------------------------------------


def test_long_stage_name_rejected_by_validate_and_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """300 characters: a later stage used to run 20 LLM calls, then fail to mkdir."""
    data = two_stages()
    data["stages"][1]["name"] = "s" * 300
    line = validate(tmp_path, data, capsys)
    assert "stage name" in line and "300 bytes" in line and str(MAX_NAME_BYTES) in line
    assert "s" * 300 not in line  # shown shortened

    spec = write(tmp_path / "spec.yaml", data)
    code = cli.main(["run", str(spec), "--artifact-path", str(tmp_path / "art")])
    assert code == 2, capsys.readouterr().err
    assert not (tmp_path / "art").exists()


@pytest.mark.parametrize(
    "name, ok",
    [
        ("a" * MAX_NAME_BYTES, True),
        ("a" * (MAX_NAME_BYTES + 1), False),
        ("é" * (MAX_NAME_BYTES // 2), True),  # two bytes each in UTF-8
        ("é" * (MAX_NAME_BYTES // 2 + 1), False),
    ],
)
def test_name_length_counts_utf8_bytes(name: str, ok: bool) -> None:
    if ok:
        assert check_name(name, "dataset") == name
    else:
        with pytest.raises(dd.ConfigValidationError, match="bytes"):
            check_name(name, "dataset")


def test_stage_dir_of_longest_name_fits_one_path_component(tmp_path: Path) -> None:
    from dd_prefect.config import stage as stage_module

    assert getattr(stage_module, "MAX_NAME_BYTES", None) == MAX_NAME_BYTES
    name = "é" * (MAX_NAME_BYTES // 2)
    stage_ = dd.Stage.of(name, dd.DataDesignerConfigBuilder(), num_records=1)
    path = tmp_path / stage_.dir_name(99_999)
    path.mkdir()  # the filesystem's limit is 255 bytes
    (path / ".batch_00000.parquet.0123456789.tmp").touch()


@pytest.mark.parametrize(
    "bad", ["wf\x00x", "wf\nx", "wf\rx", "wf\tx", "wf\x1b[31mx", "wf\x7fx", "wf\u2028x"]
)
def test_workflow_name_with_control_character_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    """NUL used to exit 1 ("embedded null byte"); a newline made such a directory."""
    data = two_stages()
    data["name"] = bad
    line = validate(tmp_path, data, capsys)
    assert "workflow name" in line and "control character" in line
    assert bad not in line  # shown escaped

    spec = write(tmp_path / "spec.yaml", data)
    assert cli.main(["run", str(spec), "--artifact-path", str(tmp_path / "art")]) == 2
    assert not (tmp_path / "art").exists()


def test_stage_and_dataset_names_with_control_characters_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = two_stages()
    data["stages"][0]["name"] = "s\n1"
    line = validate(tmp_path, data, capsys)
    assert "stage name" in line and "control character" in line and "'s\\n1'" in line

    dataset = {"name": "d\x00", "num_records": 1, "config": {"columns": [expr("a")]}}
    line = validate(tmp_path, dataset, capsys)
    assert "dataset name" in line and "control character" in line


@pytest.mark.parametrize("bad", ["a/b", "../escape", "p\x00", "p" * (MAX_NAME_BYTES + 1)])
def test_processor_names_become_directories_and_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    processor = {"processor_type": "drop_columns", "name": bad, "column_names": ["a"]}
    data = {
        "name": "d",
        "num_records": 1,
        "config": {"columns": [expr("a"), expr("b")], "processors": [processor]},
    }
    line = validate(tmp_path, data, capsys)
    assert "processor name" in line


def test_output_processor_names_are_checked_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = two_stages()
    bad = {"processor_type": "drop_columns", "name": "../out", "column_names": ["answer"]}
    data["stages"][1]["output_processors"] = [bad]
    line = validate(tmp_path, data, capsys)
    assert "stage 's2', field 'output_processors[../out]'" in line and "processor name" in line


def test_python_api_rejects_bad_names(tmp_path: Path) -> None:
    from dd_prefect import DataDesigner

    designer = DataDesigner(artifact_path=tmp_path / "art")
    builder = dd.DataDesignerConfigBuilder().add_column(**expr("a"))
    with pytest.raises(dd.ConfigValidationError, match=r"workflow name.*control character"):
        designer.compose_workflow("wf\x00")
    flow = designer.compose_workflow("wf")
    with pytest.raises(dd.ConfigValidationError, match=r"stage name.*bytes") as info:
        flow.add_stage("s" * 300, builder, num_records=1)
    assert "s" * 300 not in str(info.value)
    with pytest.raises(dd.ConfigValidationError, match=r"dataset name.*control character"):
        designer.create(builder, num_records=1, dataset_name="d\nx")
    with pytest.raises(dd.ConfigValidationError, match=r"dataset name.*not valid UTF-8"):
        designer.create(builder, num_records=1, dataset_name="d\ud800")
    with pytest.raises(dd.ConfigValidationError, match="processor name"):
        dd.validate_config(
            dd.DataDesignerConfigBuilder()
            .add_column(**expr("a"))
            .add_processor(processor_type="drop_columns", name="../x", column_names=["a"])
            .build()
        )
    assert not (tmp_path / "art").exists()


# --- column names that shadow Jinja globals ----------------------------------------------


def shadowing_names() -> list[str]:
    return sorted(jinja_environment().globals)


@pytest.mark.parametrize("name", [*shadowing_names(), "self", "true", "None"])
def test_column_named_like_a_jinja_global_is_rejected(name: str) -> None:
    with pytest.raises(dd.ConfigValidationError, match=f"column '{name}'.*Jinja") as info:
        dd.DataDesignerConfigBuilder().add_column(**expr(name))
    assert info.value.issues[0].column == name


def test_column_named_range_rejected_by_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to pass, then break ``range()`` in a later stage after 40 LLM calls."""
    data = workflow(
        stage("s1", expr("range", "3"), num_records=2),
        stage("s2", expr("nums", "{% for i in range(2) %}{{ i }}{% endfor %}")),
    )
    line = validate(tmp_path, data, capsys)
    assert "stage 's1', column 'range'" in line and "range()" in line


def test_build_of_a_config_with_a_shadowing_column_is_rejected() -> None:
    """A column added as an object (or a config loaded whole) is checked when validated."""
    config = dd.DataDesignerConfig(columns=[dd.ExpressionColumnConfig(name="dict", expr="x")])
    issues = dd.validate_config(config, raise_on_error=False)
    assert [(i.column, "Jinja global" in i.message) for i in issues] == [("dict", True)]
    builder = dd.DataDesignerConfigBuilder()
    with pytest.raises(dd.ConfigValidationError, match="column 'dict'"):
        builder.add_column(dd.ExpressionColumnConfig(name="dict", expr="x"))


def test_filter_and_test_names_do_not_shadow(tmp_path: Path) -> None:
    """Filters and tests live in their own namespaces: columns may take their names."""
    env = jinja_environment()
    assert {"upper", "length"} <= set(env.filters) and "defined" in env.tests
    from dd_prefect import DataDesigner

    builder = (
        dd.DataDesignerConfigBuilder()
        .add_column(**expr("upper", "u"))
        .add_column(**expr("defined", "d"))
        .add_column(**expr("length", "l"))
        .add_column(
            **expr("out", "{{ 'a' | upper }}{{ upper }}{{ defined is defined }}{{ length }}")
        )
    )
    preview = DataDesigner(artifact_path=tmp_path).preview(builder, num_records=1)
    assert preview.dataset["out"].tolist() == ["AuTruel"]


def seed_file(tmp_path: Path, **columns: list[Any]) -> Path:
    path = tmp_path / "seed.jsonl"
    pd.DataFrame(columns).to_json(path, orient="records", lines=True)
    return path


def test_seed_column_named_like_a_global_only_matters_when_a_template_uses_it(
    tmp_path: Path,
) -> None:
    """Seed files are data: a column 'range' is fine until a template calls range()."""
    seed = dd.LocalFileSeedSource(path=str(seed_file(tmp_path, range=["1-5"], q=["x"])))
    fine = dd.DataDesignerConfigBuilder().with_seed_dataset(seed).add_column(**expr("a", "{{ q }}"))
    assert dd.validate_config(fine.build()) == []
    uses = (
        dd.DataDesignerConfigBuilder()
        .with_seed_dataset(seed)
        .add_column(**expr("a", "{% for i in range(2) %}{{ i }}{% endfor %}"))
    )
    (issue,) = dd.validate_config(uses.build(), raise_on_error=False)
    assert issue.column == "range" and "range()" in issue.message and "'a'" in issue.message


# --- redefining a column the input already has -------------------------------------------


def test_stage_redefining_an_input_column_is_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = workflow(
        stage("s1", expr("topic", "t"), num_records=3),
        stage("s2", expr("topic", "new"), expr("other", "o")),
    )
    line = validate(tmp_path, data, capsys)
    assert "stage 's2', column 'topic'" in line and "allow_column_overrides" in line

    data["stages"][1]["config"]["allow_column_overrides"] = True
    validates(tmp_path, data, capsys)


def test_dataset_column_redefining_a_seed_column_is_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = seed_file(tmp_path, q=["a", "b"])
    config = {
        "seed_config": {"source": {"seed_type": "local", "path": str(seed)}},
        "columns": [expr("q", "new")],
    }
    line = validate(tmp_path, {"name": "d", "config": config}, capsys)
    assert "column 'q'" in line and "seed" in line and "allow_column_overrides" in line

    config["allow_column_overrides"] = True
    validates(tmp_path, {"name": "d", "config": config}, capsys)


def test_python_workflow_redefinition_fails_before_anything_runs(tmp_path: Path) -> None:
    from dd_prefect import DataDesigner

    designer = DataDesigner(artifact_path=tmp_path / "art")
    first = dd.DataDesignerConfigBuilder().add_column(**expr("topic", "t"))
    again = dd.DataDesignerConfigBuilder().add_column(**expr("topic", "new"))
    flow = designer.compose_workflow("wf")
    flow.add_stage("s1", first, num_records=2).add_stage("s2", again)
    with pytest.raises(dd.ConfigValidationError, match="stage 's2', column 'topic'"):
        flow.run()
    assert not (tmp_path / "art").exists()


def test_allowed_override_replaces_the_input_value_at_run_time(tmp_path: Path) -> None:
    """The allowance is part of the config, so the engine's own check (against the real
    input) accepts it too, and the stage's value wins."""
    from dd_prefect import DataDesigner

    designer = DataDesigner(artifact_path=tmp_path / "art")
    first = dd.DataDesignerConfigBuilder().add_column(**expr("topic", "t"))
    again = (
        dd.DataDesignerConfigBuilder(allow_column_overrides=True)
        .add_column(**expr("topic", "new"))
        .add_column(**expr("reads", "{{ topic }}"))  # the new value
    )
    assert again.build().allow_column_overrides
    flow = designer.compose_workflow("wf")
    flow.add_stage("s1", first, num_records=2).add_stage("s2", again)
    preview = flow.preview("s2", num_records=2)
    assert (
        preview.dataset[["topic", "reads"]].to_dict("records")
        == [{"topic": "new", "reads": "new"}] * 2
    )


def test_an_override_still_may_not_read_itself(tmp_path: Path) -> None:
    """The engine would wait on the column itself: say why instead."""
    seed = dd.LocalFileSeedSource(path=str(seed_file(tmp_path, q=["a"])))
    config = (
        dd.DataDesignerConfigBuilder(allow_column_overrides=True)
        .add_column(**expr("q", "{{ q }}?"))
        .with_seed_dataset(seed)
        .build()
    )
    (issue,) = dd.validate_config(config, raise_on_error=False)
    assert issue.column == "q" and "override can't read the input column" in issue.message


def test_allowance_is_only_written_when_set(tmp_path: Path) -> None:
    """Off by default and then absent from files and fingerprints (no rerun of existing
    work); on, it round-trips."""
    plain = dd.DataDesignerConfigBuilder().add_column(**expr("a")).build()
    assert "allow_column_overrides" not in plain.to_dict()
    allowed = plain.model_copy(update={"allow_column_overrides": True})
    assert allowed.to_dict()["allow_column_overrides"] is True
    assert dd.DataDesignerConfig.from_file(allowed.to_file(tmp_path / "c.yaml")) == allowed
    builder = dd.DataDesignerConfigBuilder.from_config(allowed)
    assert builder.build().allow_column_overrides


def test_declaring_an_input_column_as_seed_dataset_is_not_a_redefinition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = workflow(
        stage("s1", expr("topic", "t"), num_records=3),
        stage("s2", {"name": "topic", "column_type": "seed-dataset", "drop": True}),
    )
    validates(tmp_path, data, capsys)


# --- counts ---------------------------------------------------------------------------


@pytest.mark.parametrize("count", [True, 1.5, 2.0, "3"])
def test_non_integer_num_records_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], count: Any
) -> None:
    """`num_records: true` used to make 1 record."""
    dataset = {"name": "d", "num_records": count, "config": {"columns": [expr("a")]}}
    assert "num_records" in validate(tmp_path, dataset, capsys)
    data = two_stages(num_records=count)
    assert "num_records" in validate(tmp_path, data, capsys)


@pytest.mark.parametrize(
    "field, value",
    [("buffer_size", True), ("max_concurrent_row_groups", 2.5), ("seed", "7")],
)
def test_non_integer_run_config_counts_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: Any
) -> None:
    dataset = {
        "name": "d",
        "num_records": 1,
        "run_config": {field: value},
        "config": {"columns": [expr("a")]},
    }
    assert field in validate(tmp_path, dataset, capsys)
    data = two_stages()
    data["run_config"] = {field: value}
    assert field in validate(tmp_path, data, capsys)


def test_non_integer_selection_counts_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = two_stages()
    data["stages"][1]["selection_strategy"] = {"kind": "index_range", "start": True, "end": 1}
    assert "start" in validate(tmp_path, data, capsys)


@pytest.mark.parametrize("count", ["1.5", "true", "3x", "-1"])
def test_non_integer_cli_count_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], count: str
) -> None:
    spec = write(tmp_path / "spec.yaml", two_stages())
    with pytest.raises(SystemExit) as info:  # argparse's usage error, one line
        cli.main(["run", str(spec), "-n", count, "--artifact-path", str(tmp_path / "art")])
    assert info.value.code == 2
    assert "num-records" in capsys.readouterr().err
    assert not (tmp_path / "art").exists()


@pytest.mark.parametrize("count", [True, 1.5, "3"])
def test_python_api_rejects_non_integer_counts(count: Any) -> None:
    builder = dd.DataDesignerConfigBuilder().add_column(**expr("a"))
    with pytest.raises(dd.ConfigValidationError, match="num_records"):
        dd.Stage.of("s", builder, num_records=count)
