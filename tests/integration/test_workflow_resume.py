"""Resuming composite workflows: which stages are reused, resumed by row group or rerun.

Most tests run ``topics -> answers -> reviews`` (one LLM column each, 6 rows: 18 LLM
requests for a full run) and count the mock's requests to prove what ran.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

import dd_prefect.config as dd
from dd_prefect import ResumeMode
from dd_prefect.errors import ConfigValidationError, ResumeError, WorkflowError
from dd_prefect.workflow import keys as keys_module
from dd_prefect.workflow.keys import stage_fingerprint
from tests.integration import workflow_callbacks as cb
from tests.integration.workflow_callbacks import (
    answers,
    llm_stage,
    make_designer,
    reviews,
    three_stage,
    topics,
)

pytestmark = pytest.mark.integration
NAME = "wf"


@pytest.fixture(autouse=True)
def _clear_calls():
    cb.CALLS.clear()
    yield
    cb.CALLS.clear()


def wf_dir(tmp_path: Path) -> Path:
    return tmp_path / "artifacts" / NAME


def meta(tmp_path: Path) -> dict:
    return json.loads((wf_dir(tmp_path) / "workflow-metadata.json").read_text())


def statuses(tmp_path: Path) -> list[str]:
    return [s["status"] for s in meta(tmp_path)["stages"]]


def started(tmp_path: Path, stage_dir: str) -> float:
    """When a stage's dataset run started (changes when, and only when, it reruns)."""
    return json.loads((wf_dir(tmp_path) / stage_dir / "metadata.json").read_text())["started_at"]


class Counter:
    """LLM requests made since the last call."""

    def __init__(self, server) -> None:
        self.server = server
        self.seen = server.stats()["requests"]

    def __call__(self) -> int:
        now = self.server.stats()["requests"]
        new, self.seen = now - self.seen, now
        return new


# -- NEVER / IF_POSSIBLE ------------------------------------------------------------------------


async def test_never_replaces_the_stage_directories(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    new = Counter(mock_llm)
    first = (await three_stage(d, NAME).arun()).load_dataset()
    assert new() == 18
    stray = wf_dir(tmp_path) / "stage-1-answers" / "stray.txt"
    stray.write_text("left behind")
    old = wf_dir(tmp_path) / "stage-7-old"
    old.mkdir()

    again = await three_stage(d, NAME).arun(resume=ResumeMode.NEVER)
    assert new() == 18
    assert not stray.exists() and not old.exists()
    pd.testing.assert_frame_equal(first, again.load_dataset())  # seeded: the same rows
    assert statuses(tmp_path) == ["completed"] * 3


async def test_if_possible_reuses_matching_stages_and_reruns_from_the_first_change(
    prefect_server, mock_llm, tmp_path
):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    new = Counter(mock_llm)
    first = await three_stage(d, NAME).arun()
    assert new() == 18
    before = meta(tmp_path)

    same = await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 0
    pd.testing.assert_frame_equal(first.load_dataset(), same.load_dataset())
    assert [s["fingerprint"] for s in meta(tmp_path)["stages"]] == [
        s["fingerprint"] for s in before["stages"]
    ]

    # Change stage 2: stage 1 is reused, stages 2 and 3 rerun.
    t0 = started(tmp_path, "stage-0-topics")
    changed = (
        d.compose_workflow(NAME)
        .add_stage("topics", topics(), num_records=6)
        .add_stage("answers", llm_stage(("answer", "Answer briefly: {{ question }}")))
        .add_stage("reviews", reviews())
    )
    results = await changed.arun(resume="if_possible")
    assert new() == 12
    assert started(tmp_path, "stage-0-topics") == t0
    assert results.load_dataset()["answer"].str.contains("Answer briefly").all()
    assert statuses(tmp_path) == ["completed"] * 3

    # A stage added at the end is the only one to run.
    longer = changed.add_stage("more", llm_stage(("more", "More on {{ review }}")))
    await longer.arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 6
    assert statuses(tmp_path) == ["completed"] * 4


async def test_lost_batch_regenerates_only_its_row_group_then_the_descendants(
    prefect_server, mock_llm, tmp_path
):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    new = Counter(mock_llm)
    first = (await three_stage(d, NAME).arun()).load_dataset()
    new()
    (wf_dir(tmp_path) / "stage-1-answers" / "parquet-files" / "batch_00001.parquet").unlink()

    results = await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE)
    # answers: only its lost row group (1 row of buffer 5); then reviews reruns (6)
    assert new() == 1 + 6
    pd.testing.assert_frame_equal(first, results.load_dataset())
    assert results.count_stage_output_records("answers") == 6

    # An unreadable file counts as lost too: its row group (5 rows) alone is regenerated.
    (wf_dir(tmp_path) / "stage-2-reviews" / "parquet-files" / "batch_00000.parquet").write_bytes(
        b"not parquet"
    )
    results = await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 5
    pd.testing.assert_frame_equal(first, results.load_dataset())


