"""Stage DAGs on a real Prefect server and the mock LLM: parallel branches, joins, branch
failure and resume. Each branch uses its own mock model, so the mock's per-model counters
tell which branch made which requests (and when)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from dd_prefect.engine.parquet_io import parquet_files, read_parquet
from dd_prefect.errors import ConfigValidationError, DataDesignerError, WorkflowError
from dd_prefect.workflow.resume import ResumeMode
from tests.integration import dag_stages as ds
from tests.integration.progress import finished_row_groups
from tests.integration.workflow_callbacks import make_designer

pytestmark = pytest.mark.integration


def by_model(server) -> dict[str, int]:
    return {m.removesuffix("-model"): n for m, n in server.stats()["by_model"].items()}


def stage_entries(workflow_dir: Path) -> dict[str, dict]:
    meta = json.loads((workflow_dir / "workflow-metadata.json").read_text())
    return {s["name"]: s for s in meta["stages"]}


async def test_diamond_runs_branches_at_once_and_concats(
    prefect_server, mock_llm_factory, tmp_path, monkeypatch
):
    server = mock_llm_factory(latency=0.05)
    monkeypatch.setenv(ds.MOCK_URL, server.url)
    d = make_designer(tmp_path, server.url)
    # Each branch's rows ask a second question only after the other branch has made a
    # request: run one after the other, the first branch would never finish.
    results = await ds.diamond(d, "diamond", records=8, waiting=True).arun()

    assert [results.count_stage_output_records(s) for s in results] == [8, 8, 8, 16]
    assert by_model(server) == {"topic": 8, "easy": 16, "hard": 16, "judge": 16}
    topics = results.load_stage_output("topics")
    joined = results.load_dataset()  # the one sink
    assert results.sinks == ["judged"]
    assert list(joined.columns) == ["topic", "question", "answer", "_stage", "verdict"]
    assert list(joined["_stage"]) == ["easy"] * 8 + ["hard"] * 8
    assert list(joined["question"]) == list(topics["question"]) * 2
    assert joined["answer"][:8].str.contains("Answer simply").all()
    assert joined["answer"][8:].str.contains("Answer in detail").all()
    assert joined["verdict"].str.contains("Judge this answer").all()

    # The two branches overlapped: each started before the other's last request.
    times = server.stats()["model_times"]
    easy, hard = times["easy-model"], times["hard-model"]
    assert easy[0] < hard[1] and hard[0] < easy[1]
    assert max(easy[0], hard[0]) > times["topic-model"][1]  # after their upstream
    assert times["judge-model"][0] > max(easy[1], hard[1])  # the join waited for both

    entries = stage_entries(tmp_path / "diamond")
    assert entries["judged"]["depends_on"] == ["easy", "hard"]
    assert entries["judged"]["join"] == {"mode": "concat", "source_column": "_stage"}
    assert (tmp_path / "diamond" / "joins" / "stage-3-judged" / "joined.parquet").is_file()


async def test_columns_join_of_two_judges(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path, mock_llm.url)
    workflow = (
        d.compose_workflow("two-judges")
        .add_stage("topics", ds.topics(), num_records=6)
        .add_stage("answers", ds.branch("easy", "Answer: {{ question }}"))
        .add_stage("strict", ds.judge("strict", "strict_verdict"), depends_on=["answers"])
        .add_stage("lenient", ds.judge("lenient", "lenient_verdict"), depends_on=["answers"])
        .add_stage(
            "both",
            ds.branch("final", "Sum up {{ strict_verdict }} and {{ lenient_verdict }}", "summary"),
            depends_on=["strict", "lenient"],
            join="columns",
        )
    )
    results = await workflow.arun()
    both = results.load_dataset()
    answers = results.load_stage_output("answers")
    assert list(both.columns) == [
        "topic",
        "question",
        "answer",
        "strict_verdict",
        "lenient_verdict",
        "summary",
    ]
    assert list(both["question"]) == list(answers["question"])
    assert list(both["strict_verdict"]) == list(
        results.load_stage_output("strict")["strict_verdict"]
    )
    assert list(both["lenient_verdict"]) == list(
        results.load_stage_output("lenient")["lenient_verdict"]
    )


async def test_callable_join(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path, mock_llm.url)
    workflow = (
        d.compose_workflow("callable-join")
        .add_stage("topics", ds.topics(), num_records=12)
        .add_stage(
            "easy", ds.branch("easy", "Answer simply: {{ question }}"), depends_on=["topics"]
        )
        .add_stage(
            "hard", ds.branch("hard", "Answer in detail: {{ question }}"), depends_on=["topics"]
        )
        .add_stage(
            "judged",
            ds.judge(),
            depends_on=["easy", "hard"],
            join="tests.integration.dag_stages:first_of_each_topic",
            join_version="1",
        )
    )
    results = await workflow.arun()
    judged = results.load_dataset()
    topics = set(results.load_stage_output("topics")["topic"])
    assert len(judged) == 2 * len(topics)
    assert sorted(set(zip(judged["source"], judged["topic"], strict=True))) == sorted(
        (s, t) for s in ("easy", "hard") for t in topics
    )


async def test_failed_branch_lets_its_sibling_finish_then_resumes_alone(
    prefect_server, mock_llm_factory, tmp_path, monkeypatch
):
    flag = tmp_path / "break"
    flag.write_text("on")
    monkeypatch.setenv(ds.BREAK_FLAG, str(flag))
    server = mock_llm_factory(latency=0.02)
    d = make_designer(tmp_path / "art", server.url)

    def workflow():
        return (
            d.compose_workflow("branch-failure")
            .add_stage("topics", ds.topics(), num_records=6)
            .add_stage("good", ds.branch("good", "Answer: {{ question }}"), depends_on=["topics"])
            .add_stage("bad", ds.broken_branch("bad"), depends_on=["topics"])
            .add_stage("after_good", ds.judge("judge"), depends_on=["good"])
            .add_stage(
                "joined",
                ds.branch("final", "Again: {{ question }}", "again"),
                depends_on=["good", "bad"],
                join="concat",
            )
        )

    with pytest.raises(DataDesignerError, match="stage 'bad'"):
        await workflow().arun()
    entries = stage_entries(tmp_path / "art" / "branch-failure")
    assert entries["bad"]["status"] == "failed"
    assert entries["good"]["status"] == "completed"
    assert "joined" not in entries  # never started
    first = by_model(server)
    assert first["good"] == 6 and first["topic"] == 6

    flag.unlink()
    server.reset()
    results = await workflow().arun(resume=ResumeMode.IF_POSSIBLE)
    # Only the failed branch and what depends on it ran; everything else was reused
    # (after_good either finished in the first run or runs now: it depends on good only).
    again = by_model(server)
    assert again.get("topic", 0) == 0 and again.get("good", 0) == 0
    assert again["bad"] == 6 and again["final"] == 12
    assert results.count_stage_output_records("joined") == 12


async def test_changed_branch_reruns_alone(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path, mock_llm.url)
    await ds.diamond(d, "changes", records=6).arun()
    mock_llm.reset()

    changed = (
        d.compose_workflow("changes")
        .add_stage("topics", ds.topics(), num_records=6)
        .add_stage(
            "easy", ds.branch("easy", "Answer simply: {{ question }}"), depends_on=["topics"]
        )
        .add_stage(
            "hard", ds.branch("hard", "Answer in depth: {{ question }}"), depends_on=["topics"]
        )
        .add_stage(
            "judged",
            ds.judge(),
            depends_on=["easy", "hard"],
            join={"mode": "concat", "source_column": "_stage"},
        )
    )
    results = await changed.arun(resume=ResumeMode.IF_POSSIBLE)
    assert by_model(mock_llm) == {"hard": 6, "judge": 12}
    assert results.load_dataset()["answer"][6:].str.contains("Answer in depth").all()

    mock_llm.reset()
    await changed.arun(resume=ResumeMode.IF_POSSIBLE)  # nothing changed: all reused
    assert mock_llm.stats()["requests"] == 0

    mock_llm.reset()
    await changed.arun(resume=ResumeMode.IF_POSSIBLE, rerun_from="easy")
    assert by_model(mock_llm) == {"easy": 6, "judge": 12}

    mock_llm.reset()
    only_hard = await changed.arun(resume=ResumeMode.NEVER, targets=["hard"])
    assert by_model(mock_llm) == {"topic": 6, "hard": 6}
    assert list(only_hard) == ["topics", "hard"]


async def test_empty_branch_skips_its_descendants_and_concat_goes_on(
    prefect_server, mock_llm, tmp_path
):
    d = make_designer(tmp_path, mock_llm.url)
    nothing = ds.branch("hard", "Answer: {{ question }}")
    workflow = (
        d.compose_workflow("empty-branch")
        .add_stage("topics", ds.topics(), num_records=4)
        .add_stage("easy", ds.branch("easy", "Answer: {{ question }}"), depends_on=["topics"])
        .add_stage(
            "none",
            nothing,
            depends_on=["topics"],
            num_records=0,
            allow_empty=True,
        )
        .add_stage("after_none", ds.judge("judge"), depends_on=["none"])
        .add_stage("concat", ds.judge("final", "v2"), depends_on=["easy", "none"], join="concat")
        .add_stage("columns", ds.judge("other", "v3"), depends_on=["easy", "none"], join="columns")
    )
    results = await workflow.arun()
    assert results["after_none"].status == "skipped_empty_upstream"
    assert results["columns"].status == "skipped_empty_upstream"
    assert results.count_stage_output_records("concat") == 4
    with pytest.raises(WorkflowError, match="final stages"):
        results.load_dataset()
    assert len(results.load_dataset(stage="concat")) == 4


async def test_validation_names_the_stage(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path, mock_llm.url)
    wf = d.compose_workflow("bad").add_stage("topics", ds.topics(), num_records=2)
    with pytest.raises(ConfigValidationError, match="unknown stage 'nope'") as info:
        wf.add_stage("x", ds.judge(), depends_on=["nope"])
    assert info.value.issues[0].stage == "x"
    with pytest.raises(ConfigValidationError, match="depend on itself"):
        wf.add_stage("x", ds.judge(), depends_on=["x"])
    wf.add_stage("a", ds.branch("easy", "A {{ question }}"), depends_on=["topics"])
    with pytest.raises(ConfigValidationError, match="needs join"):
        wf.add_stage("j", ds.judge(), depends_on=["topics", "a"])
    with pytest.raises(ConfigValidationError, match="join is only for"):
        wf.add_stage("k", ds.judge(), depends_on=["a"], join="concat")
    with pytest.raises(ConfigValidationError, match="join must be"):
        wf.add_stage("k", ds.judge(), depends_on=["topics", "a"], join="outer")
    # A column the joined input does not have is caught before anything runs.
    wf.add_stage(
        "j", ds.branch("final", "{{ missing }}"), depends_on=["topics", "a"], join="concat"
    )
    with pytest.raises(ConfigValidationError, match="missing") as info:
        await wf.arun()
    assert info.value.issues[0].stage == "j"
    assert not (tmp_path / "bad").exists()


async def test_columns_join_with_unequal_rows_fails_before_the_joining_stage_asks(
    prefect_server, mock_llm, tmp_path
):
    d = make_designer(tmp_path, mock_llm.url)
    workflow = (
        d.compose_workflow("unequal")
        .add_stage("topics", ds.topics(), num_records=4)
        .add_stage(
            "more", ds.branch("easy", "A {{ question }}"), depends_on=["topics"], num_records=8
        )
        .add_stage("same", ds.branch("hard", "B {{ question }}"), depends_on=["topics"])
        .add_stage("both", ds.judge("judge", "v"), depends_on=["more", "same"], join="columns")
    )
    with pytest.raises(WorkflowError, match="equal row counts; got 'more' 8, 'same' 4"):
        await workflow.arun()
    assert "judge" not in by_model(mock_llm)


def test_diamond_preview(mock_llm, tmp_path):
    d = make_designer(tmp_path, mock_llm.url)
    preview = ds.diamond(d, "preview").preview("judged", num_records=4)
    assert len(preview.dataset) == 4
    assert set(preview.dataset["_stage"]) <= {"easy", "hard"}
    assert isinstance(preview.dataset, pd.DataFrame)


@pytest.mark.e2e
def test_killed_during_the_branches_then_resumed_equals_a_clean_run(
    prefect_server, mock_llm_factory, tmp_path
):
    server = mock_llm_factory(latency=0.3)
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "tests.integration.dag_stages", str(tmp_path / "a"), server.url]
    # No global-limit leases: a killed process's lease would hold the mock's slots a minute.
    env = {
        **os.environ,
        **prefect_server.env,
        "PYTHONPATH": str(root),
        "DD_PREFECT_GLOBAL_THROTTLE": "0",
    }
    proc = subprocess.Popen(cmd, env=env, cwd=root, start_new_session=True)
    wf = tmp_path / "a" / ds.KILLED
    branches = [wf / "stage-1-easy", wf / "stage-2-hard"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if all(finished_row_groups(p) >= 2 for p in branches):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    groups = ds.KILLED_ROWS // 5
    done = [finished_row_groups(p) for p in branches]
    assert all(2 <= n < groups for n in done), f"kill both branches part-way through: {done}"
    time.sleep(0.2)  # let requests already sent reach the mock's counter
    server.reset()
    server.configure(latency=0.02)  # the rest only counts requests and compares data

    resumed = subprocess.run(
        [*cmd, "--resume", "if_possible"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"judged completed {2 * ds.KILLED_ROWS}" in resumed.stdout
    # Finished row groups of both branches made no request again; topics was reused.
    again = by_model(server)
    assert "topic" not in again
    assert again["easy"] <= (groups - done[0]) * 5 and again["hard"] <= (groups - done[1]) * 5
    assert again["judge"] == 2 * ds.KILLED_ROWS

    d = make_designer(tmp_path / "b", server.url, max_concurrent_row_groups=1)
    ds.killable(d).run()  # the same seed, uninterrupted: the same data in every stage
    for stage_dir in ["stage-0-topics", "stage-1-easy", "stage-2-hard", "stage-3-judged"]:
        pd.testing.assert_frame_equal(
            read_parquet(parquet_files(tmp_path / "b" / ds.KILLED / stage_dir / "parquet-files")),
            read_parquet(parquet_files(wf / stage_dir / "parquet-files")),
        )


async def test_branches_on_one_model_share_one_lease(prefect_server, mock_llm, tmp_path):
    """Two branches running at once on the same model hold one lease of its global limit
    (one process in its counter), through the real server's global concurrency limits."""
    ds._ARRIVED.clear()
    d = make_designer(tmp_path, mock_llm.url)
    d.runtime.global_throttle = True
    workflow = (
        d.compose_workflow("one-lease")
        .add_stage("topics", ds.topics(), num_records=4)
        .add_stage("left", ds.counting_branch("left", "right"), depends_on=["topics"])
        .add_stage("right", ds.counting_branch("right", "left"), depends_on=["topics"])
    )
    results = await workflow.arun()
    for branch in ("left", "right"):
        assert set(results.load_stage_output(branch)["holders"]) == {1}
    assert mock_llm.stats()["max_in_flight"] <= 4  # the model's max_parallel_requests
