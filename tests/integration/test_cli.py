"""The ``dd-prefect`` command line, run as a subprocess against the real Prefect server.

Bad input must exit with status 2 and ONE stderr line naming the problem, before any LLM
call and before anything is written. The e2e test runs the README demo as a new user
would: no Prefect server configured (ephemeral mode), a fresh PREFECT_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dd_prefect.testing import MockLLMServer
from dd_prefect.workflow.results import DatasetCreationResults
from tests.integration.workflow_callbacks import topic_question_stage

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "deployments" / "demo.yaml"
CLI = [sys.executable, "-m", "dd_prefect.cli"]
NAME = "cli-reviews"


def spec_data(mock_url: str) -> dict[str, Any]:
    """A dataset spec: 30 records in row groups of 10, two LLM columns on the mock."""
    return {
        "name": NAME,
        "num_records": 30,
        "model_providers": [{"name": "mock", "endpoint": mock_url}],
        "run_config": {"buffer_size": 10, "seed": 11},
        "config": {
            "model_configs": [
                {
                    "alias": "fast",
                    "model": "mock-model",
                    "provider": "mock",
                    "inference_parameters": {"max_parallel_requests": 8},
                }
            ],
            "columns": [
                {
                    "name": "topic",
                    "column_type": "sampler",
                    "sampler_type": "category",
                    "params": {"values": ["tea", "coffee", "juice"]},
                },
                {
                    "name": "question",
                    "column_type": "llm-text",
                    "model_alias": "fast",
                    "prompt": "Ask about {{ topic }}",
                },
                {
                    "name": "answer",
                    "column_type": "llm-text",
                    "model_alias": "fast",
                    "prompt": "Answer: {{ question }}",
                },
            ],
        },
    }


def write_spec(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cli(
    *args: str | Path, env: dict[str, str], cwd: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def server_env(prefect_server) -> dict[str, str]:
    """This environment pointed at the session's Prefect server (and its result storage)."""
    return {**os.environ, **prefect_server.env}


