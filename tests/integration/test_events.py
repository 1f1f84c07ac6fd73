"""Workflows as events (issue 11, item 5): what a run emits, and a deployment it triggers.

In process: workflows run against the session's `prefect server start` and the mock LLM,
and their `dd-prefect.*` events are read back through the client's events API.

End to end: a `prefect server start` with its triggers and event services, the project's
`demo` and `judge-reviews` deployments (as prefect.yaml defines them, trigger included)
deployed from a temp prefect file, and a `prefect worker start`. Running the demo makes
the trigger create a judge-reviews flow run, seeded from the demo's output.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.events.filters import (
    EventAnyResourceFilter,
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventOrder,
)
from prefect.events.schemas.events import ReceivedEvent

import dd_prefect.config as dd
from dd_prefect.engine.parquet_io import parquet_files, read_parquet
from dd_prefect.errors import EarlyShutdownError
from dd_prefect.orchestration.events import scrub
from tests.integration.test_deployments import POOL, ROOT, DeployedProject
from tests.integration.workflow_callbacks import answers, make_designer, reviews, topics
from tests.prefect_server import PrefectServer

pytestmark = pytest.mark.integration


def event_filter(workflow: str, since: datetime) -> EventFilter:
    """Every dd-prefect event about `workflow` (as the resource or a related one)."""
    return EventFilter(
        occurred=EventOccurredFilter(since=since),
        event=EventNameFilter(prefix=["dd-prefect."]),
        any_resource=EventAnyResourceFilter(id=[f"dd-prefect.workflow.{workflow}"]),
        order=EventOrder.ASC,
    )


async def read_events(
    workflow: str, since: datetime, count: int, timeout: float = 30
) -> list[ReceivedEvent]:
    """The workflow's events once `count` of them are stored (the server persists them
    in batches), oldest first."""
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            page = await client.read_events(filter=event_filter(workflow, since), limit=50)
            if len(page.events) >= count or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    events = sorted(page.events, key=lambda e: e.occurred)
    assert len(events) == count, [e.event for e in events]
    return events


def related(event: ReceivedEvent, role: str) -> list[dict[str, str]]:
    return [dict(r.root) for r in event.related if r.role == role]


def summary(events: list[ReceivedEvent]) -> list[tuple[str, str]]:
    return [(e.event, e.resource.name or "") for e in events]


# -- in process ----------------------------------------------------------------------------


async def test_stages_and_the_workflow_emit_completed_events(prefect_server, mock_llm, tmp_path):
    name = f"events-{uuid.uuid4().hex[:8]}"
    since = datetime.now(UTC)
    designer = make_designer(tmp_path / "artifacts", mock_llm.url)
    workflow = (
        designer.compose_workflow(name)
        .add_stage("topics", topics(), num_records=6)
        .add_stage("answers", answers())
    )
    results = await workflow.arun()
    again = await workflow.arun(resume="if_possible")  # every stage reused
    assert mock_llm.stats()["requests"] == 12

    events = await read_events(name, since, count=6)
    assert summary(events) == 2 * [
        ("dd-prefect.stage.completed", "topics"),
        ("dd-prefect.stage.completed", "answers"),
        ("dd-prefect.workflow.completed", name),
    ]
    workflow_dir = str(results.workflow_dir.resolve())
    topics_done, answers_done, finished = events[:3]

    # A stage: its own resource, related to its workflow, its output and the flow run.
    assert dict(answers_done.resource.root) == {
        "prefect.resource.id": f"dd-prefect.stage.{name}.answers",
        "prefect.resource.name": "answers",
        "dd-prefect.workflow": name,
        "dd-prefect.stage-index": "1",
    }
    output = str(results.get_stage_output_path("answers").resolve())
    assert related(answers_done, "workflow") == [
        {
            "prefect.resource.id": f"dd-prefect.workflow.{name}",
            "prefect.resource.role": "workflow",
            "prefect.resource.name": name,
        }
    ]
    assert related(answers_done, "output") == [
        {
            "prefect.resource.id": Path(output).as_uri(),
            "prefect.resource.role": "output",
            "prefect.resource.name": output,
        }
    ]
    assert related(answers_done, "flow-run") and related(answers_done, "flow")
    assert related(answers_done, "deployment") == []  # not a deployment's run
    payload = answers_done.payload
    assert payload["output_path"] == output
    assert payload["stage_dir"] == f"{workflow_dir}/stage-1-answers"
    assert payload["duration"] > 0
    assert {k: payload[k] for k in ("workflow", "stage", "index", "status", "records")} == {
        "workflow": name,
        "stage": "answers",
        "index": 1,
        "status": "completed",
        "records": 6,
    }
    assert (payload["depends_on"], payload["reused"]) == (["topics"], False)
    assert topics_done.payload["depends_on"] == [] and topics_done.payload["records"] == 6

    # The workflow: the final stage's output is what a triggered deployment seeds from.
    assert dict(finished.resource.root) == {
        "prefect.resource.id": f"dd-prefect.workflow.{name}",
        "prefect.resource.name": name,
    }
    assert [r["prefect.resource.name"] for r in related(finished, "stage")] == [
        "topics",
        "answers",
    ]
    assert finished.payload == {
        "workflow": name,
        "workflow_dir": workflow_dir,
        "artifact_path": str((tmp_path / "artifacts").resolve()),
        "final_stage": "answers",
        "final_stages": ["answers"],
        "output_path": output,
        "records": 6,
        "stages": {"topics": "completed", "answers": "completed"},
    }

    # The resumed run says its stages were reused, with the same outputs.
    assert [e.payload["reused"] for e in events[3:5]] == [True, True]
    assert events[4].payload["output_path"] == output
    assert events[5].payload == finished.payload
    assert again.get_stage_output_path("answers").resolve() == Path(output)


def samplers_only() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder()
    b.add_column(
        name="topic", column_type="sampler", sampler_type="category", params={"values": ["a", "b"]}
    )
    b.add_column(name="question", column_type="expression", expr="Tell me about {{ topic }}")
    return b


async def test_empty_skipped_and_failed_outcomes(
    prefect_server, mock_llm, mock_llm_factory, monkeypatch, tmp_path
):
    since = datetime.now(UTC)

    # An allowed empty stage: completed-empty, the next one skipped, no workflow output.
    empty = f"events-empty-{uuid.uuid4().hex[:8]}"
    designer = make_designer(tmp_path / "artifacts", mock_llm.url)
    await (
        designer.compose_workflow(empty)
        .add_stage("samples", samplers_only(), num_records=4)
        .add_stage("answers", answers(), num_records=0, allow_empty=True)
        .add_stage("reviews", reviews())
        .arun()
    )

    # A provider that answers every request with a 500, behind an API key from the env.
    key = "sk-events-test-key-0042"
    monkeypatch.setenv("DD_EVENTS_API_KEY", key)
    broken = mock_llm_factory(rate_500=1.0)
    failing = f"events-failed-{uuid.uuid4().hex[:8]}"
    designer = dd_designer_with_key(tmp_path / "artifacts", broken.url)
    with pytest.raises(EarlyShutdownError, match="stage 'topics'"):
        await (
            designer.compose_workflow(failing)
            .add_stage("topics", topics(), num_records=4)
            .add_stage("answers", answers())
            .arun()
        )

    events = await read_events(empty, since, count=4)
    assert summary(events) == [
        ("dd-prefect.stage.completed", "samples"),
        ("dd-prefect.stage.completed-empty", "answers"),
        ("dd-prefect.stage.skipped", "reviews"),
        ("dd-prefect.workflow.completed-empty", empty),
    ]
    assert (events[1].payload["status"], events[1].payload["records"]) == ("completed_empty", 0)
    assert "answers" in events[2].payload["reason"]
    assert events[2].payload["output_path"] is None and not related(events[2], "output")
    assert events[3].payload["output_path"] is None and events[3].payload["records"] == 0
    assert events[3].payload["stages"] == {
        "samples": "completed",
        "answers": "completed_empty",
        "reviews": "skipped_empty_upstream",
    }

    events = await read_events(failing, since, count=2)
    assert summary(events) == [
        ("dd-prefect.stage.failed", "topics"),
        ("dd-prefect.workflow.failed", failing),
    ]
    stage_failed, workflow_failed = events
    assert stage_failed.payload["status"] == "failed"
    assert workflow_failed.payload["failed_stage"] == "topics"
    assert workflow_failed.payload["stages"] == {"topics": "failed"}
    assert stage_failed.payload["error"].startswith("DataDesignerEarlyShutdownError: ")
    assert workflow_failed.payload["error_type"] == "DataDesignerEarlyShutdownError"
    assert "stage 'topics'" in workflow_failed.payload["error"]
    assert "output_path" not in workflow_failed.payload
    # No event carries the key, nor the provider's endpoint.
    for event in events:
        text = event.model_dump_json()
        assert key not in text and broken.url not in text

    # Error texts are scrubbed of key-like values before they go into an event.
    leaked = f"401 from https://user:hunter2@llm.example/v1 for {key} (Bearer abc.def)"
    assert scrub(leaked) == "401 from https://***@llm.example/v1 for *** (Bearer ***)"


def dd_designer_with_key(artifacts: Path, url: str):
    from dd_prefect import DataDesigner

    return DataDesigner(
        artifact_path=artifacts,
        model_providers=[dd.ModelProvider(name="mock", endpoint=url, api_key="DD_EVENTS_API_KEY")],
        # Fails the stage (not an empty output) after two failed rows.
        run_config=dd.RunConfig(buffer_size=4, seed=7, max_llm_retries=0, shutdown_error_window=2),
    )


# -- end to end: a finished workflow triggers another deployment ---------------------------

# The trigger reacts to events (triggers service); the event persister lets the test read
# them back (it flushes every second here).
EVENT_SERVICES = {
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "true",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "true",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
}
UPSTREAM, DOWNSTREAM = "demo", "judge-reviews"


def prefect_file(tmp_path: Path) -> Path:
    """The project's demo and judge-reviews deployments, exactly as prefect.yaml defines
    them (trigger included), in a prefect file of their own."""
    project = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    chosen = [d for d in project["deployments"] if d["name"] in (UPSTREAM, DOWNSTREAM)]
    assert [d["name"] for d in chosen] == [UPSTREAM, DOWNSTREAM]
    assert chosen[1]["triggers"]
    config = {
        "name": "dd-prefect-events-test",
        "prefect-version": project["prefect-version"],
        "build": None,
        "push": None,
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}],
        "deployments": chosen,
    }
    path = tmp_path / "prefect.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class TriggeredProject(DeployedProject):
    """A server with its event services, the two deployments and a process worker."""

    def __init__(self, home: Path, prefect_yaml: Path) -> None:
        super().__init__(home)
        self.server = PrefectServer(home, server_env=EVENT_SERVICES)
        self.prefect_yaml = prefect_yaml

    def start(self) -> TriggeredProject:
        self.server.start()
        self.prefect("work-pool", "create", POOL, "--type", "process")
        out = self.prefect(
            "--no-prompt", "deploy", "--all", "--prefect-file", str(self.prefect_yaml)
        )
        assert out.count("successfully created") == 2, out
        self.start_worker()
        return self

    def runs_of(self, deployment: str) -> list[FlowRun]:
        with SyncPrefectClient(self.server.api_url) as client:
            return client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
            )

    def first_run_of(self, deployment: str, timeout: float) -> FlowRun:
        deadline = time.monotonic() + timeout
        while not (runs := self.runs_of(deployment)):
            if time.monotonic() > deadline:
                server_log = (self.server.home / "server.log").read_text(errors="replace")
                pytest.fail(
                    f"no run of {deployment} within {timeout:.0f}s\nserver log:\n"
                    f"{server_log[-3000:]}\nworker log:\n{self.log_tail()}"
                )
            time.sleep(0.5)
        return runs[0]

    def events(self, workflow: str) -> list[Any]:
        with SyncPrefectClient(self.server.api_url) as client:
            page = client.read_events(
                filter=event_filter(workflow, datetime(2020, 1, 1, tzinfo=UTC)), limit=50
            )
        return sorted(page.events, key=lambda e: e.occurred)


@pytest.fixture
def triggered(tmp_path: Path) -> Iterator[TriggeredProject]:
    project = TriggeredProject(tmp_path / "prefect-home", prefect_file(tmp_path))
    try:
        yield project.start()
    finally:
        project.stop()


@pytest.mark.e2e
def test_a_finished_demo_triggers_the_judge_deployment(triggered: TriggeredProject, tmp_path):
    started = time.monotonic()
    artifacts = tmp_path / "artifacts"
    demo = triggered.run_deployment(f"dd-prefect-run-spec/{UPSTREAM}", artifact_path=str(artifacts))
    run = triggered.wait(demo)
    assert run.state.type is StateType.COMPLETED, triggered.log_tail()
    demo_done = time.monotonic() - started
    meta = json.loads((artifacts / "demo-reviews" / "workflow-metadata.json").read_text())
    judged = meta["stages"][-1]
    upstream_output = (artifacts / "demo-reviews" / judged["output_path"]).resolve()

    # Nobody runs judge-reviews: its trigger does, on the demo's workflow.completed event.
    triggered_run = triggered.first_run_of(DOWNSTREAM, timeout=30)
    created_after = time.monotonic() - started - demo_done
    assert triggered_run.parameters["seed_path"] == str(upstream_output)
    assert triggered_run.parameters["artifact_path"] == str(artifacts.resolve())
    assert triggered_run.parameters["spec_path"] == "deployments/judge_reviews.yaml"
    run = triggered.wait(triggered_run.id)
    assert run.state.type is StateType.COMPLETED, triggered.log_tail()
    assert len(triggered.runs_of(DOWNSTREAM)) == 1

    # Its output: one judgement per review of the demo's final stage, next to the demo.
    reviews_judged = read_parquet(parquet_files(upstream_output))
    out_dir = artifacts / "judge-reviews" / "stage-0-second-opinion" / "parquet-files"
    second = read_parquet(parquet_files(out_dir))
    assert len(second) == len(reviews_judged) == 100
    assert list(second["review"]) == list(reviews_judged["review"])
    assert second["star_match"].notna().all()

    # The event the trigger matched names the demo deployment and carries the output path.
    completed = [e for e in triggered.events("demo-reviews") if e.event.endswith("completed")]
    finished = completed[-1]
    assert finished.event == "dd-prefect.workflow.completed"
    assert finished.payload["output_path"] == str(upstream_output)
    deployments = related(finished, "deployment")
    assert [d["prefect.resource.name"] for d in deployments] == [UPSTREAM]
    assert related(finished, "flow-run")
    print(
        f"demo completed in {demo_done:.1f}s; the triggered run was seen "
        f"{created_after:.1f}s later and completed at {time.monotonic() - started:.1f}s"
    )