async def test_corrupt_batch_is_never_trusted(prefect_server, mock_llm, tmp_path):
    """Bytes flipped inside a batch (its footer intact, its row count unchanged): resume
    regenerates that row group instead of handing on data that no longer reads."""
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    new = Counter(mock_llm)
    first = (await three_stage(d, NAME).arun()).load_dataset()
    new()
    batch = wf_dir(tmp_path) / "stage-2-reviews" / "parquet-files" / "batch_00000.parquet"
    data = bytearray(batch.read_bytes())
    for i in range(64):  # inside the column data, well before the footer
        data[100 + i] ^= 0xFF
    batch.write_bytes(bytes(data))
    results = await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 5  # that row group of the last stage alone
    pd.testing.assert_frame_equal(first, results.load_dataset())


async def test_output_edited_by_hand_reruns_the_descendants(prefect_server, mock_llm, tmp_path):
    """An edited batch (same row count) is regenerated, and every stage after it reruns
    on what the stage hands on now: nothing downstream is built on stale input."""
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    new = Counter(mock_llm)
    await three_stage(d, NAME).arun()
    new()
    path = wf_dir(tmp_path) / "stage-0-topics" / "parquet-files" / "batch_00001.parquet"
    frame = pd.read_parquet(path)
    frame["question"] = "edited by hand"
    frame.to_parquet(path)
    results = await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 1 + 6 + 6  # topics' edited row group, then answers and reviews
    assert "edited by hand" not in set(results.load_stage_output("topics")["question"])