def test_run_writes_dataset_and_resume_reuses_it(server_env, mock_llm, tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", spec_data(mock_llm.url))
    art = tmp_path / "art"
    first = cli("run", spec, "--artifact-path", art, env=server_env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    base = art / NAME
    assert f"dataset '{NAME}': 30 of 30 records" in first.stdout
    assert str(base) in first.stdout
    assert "mock/mock-model: 60 requests" in first.stdout
    assert sorted(p.name for p in (base / "parquet-files").iterdir()) == [
        f"batch_0000{i}.parquet" for i in range(3)
    ]
    meta = json.loads((base / "metadata.json").read_text())
    assert meta["status"] == "completed" and meta["actual_records"] == 30
    assert mock_llm.stats()["requests"] == 60
    frame = DatasetCreationResults(base).load_dataset()
    assert list(frame.columns) == ["topic", "question", "answer"] and len(frame) == 30

    again = cli(
        "run", spec, "--artifact-path", art, "--resume", "if_possible", env=server_env, cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert f"dataset '{NAME}': 30 of 30 records" in again.stdout
    assert mock_llm.stats()["requests"] == 60  # every row group came back from the cache
    assert DatasetCreationResults(base).load_dataset().equals(frame)


def test_validate_and_preview(server_env, mock_llm, tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", spec_data(mock_llm.url))
    work = tmp_path / "work"
    work.mkdir()

    validated = cli("validate", spec, env=server_env, cwd=work)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.strip() == f"ok: dataset '{NAME}' with 3 column(s)"
    assert mock_llm.stats()["requests"] == 0

    preview = cli("preview", spec, "-n", "3", env=server_env, cwd=work)
    assert preview.returncode == 0, preview.stderr
    lines = preview.stdout.strip().splitlines()
    assert lines[0].split() == ["topic", "question", "answer"]
    assert [line.split()[0] for line in lines[1:4]] == ["0", "1", "2"]
    assert "Mock" in lines[1]
    assert lines[-1] == "3 record(s); errors: none"
    assert mock_llm.stats()["requests"] == 6
    assert list(work.iterdir()) == []  # nothing written, not even an artifacts directory


# -- bad input ------------------------------------------------------------------------------

SECRET = "sk-live-123"


def _unknown_column(data: dict) -> None:
    data["config"]["columns"][1]["prompt"] = "Ask about {{ topic }} and {{ flavour }}"


def _unknown_alias(data: dict) -> None:
    data["config"]["columns"][2]["model_alias"] = "slow"


def _literal_key(data: dict) -> None:
    data["model_providers"][0]["api_key"] = SECRET


# name -> (how to break the spec or the command line, what the error line must contain)
BAD_INPUT: dict[str, tuple[Callable[[dict], None] | str, list[str]]] = {
    "unknown-column": (_unknown_column, ["column 'question'", "unknown column 'flavour'"]),
    "unknown-alias": (_unknown_alias, ["column 'answer'", "unknown model alias 'slow'"]),
    "missing-file": ("missing", ["does-not-exist.yaml", "does not exist"]),
    "bad-resume": ("resume", ["unknown resume mode 'sometimes'", "if_possible"]),
    "yaml-syntax": ("yaml", ["cannot parse", "broken.yaml"]),
    "literal-api-key": (_literal_key, ["api_key", "environment variable"]),
    "resume-always-nothing-to-resume": ("always", ["cannot resume", "no metadata.json"]),
}


@pytest.fixture(scope="module")
def bad_input_runs(prefect_server, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """Every bad-input case run at once (each with its own mock and directory)."""
    env = {**os.environ, **prefect_server.env}
    runs: dict[str, Any] = {}
    procs = {}
    mocks = []
    try:
        for case, (breakage, _) in BAD_INPUT.items():
            mock = MockLLMServer().start()
            mocks.append(mock)
            work = tmp_path_factory.mktemp(case)
            data = spec_data(mock.url)
            extra: list[str] = []
            spec: Path | str = work / "spec.yaml"
            if callable(breakage):
                breakage(data)
            elif breakage == "missing":
                spec = "does-not-exist.yaml"
            elif breakage == "resume":
                extra = ["--resume", "sometimes"]
            elif breakage == "always":
                extra = ["--resume", "always"]
            if breakage == "yaml":
                spec = work / "broken.yaml"
                spec.write_text(yaml.safe_dump(data, sort_keys=False) + "columns: [a, b\n")
            elif breakage != "missing":
                write_spec(Path(spec), data)
            art = work / "art"
            procs[case] = subprocess.Popen(
                [*CLI, "run", str(spec), "--artifact-path", str(art), *extra],
                env=env,
                cwd=work,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            runs[case] = {"mock": mock, "art": art, "work": work}
        for case, proc in procs.items():
            out, err = proc.communicate(timeout=180)
            runs[case].update(returncode=proc.returncode, stdout=out, stderr=err)
        yield runs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for mock in mocks:
            mock.stop()


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_line_exit_2_and_touches_nothing(bad_input_runs, case):
    run = bad_input_runs[case]
    assert run["returncode"] == 2, run["stderr"]
    lines = run["stderr"].splitlines()
    assert len(lines) == 1, run["stderr"]
    assert lines[0].startswith("dd-prefect: error: ")
    for fragment in BAD_INPUT[case][1]:
        assert fragment in lines[0]
    assert SECRET not in run["stderr"] + run["stdout"]
    assert not run["art"].exists()
    assert not (run["work"] / "artifacts").exists()
    assert run["mock"].stats()["requests"] == 0


# -- the README demo, as a new user runs it --------------------------------------------------


def demo_expectations() -> tuple[str, dict[str, int]]:
    """The demo's name and the records each of its datasets should hold, from the spec.

    The demo is either a dataset spec or a workflow spec; a stage without num_records
    keeps its input's row count.
    """
    from dd_prefect.config.workflow_spec import WorkflowSpec, load_spec

    spec = load_spec(DEMO)
    if not isinstance(spec, WorkflowSpec):
        return spec.name, {spec.name: spec.num_records}
    expected: dict[str, int] = {}
    count = 0
    for stage in spec.stages:
        count = stage.num_records if stage.num_records is not None else count
        expected[stage.name] = count
    return spec.name, expected


@pytest.mark.e2e
def test_readme_demo_in_ephemeral_mode(tmp_path):
    script = Path(sys.executable).with_name("dd-prefect")
    assert script.exists(), script
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    art = tmp_path / "demo-artifacts"
    result = subprocess.run(
        [str(script), "run", str(DEMO), "--artifact-path", str(art)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output, output
    assert "CancelledError" not in output, output
    assert not (tmp_path / "artifacts").exists()

    name, expected = demo_expectations()
    if list(expected) == [name]:  # a dataset spec
        assert f"dataset '{name}': {expected[name]} of {expected[name]} records" in result.stdout
        results = DatasetCreationResults(art / name)
        assert results.metadata.status == "completed"
        assert results.count_records() == expected[name]
        return
    assert f"workflow '{name}' -> " in result.stdout
    for stage, records in expected.items():
        assert f"  {stage}: completed, {records} records" in result.stdout
    datasets = {
        DatasetCreationResults(path.parent).metadata.dataset_name: DatasetCreationResults(
            path.parent
        )
        for path in (art / name).glob("*/metadata.json")
    }
    assert sorted(datasets) == sorted(expected)
    for stage, records in expected.items():
        assert datasets[stage].metadata.status == "completed"
        assert datasets[stage].count_records() == records


# -- workflow specs: preview of a later stage, -n, failures at run time ----------------------


def workflow_data(mock_url: str, **first: Any) -> dict[str, Any]:
    """A two-stage workflow on the mock: `asked` (6 records) -> `answered` (its input's)."""
    return {
        "name": "cli-workflow",
        "model_providers": [{"name": "mock", "endpoint": mock_url}],
        "model_configs": [{"alias": "fast", "model": "mock-model", "provider": "mock"}],
        "run_config": {"buffer_size": 5, "seed": 3},
        "stages": [
            {
                **topic_question_stage("asked", 6),
                **first,
            },
            {
                "name": "answered",
                "config": {
                    "columns": [
                        {
                            "name": "answer",
                            "column_type": "llm-text",
                            "model_alias": "fast",
                            "prompt": "Answer: {{ question }}",
                        }
                    ]
                },
            },
        ],
    }


def test_preview_of_a_later_stage_reads_the_stages_before_it(server_env, tmp_path):
    data = yaml.safe_load((ROOT / "deployments" / "doc_qa.yaml").read_text())
    passages = ROOT / "deployments" / "data" / "passages.jsonl"
    data["stages"][0]["config"]["seed_config"]["source"]["path"] = str(passages)
    spec = write_spec(tmp_path / "doc_qa.yaml", data)
    work = tmp_path / "work"
    work.mkdir()
    result = cli("preview", spec, "--stage", "chatml", "-n", "3", env=server_env, cwd=work)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    # the stage's rows: drafts' output after its output processor dropped text/chunk_summary
    assert lines[0].split() == ["doc_id", "question", "answer"]
    assert "selected output (processor:chatml):" in lines
    assert lines[lines.index("selected output (processor:chatml):") + 1].split() == ["messages"]
    assert "'role': 'user'" in result.stdout
    assert lines[-1] == "3 record(s); errors: none"
    assert list(work.iterdir()) == []


def test_run_n_and_shards_set_the_first_stages(server_env, mock_llm, tmp_path):
    spec = write_spec(tmp_path / "wf.yaml", workflow_data(mock_llm.url))
    art = tmp_path / "art"
    options = ["-n", "12", "--shards", "2"]
    result = cli("run", spec, "--artifact-path", art, *options, env=server_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "  asked: completed, 12 records" in result.stdout
    assert "  answered: completed, 12 records" in result.stdout  # inherits its input's count
    assert mock_llm.stats()["requests"] == 24
    first, second = sorted((art / "cli-workflow").glob("stage-*/metadata.json"))
    shards = json.loads(first.read_text())["shards"]  # 3 row groups of 5 in 2 shards
    assert [(s["first_row_group"], s["last_row_group"]) for s in shards] == [(0, 1), (2, 2)]
    assert json.loads(second.read_text())["shards"] == []  # later stages keep theirs


def test_failure_at_run_time_is_one_line_exit_1(server_env, mock_llm, tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "cli_failing_hooks.py").write_text(
        "def explode(stage_dir):\n    raise ValueError('callback exploded\\non two lines')\n"
    )
    data = workflow_data(mock_llm.url, on_success="cli_failing_hooks:explode")
    spec = write_spec(tmp_path / "wf.yaml", data)
    env = {**server_env, "PYTHONPATH": os.pathsep.join([str(hooks), str(ROOT)])}
    result = cli("run", spec, "--artifact-path", tmp_path / "art", env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [  # the failed stage is named
        "dd-prefect: error: DataDesignerWorkflowError: stage 'asked' failed: ValueError: "
        "callback exploded on two lines"
    ]


# name -> (extra arguments / spec change, what the error line must contain)
BAD_WORKFLOW_INPUT: dict[str, tuple[list[str], dict[str, Any], list[str]]] = {
    "negative-n": (["-n", "-1"], {}, ["-n/--num-records", "must be >= 0"]),
    "first-stage-shuffle": (
        [],
        {"sampling_strategy": "shuffle"},
        ["stage 'asked'", "sampling_strategy", "with_seed_dataset"],
    ),
    "unimportable-on-success": (
        [],
        {"on_success": "no_such_module_dd:hook"},
        ["stage 'asked'", "field 'on_success'", "cannot import 'no_such_module_dd:hook'"],
    ),
    "output-processor-drops-nothing": (
        [],
        {
            "output_processors": [
                {"processor_type": "drop_columns", "name": "d", "column_names": ["x"]}
            ]
        },
        ["stage 'asked'", "output_processors[d]", "drops 'x'"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_WORKFLOW_INPUT))
def test_bad_workflow_input_is_one_line_exit_2(server_env, mock_llm, tmp_path, case):
    extra, first, fragments = BAD_WORKFLOW_INPUT[case]
    spec = write_spec(tmp_path / "wf.yaml", workflow_data(mock_llm.url, **first))
    art = tmp_path / "art"
    result = cli("run", spec, "--artifact-path", art, *extra, env=server_env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("dd-prefect: error: ")
    for fragment in fragments:
        assert fragment in line
    assert not art.exists()
    assert mock_llm.stats()["requests"] == 0
