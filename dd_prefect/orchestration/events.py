"""Prefect events for finished stages and workflows, so other deployments can react.

Every stage that finishes emits ``dd-prefect.stage.<outcome>``:

- ``completed``: it has rows (also when reused from an earlier run: ``reused: true``);
- ``completed-empty``: ``allow_empty`` and no rows; ``skipped``: an upstream was empty;
- ``failed``.

Every workflow run ends with ``dd-prefect.workflow.<outcome>``:

- ``completed``: the final stage has rows (the payload's ``output_path``);
- ``completed-empty``: it finished, but the final stage has no rows (or was skipped);
- ``failed``; ``cancelled`` (cancelled or interrupted).

The resource is the workflow (``dd-prefect.workflow.<name>``) or the stage
(``dd-prefect.stage.<workflow>.<stage>``); related resources name the workflow (role
``workflow``), the selected output (role ``output``, ``file://`` URI) and, in a
deployment's run, the deployment (role ``deployment``, its name as
``prefect.resource.name``); Prefect adds the flow run and flow. The payload holds names,
statuses, counts and absolute paths (``output_path`` is what the next stage would seed
from) and no provider settings (endpoints, keys); error texts are scrubbed of key-like
values (see :func:`scrub`).

Emitting never raises: a failure to emit is a warning in the run's log, not a failed run.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
from pathlib import Path
from typing import Any

from dd_prefect.config.models import DEFAULT_KEY_VARIABLES
from dd_prefect.orchestration.runtime import warn
from dd_prefect.orchestration.settings import Settings
from dd_prefect.workflow.metadata import StageMetadata
from dd_prefect.workflow.results import CompositeWorkflowResults, StageResult

PREFIX = "dd-prefect"
MAX_ERROR_CHARS = 500
_STAGE_OUTCOMES = {"skipped_empty_upstream": "skipped", "completed_empty": "completed-empty"}
# Key-shaped text: OpenAI-style keys, bearer tokens, credentials in a URL.
_KEY_PATTERNS = [
    (re.compile(r"\bsk-[A-Za-z0-9_\-*.]{6,}"), "***"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"), "***"),
]


def workflow_resource_id(workflow: str) -> str:
    return f"{PREFIX}.workflow.{workflow}"


def stage_resource_id(workflow: str, stage: str) -> str:
    return f"{PREFIX}.stage.{workflow}.{stage}"


def stage_finished(
    workflow: str,
    workflow_dir: Path,
    entry: StageMetadata,
    *,
    output: Path | None = None,
    reused: bool = False,
    reason: str | None = None,
) -> None:
    """Emit ``dd-prefect.stage.<outcome>`` for a stage whose `entry` is final.

    `output` is the stage's selected output (what the next stage seeds from), `reused`
    whether it came from an earlier run, `reason` why it was skipped.
    """
    try:
        outcome = _STAGE_OUTCOMES.get(entry.status, entry.status.replace("_", "-"))
        path = _absolute(output)
        payload: dict[str, Any] = {
            "workflow": workflow,
            "stage": entry.name,
            "index": entry.index,
            "status": entry.status,
            "depends_on": list(entry.depends_on),
            "records": entry.actual_records,
            "output_path": path,
            "stage_dir": _absolute(workflow_dir / entry.stage_dir),
            "workflow_dir": _absolute(workflow_dir),
            "reused": reused,
            "duration": entry.duration,
        }
        if reason:
            payload["reason"] = reason
        if entry.error:
            payload["error"] = scrub(entry.error)
        _emit(
            f"{PREFIX}.stage.{outcome}",
            resource={
                "prefect.resource.id": stage_resource_id(workflow, entry.name),
                "prefect.resource.name": entry.name,
                f"{PREFIX}.workflow": workflow,
                f"{PREFIX}.stage-index": str(entry.index),
            },
            related=[_workflow_related(workflow), *_output_related(path)],
            payload=payload,
        )
    except Exception as exc:  # never fail a run over an event
        _warn(f"stage '{entry.name}'", exc)


def workflow_finished(
    workflow: str,
    workflow_dir: Path,
    results: CompositeWorkflowResults | None = None,
    error: BaseException | None = None,
) -> None:
    """Emit ``dd-prefect.workflow.<outcome>``: completed with `results`, else failed or
    cancelled with `error` (the stages' statuses then come from workflow-metadata.json)."""
    try:
        payload: dict[str, Any] = {
            "workflow": workflow,
            "workflow_dir": _absolute(workflow_dir),
            "artifact_path": _absolute(workflow_dir.parent),
        }
        path: str | None = None
        if results is not None:
            finals = [results[name] for name in results.sinks]
            made = [f for f in finals if isinstance(f, StageResult) and f.status == "completed"]
            outcome = "completed" if made else "completed-empty"
            if made and len(finals) == 1:
                path = _absolute(made[0].output_path)
            statuses = {name: result.status for name, result in results.items()}
            payload |= {
                "final_stage": results.sinks[0] if len(results.sinks) == 1 else None,
                "final_stages": results.sinks,
                "output_path": path,
                "records": sum(f.actual_records for f in made),
            }
        else:
            outcome = "failed" if isinstance(error, Exception) or error is None else "cancelled"
            statuses = _recorded_statuses(workflow_dir)
            payload["failed_stage"] = next(
                (name for name, status in statuses.items() if status == "failed"), None
            )
            if error is not None:
                payload["error_type"] = type(error).__name__
                payload["error"] = scrub(str(error))
        payload["stages"] = statuses
        _emit(
            f"{PREFIX}.workflow.{outcome}",
            resource={
                "prefect.resource.id": workflow_resource_id(workflow),
                "prefect.resource.name": workflow,
            },
            related=[
                *(_stage_related(workflow, name) for name in statuses),
                *_output_related(path),
            ],
            payload=payload,
        )
    except Exception as exc:  # never fail a run over an event
        _warn(f"workflow '{workflow}'", exc)


def scrub(text: str) -> str:
    """`text` without key-like values (the values of the worker's key variables, API
    keys, bearer tokens, URL credentials), cut to MAX_ERROR_CHARS."""
    try:
        patterns = [*DEFAULT_KEY_VARIABLES, *Settings().allowed_key_variables]
    except Exception:  # a malformed DD_PREFECT_* variable: the defaults still apply
        patterns = list(DEFAULT_KEY_VARIABLES)
    secrets = [
        value
        for name, value in os.environ.items()
        if len(value) >= 6 and any(fnmatch.fnmatchcase(name, p) for p in patterns)
    ]
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    for pattern, replacement in _KEY_PATTERNS:
        text = pattern.sub(replacement, text)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _emit(
    event: str, resource: dict[str, str], related: list[dict[str, str]], payload: dict[str, Any]
) -> None:
    from prefect.events import emit_event

    emit_event(
        event=event,
        resource=resource,
        related=[*related, *_deployment_related()],
        payload=payload,
    )


def _workflow_related(workflow: str) -> dict[str, str]:
    return {
        "prefect.resource.id": workflow_resource_id(workflow),
        "prefect.resource.role": "workflow",
        "prefect.resource.name": workflow,
    }


def _stage_related(workflow: str, stage: str) -> dict[str, str]:
    return {
        "prefect.resource.id": stage_resource_id(workflow, stage),
        "prefect.resource.role": "stage",
        "prefect.resource.name": stage,
    }


def _output_related(path: str | None) -> list[dict[str, str]]:
    if path is None:
        return []
    return [
        {
            "prefect.resource.id": Path(path).as_uri(),
            "prefect.resource.role": "output",
            "prefect.resource.name": path,
        }
    ]


def _deployment_related() -> list[dict[str, str]]:
    """The deployment whose flow run this is (subflows included), if any.

    Prefect relates an event to the current flow run's own deployment only, and a
    workflow runs as a subflow, whose run has none: the engine's deployment context
    variable (set for the top-level run, inherited by subflows) knows it.
    """
    from prefect.context import _deployment_id
    from prefect.runtime import deployment

    deployment_id = _deployment_id.get()
    if deployment_id is None:
        return []
    resource = {
        "prefect.resource.id": f"prefect.deployment.{deployment_id}",
        "prefect.resource.role": "deployment",
    }
    try:
        resource["prefect.resource.name"] = str(deployment.name)  # read once, then cached
    except Exception as exc:
        _warn("the deployment's name", exc)
    return [resource]


def _recorded_statuses(workflow_dir: Path) -> dict[str, str]:
    from dd_prefect.workflow.layout import WorkflowLayout

    metadata, _ = WorkflowLayout(workflow_dir).read()
    return {s.name: s.status for s in metadata.stages} if metadata else {}


def _absolute(path: Path | None) -> str | None:
    return str(Path(path).resolve()) if path is not None else None


def _warn(what: str, exc: Exception) -> None:
    with contextlib.suppress(Exception):  # a warning that can't be logged is dropped
        warn(f"could not emit the event for {what}: {type(exc).__name__}: {scrub(str(exc))}")


__all__ = [
    "scrub",
    "stage_finished",
    "stage_resource_id",
    "workflow_finished",
    "workflow_resource_id",
]