async def test_garbled_stage_metadata_is_rewritten(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    new = Counter(mock_llm)
    first = (await three_stage(d, NAME).arun()).load_dataset()
    new()
    stage_meta = wf_dir(tmp_path) / "stage-2-reviews" / "metadata.json"
    stage_meta.write_text("{garbled")
    results = await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 0  # its row groups still verify: nothing is generated again
    assert json.loads(stage_meta.read_text())["status"] == "completed"
    pd.testing.assert_frame_equal(first, results.load_dataset())


async def test_missing_callback_output_reruns_its_descendants(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)

    def workflow():
        return (
            d.compose_workflow(NAME)
            .add_stage(
                "topics", topics(), num_records=6, on_success=cb.keep_even, on_success_version="1"
            )
            .add_stage("answers", answers())
            .add_stage("reviews", reviews())
        )

    new = Counter(mock_llm)
    first = (await workflow().arun()).load_dataset()
    assert new() == 6 + 3 + 3
    await workflow().arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 0 and len(cb.CALLS) == 1  # versioned callback output: reused

    t1, t2 = started(tmp_path, "stage-1-answers"), started(tmp_path, "stage-2-reviews")
    shutil.rmtree(wf_dir(tmp_path) / "stage-0-topics" / "callback-outputs")
    results = await workflow().arun(resume=ResumeMode.IF_POSSIBLE)
    assert [c["name"] for c in cb.CALLS] == ["keep_even", "keep_even"]
    assert (wf_dir(tmp_path) / "stage-0-topics" / "callback-outputs" / "keep_even").is_dir()
    # The stage resumes (its row groups reused) to recreate its callback output, and
    # everything after it reruns.
    assert new() == 3 + 3
    assert started(tmp_path, "stage-1-answers") > t1
    assert started(tmp_path, "stage-2-reviews") > t2
    pd.testing.assert_frame_equal(first, results.load_dataset())


async def test_on_success_without_version_is_dirty_on_every_resume(
    prefect_server, mock_llm, tmp_path
):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)

    def workflow(version):
        return (
            d.compose_workflow(NAME)
            .add_stage("topics", topics(), num_records=6)
            .add_stage("answers", answers(), on_success=cb.observe, on_success_version=version)
            .add_stage("reviews", reviews())
        )

    new = Counter(mock_llm)
    await workflow(None).arun()
    assert new() == 18
    await workflow(None).arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 12  # answers (its callback can't be trusted) and reviews
    assert len(cb.CALLS) == 2
    with pytest.raises(ResumeError, match=r"stage 'answers'.*without on_success_version"):
        await workflow(None).arun(resume=ResumeMode.ALWAYS)
    assert new() == 0 and len(cb.CALLS) == 2

    await workflow("v1").arun(resume=ResumeMode.IF_POSSIBLE)  # the version is new: rerun
    assert new() == 12 and len(cb.CALLS) == 3
    await workflow("v1").arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 0 and len(cb.CALLS) == 3
    await workflow("v2").arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 12 and len(cb.CALLS) == 4


# -- partial stages ---------------------------------------------------------------------------


async def test_failed_stage_resumes_by_row_group(prefect_server, mock_llm, tmp_path, monkeypatch):
    flag = tmp_path / "fail-once"
    flag.write_text("2")  # the check passes twice (row groups 0 and 1), then fails once
    monkeypatch.setenv(cb.FAIL_FLAG, str(flag))
    checked = answers().add_column(
        name="length",
        column_type="custom",
        function="tests.integration.workflow_callbacks:fail_once",
        generation_strategy="full_column",
        required_columns=["answer"],
    )
    d = make_designer(tmp_path / "artifacts", mock_llm.url, max_concurrent_row_groups=1)

    def workflow():
        return (
            d.compose_workflow(NAME)
            .add_stage("topics", topics(), num_records=20)
            .add_stage("answers", checked)
            .add_stage("reviews", reviews())
        )

    new = Counter(mock_llm)
    with pytest.raises(Exception, match="transient failure"):
        await workflow().arun()
    assert new() == 20 + 15  # row group 2 of answers made its requests, then failed
    entries = meta(tmp_path)["stages"]
    assert [s["status"] for s in entries] == ["completed", "failed"]
    assert "transient failure" in entries[1]["error"]
    assert not flag.exists()

    # ALWAYS accepts a partial stage: resumed by row group, the stages after it run fresh.
    results = await workflow().arun(resume=ResumeMode.ALWAYS)
    assert new() == (20 - 10) + 20
    assert statuses(tmp_path) == ["completed"] * 3
    final = results.load_dataset()
    assert len(final) == 20
    assert list(final["length"]) == [len(a) for a in final["answer"]]

    clean = make_designer(tmp_path / "clean", mock_llm.url, max_concurrent_row_groups=1)
    expected = (
        await clean.compose_workflow(NAME)
        .add_stage("topics", topics(), num_records=20)
        .add_stage("answers", checked)
        .add_stage("reviews", reviews())
        .arun()
    ).load_dataset()
    pd.testing.assert_frame_equal(expected, final)


# -- metadata -------------------------------------------------------------------------------------


UNUSABLE_METADATA = [
    "{not json",
    '["a", "list"]',
    '{"name": "wf", "stages": [{"index": "zero", "name": 3}]}',
    '{"name": "wf", "stages": [{"index": 0, "name": "topics", "stage_dir": "x", '
    '"status": "exploded"}]}',
]


