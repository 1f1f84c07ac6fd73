"""Composite workflows on a real Prefect server and the mock LLM server: defining stages,
handing data from stage to stage, callbacks, output processors, results and artifacts.

Resume behaviour is in ``test_workflow_resume.py``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

import dd_prefect.config as dd
from dd_prefect import CompositeWorkflow
from dd_prefect.errors import ConfigValidationError, WorkflowError
from dd_prefect.testing import MockLLMServer
from dd_prefect.workflow.results import (
    CompositeWorkflowResults,
    SkippedStageResult,
    StageResult,
)
from tests.integration import workflow_callbacks as cb
from tests.integration.workflow_callbacks import (
    MODEL,
    answers,
    llm_stage,
    make_designer,
    model_config,
    three_stage,
    topics,
)

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _clear_calls():
    cb.CALLS.clear()
    yield
    cb.CALLS.clear()


def meta(workflow_dir: Path) -> dict:
    return json.loads((workflow_dir / "workflow-metadata.json").read_text())


def stage_meta(workflow_dir: Path, stage: str) -> dict:
    return next(s for s in meta(workflow_dir)["stages"] if s["name"] == stage)


# -- a three-stage LLM workflow ------------------------------------------------------------


def personas() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=[model_config()])
    b.add_column(
        name="person", column_type="sampler", sampler_type="person", params={"age_range": [25, 60]}
    )
    b.add_column(
        name="domain",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["billing", "shipping", "returns"]},
    )
    b.add_column(
        name="persona",
        column_type="llm-text",
        model_alias=MODEL,
        prompt="Describe {{ person.first_name }} {{ person.last_name }}, aged {{ person.age }}, "
        "who has a {{ domain }} problem.",
    )
    return b


def conversations() -> dd.DataDesignerConfigBuilder:
    return llm_stage(
        ("conversation", "Write a support chat with this customer: {{ persona }} ({{ domain }})")
    )


def judge() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=[model_config()])
    b.add_column(
        name="quality",
        column_type="llm-judge",
        model_alias=MODEL,
        prompt="Judge this support chat: {{ conversation }}",
        scores=[
            dd.Score(
                name="helpfulness",
                description="Does the agent solve the problem?",
                options={1: "no", 2: "partly", 3: "fully"},
            ),
            dd.Score(
                name="tone",
                description="Is the agent polite?",
                options={"bad": "rude", "good": "polite"},
            ),
        ],
    )
    return b


async def test_three_stage_personas_conversations_judge(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    n = 4
    workflow = (
        d.compose_workflow("support-chats")
        .add_stage("personas", personas(), num_records=n)
        .add_stage("conversations", conversations(), num_records=5 * n)
        .add_stage("judged", judge())
    )
    assert isinstance(workflow, CompositeWorkflow)
    results = await workflow.arun()

    assert isinstance(results, CompositeWorkflowResults)
    assert [results.count_stage_output_records(s) for s in results] == [n, 5 * n, 5 * n]
    assert mock_llm.stats()["requests"] == n + 5 * n + 5 * n

    people = results.load_stage_output("personas")
    assert list(people.columns) == ["person", "domain", "persona"]
    for person in people["person"]:
        assert {"first_name", "last_name", "age"} <= set(person)
        assert 25 <= person["age"] <= 60
    assert set(people["domain"]) <= {"billing", "shipping", "returns"}
    assert people["persona"].str.startswith("Mock answer").all()
    assert people["persona"].is_unique

    chats = results.load_stage_output("conversations")
    assert list(chats.columns) == ["person", "domain", "persona", "conversation"]
    # Exploded x5 from its input in order: each persona exactly five times.
    assert list(chats["persona"]) == list(people["persona"]) * 5
    assert chats["persona"].value_counts().eq(5).all()
    assert chats["conversation"].str.contains("Write a support chat").all()

    judged = results.load_dataset()
    assert list(judged.columns) == ["person", "domain", "persona", "conversation", "quality"]
    assert list(judged["conversation"]) == list(chats["conversation"])
    for quality in judged["quality"]:
        assert set(quality) == {"helpfulness", "tone"}
        assert quality["helpfulness"]["score"] in (1, 2, 3)
        assert quality["tone"]["score"] in ("bad", "good")
        assert isinstance(quality["helpfulness"]["reasoning"], str)

    m = meta(tmp_path / "artifacts" / "support-chats")
    assert [(s["requested_records"], s["actual_records"]) for s in m["stages"]] == [
        (n, n),
        (5 * n, 5 * n),
        (5 * n, 5 * n),
    ]


# -- the doc-qa example: seed passages -> drafts (scratch columns dropped) -> chatml --------

PASSAGES = [
    "Tea is made by pouring hot water over cured leaves.",
    "Coffee beans are the roasted seeds of the coffee cherry.",
    "Water boils at a lower temperature at high altitude.",
    "Juice is pressed from fresh fruit and vegetables.",
    "Milk is an emulsion of fat in water.",
]


def doc_qa(designer, passages: Path) -> CompositeWorkflow:
    drafts = dd.DataDesignerConfigBuilder(model_configs=[model_config()])
    drafts.with_seed_dataset(dd.LocalFileSeedSource(path=str(passages)))
    drafts.add_column(
        name="chunk_summary",
        column_type="llm-text",
        model_alias=MODEL,
        prompt="Summarize: {{ text }}",
    )
    drafts.add_column(
        name="question",
        column_type="llm-text",
        model_alias=MODEL,
        prompt="Write a question about: {{ chunk_summary }}",
    )
    drafts.add_column(
        name="answer",
        column_type="llm-text",
        model_alias=MODEL,
        prompt="Answer {{ question }} using only: {{ text }}",
    )
    chatml = dd.DataDesignerConfigBuilder()
    chatml.add_processor(
        dd.SchemaTransformProcessorConfig(
            name="chatml",
            template={
                "messages": [
                    {"role": "user", "content": "{{ question }}"},
                    {"role": "assistant", "content": "{{ answer }}"},
                ]
            },
        )
    )
    return (
        designer.compose_workflow("doc-qa")
        .add_stage(
            "drafts",
            drafts,
            output_processors=[
                dd.DropColumnsProcessorConfig(
                    name="drop_scratch", column_names=["text", "chunk_summary"]
                )
            ],
        )
        .add_stage("chatml", chatml, output="processor:chatml")
    )


async def test_doc_qa_example_exports_chatml(prefect_server, mock_llm, tmp_path):
    passages = tmp_path / "passages.parquet"
    pd.DataFrame({"doc_id": [f"d{i}" for i in range(5)], "text": PASSAGES}).to_parquet(passages)
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    results = await doc_qa(d, passages).arun()
    wf = tmp_path / "artifacts" / "doc-qa"

    # num_records defaults to the seed's rows; the chatml stage calls no LLM.
    assert mock_llm.stats()["requests"] == 5 * 3
    assert results["drafts"].usage.requests == results.usage.requests == 5 * 3  # main run's
    main = pd.read_parquet(wf / "stage-0-drafts" / "parquet-files")
    assert list(main.columns) == ["doc_id", "text", "chunk_summary", "question", "answer"]
    assert results.get_stage_output_path("drafts") == (
        wf / "stage-0-drafts" / "output-processors" / "parquet-files"
    )
    drafts = results.load_stage_output("drafts")
    assert list(drafts.columns) == ["doc_id", "question", "answer"]
    assert list(drafts["answer"]) == list(main["answer"])

    assert results.get_stage_output_path("chatml") == (
        wf / "stage-1-chatml" / "processors-files" / "chatml"
    )
    out = results.export(tmp_path / "train.jsonl", "jsonl")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 5
    for line, (_, row) in zip(lines, drafts.iterrows(), strict=True):
        assert set(line) == {"messages"}
        assert isinstance(line["messages"], list)
        assert line["messages"] == [
            {"role": "user", "content": row["question"]},
            {"role": "assistant", "content": row["answer"]},
        ]
    assert stage_meta(wf, "chatml")["output_path"] == "stage-1-chatml/processors-files/chatml"


# -- Prefect: flow, stage subflows, row-group tasks, on_success tasks -------------------------


async def _wait_for(fetch, check, timeout: float = 20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await fetch()
        if check(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.3)


async def test_stages_are_subflows_and_callbacks_tasks(prefect_server, mock_llm, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterName,
        FlowRunFilterParentFlowRunId,
    )

    name = f"prefect-api-{uuid.uuid4().hex[:8]}"
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    workflow = (
        d.compose_workflow(name)
        .add_stage("topics", topics(), num_records=7, on_success=cb.observe)
        .add_stage("answers", answers(), on_success=cb.async_observe)
    )
    await workflow.arun()

    # A sync callback runs off the event loop, an async one on it.
    assert [(c["name"], c["on_loop"]) for c in cb.CALLS] == [
        ("observe", False),
        ("async_observe", True),
    ]
    assert cb.CALLS[0]["stage_dir"] == tmp_path / "artifacts" / name / "stage-0-topics"

    async with get_client() as client:
        [parent] = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
        assert parent.state.is_completed()
        assert (await client.read_flow(parent.flow_id)).name == "dd-prefect-workflow"
        children = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])
            )
        )
        assert sorted(r.name for r in children) == ["answers", "topics"]
        for child in children:
            assert child.state.is_completed()
            assert (await client.read_flow(child.flow_id)).name == "dd-prefect-stage"
        by_name = {r.name: r for r in children}
        expected = {
            "topics": {"row-group-0", "row-group-1", "observe"},
            "answers": {"row-group-0", "row-group-1", "async_observe"},
        }
        for stage, names in expected.items():

            async def task_runs(stage=stage):
                return await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[by_name[stage].id]))
                )

            runs = await _wait_for(task_runs, lambda rs, n=names: {r.name for r in rs} >= n)
            assert {r.name for r in runs} >= names, stage
            for run in runs:
                if run.name in names:
                    assert run.state is not None and run.state.is_completed(), run.name


# -- handoff: seeding from the previous stage, num_records, strategies -----------------------


async def test_handoff_num_records_and_strategies(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    short = dd.DataDesignerConfigBuilder()
    short.add_column(name="tag", column_type="expression", expr="{{ topic }}:{{ answer[:11] }}")
    workflow = (
        d.compose_workflow("handoff")
        .add_stage("topics", topics(), num_records=6)
        # no num_records: the input's (selected) row count
        .add_stage("answers", answers(), selection_strategy=dd.IndexRange(start=1, end=3))
        # explode, shuffled
        .add_stage("reviews", cb.reviews(), num_records=7, sampling_strategy="shuffle")
        # shrink, from the second half of its input
        .add_stage(
            "short",
            short,
            num_records=2,
            selection_strategy=dd.PartitionBlock(index=1, num_partitions=2),
        )
    )
    results = await workflow.arun()
    wf = tmp_path / "artifacts" / "handoff"

    first = results.load_stage_output("topics")
    second = results.load_stage_output("answers")
    third = results.load_stage_output("reviews")
    fourth = results.load_dataset()
    assert [len(first), len(second), len(third), len(fourth)] == [6, 3, 7, 2]
    assert mock_llm.stats()["requests"] == 6 + 3 + 7
    assert list(second["question"]) == list(first["question"][1:4])
    # Shuffled per epoch: 3 + 3 + 1 rows, each epoch a permutation of the input.
    assert sorted(third["answer"][:3]) == sorted(second["answer"])
    assert sorted(third["answer"][3:6]) == sorted(second["answer"])
    assert set(third["answer"]) <= set(second["answer"])
    # Rows 4..6 of the 7 (array_split of 7 into 2 blocks: 4 + 3), first two of them.
    assert list(fourth["review"]) == list(third["review"][4:6])
    assert list(fourth["tag"]) == [
        f"{t}:{a[:11]}" for t, a in zip(third["topic"][4:6], third["answer"][4:6], strict=True)
    ]

    stages = meta(wf)["stages"]
    assert [s["seed_path"] for s in stages] == [
        None,
        "stage-0-topics/parquet-files",
        "stage-1-answers/parquet-files",
        "stage-2-reviews/parquet-files",
    ]
    assert [s["requested_records"] for s in stages] == [6, 3, 7, 2]
    seeds = [
        yaml.safe_load((wf / s["stage_dir"] / "config.yaml").read_text())["seed_config"]
        for s in stages[1:]
    ]
    assert seeds[0]["source"]["path"] == str(wf / "stage-0-topics" / "parquet-files" / "*.parquet")
    # Written in Data Designer's format: a selection strategy is known by its fields.
    assert seeds[0]["selection_strategy"] == {"start": 1, "end": 3}
    assert seeds[1]["sampling_strategy"] == "shuffle"
    assert set(seeds[2]["selection_strategy"]) == {"index", "num_partitions"}


# -- columns a stage gets from its input -----------------------------------------------------


async def test_unknown_input_column_raises_before_anything_runs(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    workflow = (
        d.compose_workflow("typo")
        .add_stage("topics", topics(), num_records=4)
        .add_stage("answers", llm_stage(("answer", "Answer: {{ questoin }}")))
    )
    with pytest.raises(ConfigValidationError) as err:
        await workflow.arun()
    assert "stage 'answers'" in str(err.value) and "'questoin'" in str(err.value)
    assert not (tmp_path / "artifacts").exists()
    assert mock_llm.stats()["requests"] == 0


async def test_input_columns_checked_against_real_input(prefect_server, mock_llm, tmp_path):
    """Behind a callback the input's columns are only known once it ran: the check then
    runs against the real columns, before the stage generates anything."""
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    workflow = (
        d.compose_workflow("renamed")
        .add_stage("topics", topics(), num_records=4, on_success=cb.rename_question)
        .add_stage("answers", answers())
    )
    with pytest.raises(ConfigValidationError) as err:
        await workflow.arun()
    message = str(err.value)
    assert "stage 'answers'" in message and "unknown column 'question'" in message
    assert mock_llm.stats()["requests"] == 4  # stage 1 only
    wf = tmp_path / "artifacts" / "renamed"
    assert not (wf / "stage-1-answers").exists()
    assert stage_meta(wf, "topics")["status"] == "completed"


# -- on_success --------------------------------------------------------------------------------


async def test_on_success_output_becomes_the_selected_output(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    workflow = (
        d.compose_workflow("callbacks")
        .add_stage("topics", topics(), num_records=6, on_success=cb.keep_even)
        .add_stage("answers", answers(), on_success=cb.first_two_as_file)
        .add_stage("reviews", cb.reviews())
    )
    results = await workflow.arun()
    wf = tmp_path / "artifacts" / "callbacks"
    managed = wf / "stage-0-topics" / "callback-outputs" / "keep_even"
    as_file = (
        wf / "stage-1-answers" / "callback-outputs" / "first_two_as_file" / "first-two.parquet"
    )

    assert [results.count_stage_output_records(s) for s in results] == [3, 2, 2]
    assert mock_llm.stats()["requests"] == 6 + 3 + 2
    assert results.get_stage_output_path("topics") == managed
    assert results.get_stage_output_path("answers") == as_file
    main = pd.read_parquet(wf / "stage-0-topics" / "parquet-files")
    assert list(results.load_stage_output("topics")["question"]) == list(main["question"][::2])
    assert list(results.load_dataset()["answer"]) == list(
        results.load_stage_output("answers")["answer"]
    )
    assert [c["name"] for c in cb.CALLS] == ["keep_even", "first_two_as_file"]

    topics_meta, answers_meta, reviews_meta = meta(wf)["stages"]
    assert (
        topics_meta["output_path"]
        == topics_meta["callback_output_path"]
        == ("stage-0-topics/callback-outputs/keep_even")
    )
    assert answers_meta["callback_output_path"] == (
        "stage-1-answers/callback-outputs/first_two_as_file/first-two.parquet"
    )
    assert answers_meta["seed_path"] == "stage-0-topics/callback-outputs/keep_even"
    assert reviews_meta["callback_output_path"] is None
    assert (answers_meta["requested_records"], answers_meta["actual_records"]) == (3, 2)


async def test_callback_wins_over_output_and_none_keeps_it(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    viewed = topics().add_processor(
        dd.SchemaTransformProcessorConfig(name="view", template={"q": "{{ question }}"})
    )
    workflow = (
        d.compose_workflow("precedence")
        .add_stage(
            "topics", viewed, num_records=4, output="processor:view", on_success=cb.keep_even
        )
        .add_stage("answers", answers(), on_success=cb.observe)
    )
    results = await workflow.arun()
    wf = tmp_path / "artifacts" / "precedence"
    assert results.get_stage_output_path("topics") == (
        wf / "stage-0-topics" / "callback-outputs" / "keep_even"
    )
    assert list(results.load_stage_output("topics").columns) == ["topic", "question"]
    assert results.get_stage_output_path("answers") == wf / "stage-1-answers" / "parquet-files"
    assert results.count_stage_output_records("answers") == 2
    assert stage_meta(wf, "answers")["callback_output_path"] is None


async def test_callback_returning_no_parquet_fails_the_stage(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    workflow = d.compose_workflow("bad-callback").add_stage(
        "topics", topics(), num_records=2, on_success=cb.returns_nothing_parquet
    )
    with pytest.raises(WorkflowError, match=r"stage 'topics'.*no parquet file"):
        await workflow.arun()
    entry = stage_meta(tmp_path / "artifacts" / "bad-callback", "topics")
    assert entry["status"] == "failed" and "no parquet file" in entry["error"]


# -- output processors and the output selector -------------------------------------------------


async def test_output_processors_and_output_selector(prefect_server, mock_llm, tmp_path):
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    first = topics().add_processor(
        dd.SchemaTransformProcessorConfig(name="own_view", template={"t": "{{ topic }}"})
    )
    second = llm_stage(("answer", "Answer: {{ prompt }}")).add_processor(
        dd.SchemaTransformProcessorConfig(
            name="pair", template={"prompt": "{{ prompt }}", "reply": "{{ answer }}"}
        )
    )
    workflow = (
        d.compose_workflow("processors")
        .add_stage(
            "topics",
            first,
            num_records=6,
            output_processors=[
                dd.DropColumnsProcessorConfig(name="drop_topic", column_names=["topic"]),
                dd.SchemaTransformProcessorConfig(name="qa", template={"prompt": "{{ question }}"}),
            ],
            output="processor:qa",
        )
        .add_stage("answers", second, output="processor:pair")
    )
    results = await workflow.arun()
    s0 = tmp_path / "artifacts" / "processors" / "stage-0-topics"
    s1 = tmp_path / "artifacts" / "processors" / "stage-1-answers"

    # The main pass keeps its columns and runs the config's own processors ...
    main = pd.read_parquet(s0 / "parquet-files")
    assert list(main.columns) == ["topic", "question"]
    assert list(pd.read_parquet(s0 / "processors-files" / "own_view")["t"]) == list(main["topic"])
    # ... the output processors run as a second pass seeded from it.
    second_pass = pd.read_parquet(s0 / "output-processors" / "parquet-files")
    assert list(second_pass.columns) == ["question"]
    assert results.get_stage_output_path("topics") == (
        s0 / "output-processors" / "processors-files" / "qa"
    )
    assert list(results.load_stage_output("topics")["prompt"]) == list(main["question"])
    assert isinstance(results["topics"], StageResult)
    assert list(results["topics"].load_dataset().columns) == ["question"]

    assert results.get_stage_output_path("answers") == s1 / "processors-files" / "pair"
    pairs = results.load_dataset()
    assert list(pairs.columns) == ["prompt", "reply"]
    assert list(pairs["prompt"]) == list(main["question"])
    assert mock_llm.stats()["requests"] == 12


# -- results -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def finished(prefect_server, tmp_path_factory):
    """One three-stage run shared by the read-only results and artifact tests."""
    root = tmp_path_factory.mktemp("finished")
    with MockLLMServer() as server:
        d = make_designer(root / "artifacts", server.url)
        results = await three_stage(d, "finished", records=6).arun()
        requests = server.stats()["requests"]
    return results, root / "artifacts" / "finished", requests


async def test_results_api(finished, tmp_path):
    results, wf, requests = finished
    assert requests == 18
    assert list(results) == results.keys() == ["topics", "answers", "reviews"]
    assert len(results) == 3
    assert [name for name, _ in results.items()] == results.keys()
    assert all(isinstance(r, StageResult) and r.status == "completed" for r in results.values())
    assert results["answers"].name == "answers"
    with pytest.raises(KeyError, match="topics, answers, reviews"):
        results["nope"]

    answers_df = results.load_stage_output("answers")
    assert list(answers_df.columns) == ["topic", "question", "answer"]
    assert [results.count_stage_output_records(s) for s in results] == [6, 6, 6]
    assert results.get_stage_output_path("reviews") == wf / "stage-2-reviews" / "parquet-files"
    final = results.load_dataset()
    assert list(final.columns) == ["topic", "question", "answer", "review"]
    assert list(final["answer"]) == list(answers_df["answer"])
    pd.testing.assert_frame_equal(final, results.load_stage_output("reviews"))

    readers = {"jsonl": lambda p: pd.read_json(p, lines=True), "csv": pd.read_csv}
    readers["parquet"] = pd.read_parquet
    for fmt, read in readers.items():
        back = read(results.export(tmp_path / f"final.{fmt}", fmt))
        assert list(back["review"]) == list(final["review"])
    topics_csv = pd.read_csv(results.export_stage("topics", tmp_path / "topics.csv", "csv"))
    assert list(topics_csv.columns) == ["topic", "question"] and len(topics_csv) == 6


async def test_to_config_builder_seeds_a_new_config(finished, mock_llm, tmp_path):
    results, wf, _ = finished
    builder = results.to_config_builder(columns=["topic", "review"])
    assert builder.build().seed_config.source.path == str(
        wf / "stage-2-reviews" / "parquet-files" / "*.parquet"
    )
    assert {c.name: c.drop for c in builder.columns} == {
        "topic": False,
        "question": True,
        "answer": True,
        "review": False,
    }
    builder.add_model_config(model_config())
    builder.add_column(
        name="summary", column_type="llm-text", model_alias=MODEL, prompt="Sum up {{ review }}"
    )
    d = make_designer(tmp_path / "artifacts", mock_llm.url)
    followup = (await d.acreate(builder, dataset_name="followup")).load_dataset()
    assert list(followup.columns) == ["topic", "review", "summary"]
    assert list(followup["review"]) == list(results.load_dataset()["review"])
    assert mock_llm.stats()["requests"] == 6

    # On a stage's results too.
    stage_builder = results["answers"].to_config_builder()
    assert stage_builder.build().seed_config.source.path == str(
        wf / "stage-1-answers" / "parquet-files" / "*.parquet"
    )
    assert [c.name for c in stage_builder.columns] == ["topic", "question", "answer"]


async def test_workflow_metadata_and_layout(finished):
    results, wf, _ = finished
    assert sorted(p.name for p in wf.iterdir()) == [
        "report.html",  # the workflow's report (issue 16)
        "stage-0-topics",
        "stage-1-answers",
        "stage-2-reviews",
        "workflow-metadata.json",
    ]
    assert not [p for p in wf.rglob("*") if p.name.endswith(".tmp")]  # atomic writes
    m = meta(wf)
    from dd_prefect import __version__

    assert m["name"] == "finished" and m["library_version"] == __version__
    keys = {
        "index",
        "name",
        "stage_dir",
        "depends_on",
        "status",
        "fingerprint",
        "requested_records",
        "actual_records",
        "seed_path",
        "output_path",
        "callback_output_path",
        "override_path",
        "duration",
    }
    for i, (entry, name) in enumerate(zip(m["stages"], results, strict=True)):
        assert keys <= set(entry)
        assert entry["index"] == i and entry["name"] == name
        assert entry["stage_dir"] == f"stage-{i}-{name}"
        assert entry["status"] == "completed"
        assert entry["requested_records"] == entry["actual_records"] == 6
        assert entry["output_path"] == f"stage-{i}-{name}/parquet-files"
        assert entry["callback_output_path"] is None and entry["override_path"] is None
        assert entry["duration"] > 0
        assert len(entry["fingerprint"]) == 64
        assert entry["fingerprint"] == results[name].fingerprint
        assert (wf / entry["stage_dir"] / "metadata.json").exists()
    assert [s["depends_on"] for s in m["stages"]] == [[], ["topics"], ["answers"]]
    assert [s["seed_path"] for s in m["stages"]] == [
        None,
        "stage-0-topics/parquet-files",
        "stage-1-answers/parquet-files",
    ]
    assert len({s["fingerprint"] for s in m["stages"]}) == 3


# -- validation in add_stage --------------------------------------------------------------------


def _proc(name: str) -> dd.SchemaTransformProcessorConfig:
    return dd.SchemaTransformProcessorConfig(name=name, template={"q": "{{ question }}"})


BAD_STAGES = [
    ({"name": ""}, "non-empty"),
    ({"name": "   "}, "non-empty"),
    ({"name": None}, "non-empty"),
    ({"name": "."}, "'.' or '..'"),
    ({"name": ".."}, "'.' or '..'"),
    *[({"name": f"a{c}b"}, "must not contain") for c in '<>:"/\\|?*'],
    ({"name": "topics"}, "duplicate stage name"),
    ({"output": "processor:missing"}, "unknown processor 'missing'"),
    ({"output": "everything"}, "must be 'final' or 'processor:<name>'"),
    ({"output_processors": [_proc("x"), _proc("x")]}, "duplicate output processor 'x'"),
    ({"output_processors": [_proc("view")]}, "'view' collides"),
    ({"on_success": cb.observe, "on_success_version": 2}, "on_success_version must be a string"),
    ({"allow_empty": "yes"}, "allow_empty must be a bool"),
    ({"allow_empty": 1}, "allow_empty must be a bool"),
    ({"sampling_strategy": "random"}, "sampling_strategy must be one of"),
    ({"sampling_strategy": 3}, "sampling_strategy must be one of"),
    ({"selection_strategy": {"start": 0, "end": 1}}, "selection_strategy must be an IndexRange"),
    ({"selection_strategy": "0-1"}, "selection_strategy must be an IndexRange"),
    ({"num_records": -1}, "num_records must be a non-negative int"),
    ({"on_success": "pkg.mod:fn"}, "cannot import 'pkg.mod:fn'"),
    ({"on_success": 3}, "on_success must be callable or look like 'pkg.module:function'"),
    ({"config_builder": {"columns": []}}, "must be a DataDesignerConfigBuilder"),
]


@pytest.mark.parametrize(("change", "message"), BAD_STAGES)
def test_add_stage_rejects_bad_stages(tmp_path, change, message):
    d = make_designer(tmp_path / "artifacts", "http://127.0.0.1:9")
    workflow = d.compose_workflow("checked").add_stage("topics", topics(), num_records=2)
    viewed = answers().add_processor(
        dd.SchemaTransformProcessorConfig(name="view", template={"a": "{{ answer }}"})
    )
    kwargs = {"name": "answers", "config_builder": viewed, **change}
    with pytest.raises(ConfigValidationError) as err:
        workflow.add_stage(kwargs.pop("name"), kwargs.pop("config_builder"), **kwargs)
    assert message in str(err.value)
    name = change.get("name", "answers")
    if isinstance(name, str):
        assert f"stage '{name}'" in str(err.value)  # the stage is named
    assert [s.name for s in workflow.stages] == ["topics"]
    assert not tmp_path.joinpath("artifacts").exists()


@pytest.mark.parametrize("name", ["", " ", ".", "..", "a/b", "a\\b", "x:y", "q?", "s*", None])
def test_bad_workflow_names_are_rejected(tmp_path, name):
    d = make_designer(tmp_path / "artifacts", "http://127.0.0.1:9")
    with pytest.raises(ConfigValidationError, match="workflow name"):
        d.compose_workflow(name)


def test_add_stage_takes_a_copy_of_the_builder(tmp_path):
    d = make_designer(tmp_path / "artifacts", "http://127.0.0.1:9")
    builder = topics()
    config = answers().build()
    workflow = (
        d.compose_workflow("copied")
        .add_stage("topics", builder, num_records=2)
        .add_stage("answers", config)
    )
    before = [s.config.fingerprint() for s in workflow.stages]
    builder.add_column(name="extra", column_type="expression", expr="{{ topic }}!")
    builder.columns[0].params.values.append("milk")
    builder.delete_column("question")
    config.columns[0].prompt = "Changed {{ question }}"
    config.columns.clear()
    assert [c.name for c in workflow.stages[0].config.columns] == ["topic", "question"]
    assert "milk" not in workflow.stages[0].config.columns[0].params.values
    assert workflow.stages[1].config.columns[0].prompt == "Answer: {{ question }}"
    assert [s.config.fingerprint() for s in workflow.stages] == before


async def test_workflow_without_stages_raises_before_writing(prefect_server, tmp_path):
    d = make_designer(tmp_path / "artifacts", "http://127.0.0.1:9")
    workflow = d.compose_workflow("empty")
    with pytest.raises(WorkflowError, match="no stages"):
        await workflow.arun()
    with pytest.raises(WorkflowError, match="no stages"):
        await asyncio.to_thread(workflow.run)
    assert not (tmp_path / "artifacts").exists()


# -- empty outputs ---------------------------------------------------------------------------------


def _samplers_only() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder()
    b.add_column(
        name="topic", column_type="sampler", sampler_type="category", params={"values": ["a", "b"]}
    )
    b.add_column(name="question", column_type="expression", expr="Tell me about {{ topic }}")
    return b


def _emptying_workflow(how, mock_llm_factory, tmp_path, *, allow_empty: bool):
    """samplers -> answers (empty output) -> reviews."""
    if how == "llm_always_fails":
        server = mock_llm_factory(rate_500=1.0)
        d = make_designer(
            tmp_path / "artifacts",
            server.url,
            max_llm_retries=0,
            disable_early_shutdown=True,
            on_cell_error="drop",
        )
        size = None
    else:
        server = mock_llm_factory()
        d = make_designer(tmp_path / "artifacts", server.url)
        size = 0
    workflow = (
        d.compose_workflow("emptying")
        .add_stage("samples", _samplers_only(), num_records=6)
        .add_stage("answers", answers(), num_records=size, allow_empty=allow_empty)
        .add_stage("reviews", cb.reviews())
    )
    return server, workflow


@pytest.mark.parametrize("how", ["llm_always_fails", "zero_records"])
async def test_empty_output_fails_the_stage(prefect_server, mock_llm_factory, tmp_path, how):
    server, workflow = _emptying_workflow(how, mock_llm_factory, tmp_path, allow_empty=False)
    with pytest.raises(WorkflowError, match="stage 'answers' produced an empty output"):
        await workflow.arun()
    stages = meta(tmp_path / "artifacts" / "emptying")["stages"]
    assert [s["status"] for s in stages] == ["completed", "failed"]
    assert "produced an empty output" in stages[1]["error"]
    assert stages[1]["actual_records"] == 0
    assert server.stats()["requests"] == (6 if how == "llm_always_fails" else 0)


@pytest.mark.parametrize("how", ["llm_always_fails", "zero_records"])
async def test_allow_empty_skips_later_stages(prefect_server, mock_llm_factory, tmp_path, how):
    from dd_prefect import ResumeMode

    server, workflow = _emptying_workflow(how, mock_llm_factory, tmp_path, allow_empty=True)
    results = await workflow.arun()
    wf = tmp_path / "artifacts" / "emptying"
    assert [r.status for r in results.values()] == [
        "completed",
        "completed_empty",
        "skipped_empty_upstream",
    ]
    assert isinstance(results["reviews"], SkippedStageResult)
    assert "answers" in results["reviews"].reason
    assert results.count_stage_output_records("answers") == 0
    assert results["answers"].actual_records == 0
    with pytest.raises(WorkflowError, match="stage 'reviews' was skipped"):
        results.load_dataset()
    with pytest.raises(WorkflowError, match="stage 'reviews' was skipped"):
        results.export(tmp_path / "out.jsonl")
    with pytest.raises(WorkflowError, match="was skipped"):
        results.get_stage_output_path("reviews")
    assert not (tmp_path / "out.jsonl").exists()
    assert not (wf / "stage-2-reviews").exists()
    assert [s["status"] for s in meta(wf)["stages"]] == [
        "completed",
        "completed_empty",
        "skipped_empty_upstream",
    ]
    requests = server.stats()["requests"]

    again = await workflow.arun(resume=ResumeMode.IF_POSSIBLE)
    assert [r.status for r in again.values()] == [r.status for r in results.values()]
    assert server.stats()["requests"] == requests
