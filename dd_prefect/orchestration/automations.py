"""Mark a dd-prefect flow run Crashed when its process dies: Prefect's "zombie flow" recipe.

A process worker that is killed (SIGKILL, OOM, a lost machine) takes its flow-run process
with it, and nothing tells the server: the run stays Running for good, and Running runs
cannot be retried. Prefect's remedy has two halves:

- **heartbeats**: while a flow run's process lives, Prefect emits a
  ``prefect.flow-run.heartbeat`` event for it every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``
  seconds (default 180, minimum 30; ``PREFECT_RUNNER_HEARTBEAT_FREQUENCY`` is its older
  name). ``prefect.yaml`` sets 30 for every deployment's flow-run processes;
- **an automation** (made here, by ``dd-prefect setup``): after a heartbeat of a flow run,
  expect another heartbeat, or a final state, within `within` seconds; if neither comes,
  change the run to Crashed. A Crashed run can be retried (``prefect flow-run retry``),
  and the retry reuses finished stages and row groups.

It covers dd-prefect's flows only (the runs of flows named ``dd-prefect-*``: a
deployment's run and its workflow and stage subflows, which heartbeat too), never other
flows on the same server. Every process running them against the server must heartbeat
more often than `within` (3 heartbeats by default): deployments from ``prefect.yaml`` do;
elsewhere (``dd-prefect run`` with ``PREFECT_API_URL`` set, library use) set
``PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30`` too, or a live run slower to heartbeat (Prefect's
default is every 180 s) is taken for dead. A run already in a final state is never
changed: the server refuses to crash a finished run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

AUTOMATION_NAME = "dd-prefect: crash runs whose heartbeats stopped"
HEARTBEAT_SECONDS = 30
"""The heartbeat period ``prefect.yaml`` sets for deployments (Prefect's minimum)."""
DEFAULT_WITHIN_SECONDS = 3 * HEARTBEAT_SECONDS
MIN_WITHIN_SECONDS = 2 * HEARTBEAT_SECONDS
"""Two of the shortest heartbeat periods Prefect allows: a shorter window would take live
runs for dead."""
FLOW_NAMES = "dd-prefect-*"
HEARTBEAT = "prefect.flow-run.heartbeat"
FINAL_STATES = ("Completed", "Failed", "Cancelled", "Crashed")
# Compared to see whether an existing automation already is the one wanted.
_COMPARED = {"description", "enabled", "tags", "trigger", "actions"}
_COMPARED |= {"actions_on_trigger", "actions_on_resolve"}


def crash_message(within_seconds: int) -> str:
    return (
        f"No heartbeat for {within_seconds} s: the process running this flow run is gone "
        "(a killed worker or machine). Marked Crashed by the dd-prefect automation "
        f"'{AUTOMATION_NAME}'; retry it to resume (finished stages and row groups are reused)."
    )


def crash_automation(within_seconds: int = DEFAULT_WITHIN_SECONDS) -> AutomationCore:
    """The automation: a dd-prefect flow run that neither heartbeats again nor reaches a
    final state within `within_seconds` of a heartbeat is changed to Crashed."""
    if within_seconds < MIN_WITHIN_SECONDS:
        raise ValueError(
            f"within must be at least {MIN_WITHIN_SECONDS} s (two of Prefect's shortest "
            f"heartbeat periods), got {within_seconds}"
        )
    return AutomationCore(
        name=AUTOMATION_NAME,
        description=(
            f"Marks a run of a {FLOW_NAMES} flow Crashed when its heartbeats stop for "
            f"{within_seconds} s (its process died), so it can be retried. Made by "
            "`dd-prefect setup`; run it again to update this automation."
        ),
        enabled=True,
        tags=["dd-prefect"],
        trigger=EventTrigger(
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            match_related=ResourceSpecification(
                {"prefect.resource.role": "flow", "prefect.resource.name": FLOW_NAMES}
            ),
            after={HEARTBEAT},
            expect={HEARTBEAT, *(f"prefect.flow-run.{state}" for state in FINAL_STATES)},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                name="Crashed", state=StateType.CRASHED, message=crash_message(within_seconds)
            )
        ],
        actions_on_trigger=[],
        actions_on_resolve=[],
    )


@dataclass(frozen=True)
class SetupOutcome:
    """What :func:`ensure_automation` did."""

    action: Literal["created", "updated", "unchanged"]
    automation_id: UUID
    removed: int = 0  # duplicates of the same name deleted


def _shape(automation: AutomationCore) -> dict[str, Any]:
    # Python mode keeps `after`/`expect`/`for_each` as sets: their order is not compared.
    return automation.model_dump(include=_COMPARED, exclude={"trigger": {"id"}})


def ensure_automation(
    automation: AutomationCore, client: SyncPrefectClient | None = None
) -> SetupOutcome:
    """Create `automation` on the configured Prefect server, or update the one of the same
    name to match it: after any number of calls there is exactly one of that name (older
    duplicates, e.g. made by hand with ``prefect automation create``, are deleted)."""
    if client is None:
        with get_client(sync_client=True) as own:
            return ensure_automation(automation, own)
    existing = client.read_automations_by_name(automation.name)  # newest first
    if not existing:
        return SetupOutcome("created", client.create_automation(automation))
    keep, *duplicates = existing
    for duplicate in duplicates:
        client.delete_automation(duplicate.id)
    if _shape(keep) == _shape(automation):
        return SetupOutcome("unchanged", keep.id, len(duplicates))
    client.update_automation(keep.id, automation)
    return SetupOutcome("updated", keep.id, len(duplicates))