async def test_unusable_metadata_warns_and_starts_fresh(prefect_server, mock_llm, tmp_path, caplog):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    new = Counter(mock_llm)
    await three_stage(d, NAME).arun()
    new()
    for content in UNUSABLE_METADATA:
        (wf_dir(tmp_path) / "workflow-metadata.json").write_text(content)
        with pytest.raises(ResumeError, match="unreadable"):
            await three_stage(d, NAME).arun(resume=ResumeMode.ALWAYS)
        assert new() == 0

        caplog.clear()
        with caplog.at_level(logging.WARNING):
            await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE)
        assert any(
            r.levelno == logging.WARNING and "starting fresh" in r.getMessage()
            for r in caplog.records
        ), content
        assert new() == 18, content
        assert statuses(tmp_path) == ["completed"] * 3


async def test_unknown_metadata_fields_are_preserved(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    await three_stage(d, NAME).arun()
    path = wf_dir(tmp_path) / "workflow-metadata.json"
    data = json.loads(path.read_text())
    data["reviewed_by"] = {"name": "alice", "approved": True}
    data["stages"][1]["note"] = "spot-checked"
    path.write_text(json.dumps(data))
    new = Counter(mock_llm)

    await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 0
    assert meta(tmp_path)["reviewed_by"] == {"name": "alice", "approved": True}
    assert meta(tmp_path)["stages"][1]["note"] == "spot-checked"

    await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE, rerun_from="answers")
    assert new() == 12
    assert meta(tmp_path)["reviewed_by"] == {"name": "alice", "approved": True}
    assert meta(tmp_path)["stages"][1]["note"] == "spot-checked"


# -- ALWAYS ---------------------------------------------------------------------------------------


async def test_always_raises_where_it_would_start_fresh(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    new = Counter(mock_llm)
    with pytest.raises(ResumeError, match=r"workflow 'wf'.*no workflow-metadata\.json"):
        await three_stage(d, NAME).arun(resume=ResumeMode.ALWAYS)
    assert not (tmp_path / "artifacts").exists()
    assert new() == 0

    first = (await three_stage(d, NAME).arun()).load_dataset()
    new()
    same = await three_stage(d, NAME).arun(resume="always")
    assert new() == 0
    pd.testing.assert_frame_equal(first, same.load_dataset())
    before = meta(tmp_path)

    changed = (
        d.compose_workflow(NAME)
        .add_stage("topics", topics(), num_records=6)
        .add_stage("answers", answers(), num_records=7)
        .add_stage("reviews", reviews())
    )
    with pytest.raises(ResumeError, match=r"stage 'answers'.*fingerprint differs"):
        await changed.arun(resume=ResumeMode.ALWAYS)
    assert new() == 0
    # Raising started nothing and forgot nothing: the earlier run is still fully reusable.
    assert [s["status"] for s in meta(tmp_path)["stages"]] == ["completed"] * 3
    await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 0
    assert [s["fingerprint"] for s in meta(tmp_path)["stages"]] == [
        s["fingerprint"] for s in before["stages"]
    ]

    # A lost output is resumed, not started fresh: ALWAYS regenerates its row groups.
    shutil.rmtree(wf_dir(tmp_path) / "stage-2-reviews" / "parquet-files")
    again = await three_stage(d, NAME).arun(resume=ResumeMode.ALWAYS)
    assert new() == 6
    pd.testing.assert_frame_equal(first, again.load_dataset())

    # With rerun_from, ALWAYS reruns what it is told to.
    await three_stage(d, NAME).arun(resume=ResumeMode.ALWAYS, rerun_from="reviews")
    assert new() == 6


# -- targets, rerun_from, overrides -------------------------------------------------------------


async def test_targets_run_only_up_to_the_highest_target(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    new = Counter(mock_llm)
    with pytest.raises(WorkflowError, match="unknown target"):
        await three_stage(d, NAME).arun(targets=["nope"])

    results = await three_stage(d, NAME).arun(targets=["topics", "answers"])
    assert results.keys() == ["topics", "answers"]
    assert results.final_stage == "answers"
    assert len(results.load_dataset()) == 6
    assert new() == 12
    assert not (wf_dir(tmp_path) / "stage-2-reviews").exists()
    assert [s["name"] for s in meta(tmp_path)["stages"]] == ["topics", "answers"]

    results = await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE, targets=["topics"])
    assert results.keys() == ["topics"] and new() == 0

    results = await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE)
    assert results.keys() == ["topics", "answers", "reviews"]
    assert new() == 6  # only the stage not run before

    # Running a prefix again keeps what the later stages hold.
    await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE, targets=["answers"])
    assert new() == 0
    await three_stage(d, NAME).arun(resume=ResumeMode.ALWAYS)
    assert new() == 0


async def test_rerun_from_forces_a_stage_and_its_descendants(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    new = Counter(mock_llm)
    with pytest.raises(WorkflowError, match="rerun_from needs resume"):
        await three_stage(d, NAME).arun(rerun_from="answers")
    with pytest.raises(WorkflowError, match="unknown stage 'nope'"):
        await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE, rerun_from="nope")
    assert not (tmp_path / "artifacts").exists()

    await three_stage(d, NAME).arun()
    assert new() == 18
    t0, t1 = started(tmp_path, "stage-0-topics"), started(tmp_path, "stage-1-answers")
    await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE, rerun_from="answers")
    assert new() == 12
    assert started(tmp_path, "stage-0-topics") == t0
    assert started(tmp_path, "stage-1-answers") > t1
    await three_stage(d, NAME).arun(resume=ResumeMode.IF_POSSIBLE, rerun_from="topics")
    assert new() == 18


async def test_stage_output_override_is_a_review_gate(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    new = Counter(mock_llm)
    results = await three_stage(d, NAME).arun()
    new()

    # A reviewer keeps three answers and edits one.
    reviewed = results.load_stage_output("answers").head(3)
    reviewed.loc[0, "answer"] = "A reviewed answer."
    review_dir = tmp_path / "review"
    review_dir.mkdir()
    reviewed.to_parquet(review_dir / "reviewed.parquet")

    gated = await three_stage(d, NAME).arun(
        resume=ResumeMode.IF_POSSIBLE, stage_output_overrides={"answers": review_dir}
    )
    assert new() == 3  # only reviews reran, on the reviewed rows
    final = gated.load_dataset()
    assert list(final["answer"]) == list(reviewed["answer"])
    assert (
        final["review"][0].startswith("Mock answer") and "A reviewed answer" in final["review"][0]
    )
    entries = meta(tmp_path)["stages"]
    assert entries[1]["override_path"] == str(review_dir.resolve())
    assert entries[1]["output_path"] == "stage-1-answers/parquet-files"
    assert entries[2]["seed_path"] == str(review_dir.resolve())
    assert entries[2]["requested_records"] == 3

    # Same override: reused. Changed override file: the descendants rerun.
    await three_stage(d, NAME).arun(
        resume=ResumeMode.IF_POSSIBLE, stage_output_overrides={"answers": review_dir}
    )
    assert new() == 0
    reviewed.head(2).to_parquet(review_dir / "reviewed.parquet")
    await three_stage(d, NAME).arun(
        resume=ResumeMode.IF_POSSIBLE,
        stage_output_overrides={"answers": str(review_dir / "reviewed.parquet")},
    )
    assert new() == 2

    # Without parquet, or without a column the next stage reads: raises before running.
    empty = tmp_path / "empty-review"
    empty.mkdir()
    with pytest.raises(WorkflowError, match=r"stage 'answers'.*no parquet file"):
        await three_stage(d, NAME).arun(
            resume=ResumeMode.IF_POSSIBLE, stage_output_overrides={"answers": empty}
        )
    reviewed.drop(columns=["answer"]).to_parquet(empty / "no-answer.parquet")
    with pytest.raises(ConfigValidationError, match=r"stage 'reviews'.*unknown column 'answer'"):
        await three_stage(d, NAME).arun(
            resume=ResumeMode.IF_POSSIBLE, stage_output_overrides={"answers": empty}
        )
    with pytest.raises(WorkflowError, match="unknown stage 'nope'"):
        await three_stage(d, NAME).arun(
            resume=ResumeMode.IF_POSSIBLE, stage_output_overrides={"nope": review_dir}
        )
    assert new() == 0


async def test_moved_artifact_tree_still_resumes(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "old" / "artifacts", mock_llm.url)
    new = Counter(mock_llm)
    first = (await three_stage(d, NAME).arun()).load_dataset()
    assert new() == 18
    shutil.move(tmp_path / "old" / "artifacts", tmp_path / "moved")

    moved = make_designer(tmp_path / "moved", mock_llm.url)
    results = await three_stage(moved, NAME).arun(resume=ResumeMode.IF_POSSIBLE)
    assert new() == 0
    assert results.get_stage_output_path("reviews") == (
        tmp_path / "moved" / NAME / "stage-2-reviews" / "parquet-files"
    )
    pd.testing.assert_frame_equal(first, results.load_dataset())
    await three_stage(moved, NAME).arun(resume=ResumeMode.ALWAYS)
    assert new() == 0


# -- fingerprints ---------------------------------------------------------------------------------


def test_stage_fingerprint_covers_everything_that_shapes_the_output(monkeypatch, tmp_path):
    def fp(num=6, upstream="up", builder=None, run=None, root=False, **changes):
        kwargs = {
            "num_records": None,
            "on_success": cb.observe,
            "on_success_version": "1",
            "output_processors": None,
            "output": "final",
            "allow_empty": False,
            "sampling_strategy": dd.SamplingStrategy.ORDERED,
            "selection_strategy": None,
            **changes,
        }
        stage = dd.Stage.of("s", builder or answers(), **kwargs)
        return stage_fingerprint(stage, num, upstream, run or dd.RunConfig(seed=1), root=root)

    base = fp()
    assert fp() == base  # stable
    assert fp(builder=answers().build()) == base  # a config or its builder alike
    assert fp(num_records=6) == base  # only the resolved count counts
    view = dd.SchemaTransformProcessorConfig(name="v", template={"a": "{{ answer }}"})
    variants = {
        "config": fp(builder=llm_stage(("answer", "Reply: {{ question }}"))),
        "num_records": fp(num=7),
        "sampling": fp(sampling_strategy="shuffle"),
        "selection": fp(selection_strategy=dd.IndexRange(start=0, end=2)),
        "allow_empty": fp(allow_empty=True),
        "on_success_version": fp(on_success_version="2"),
        "output_processors": fp(output_processors=[view]),
        "output": fp(output_processors=[view], output="processor:v"),
        "upstream": fp(upstream="other"),
        "seed": fp(run=dd.RunConfig(seed=2)),
        "on_cell_error": fp(run=dd.RunConfig(seed=1, on_cell_error="null")),
    }
    seed_file = tmp_path / "seed.csv"
    seed_file.write_text("question\nq1\n")
    seeded = answers().with_seed_dataset(dd.LocalFileSeedSource(path=str(seed_file)))
    before_edit = fp(builder=seeded, upstream=None, root=True)
    seed_file.write_text("question\nq2\n")  # a root stage's own seed edited in place
    variants["seed_files"] = fp(builder=seeded, upstream=None, root=True)
    assert variants["seed_files"] != before_edit
    assert fp(run=dd.RunConfig(seed=1, buffer_size=3, max_llm_retries=0)) == base  # how, not what
    monkeypatch.setattr(keys_module, "__version__", "99.0.0")
    variants["library_version"] = fp()
    assert base not in variants.values()
    assert len(set(variants.values())) == len(variants)
