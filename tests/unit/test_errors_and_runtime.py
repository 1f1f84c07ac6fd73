"""The error hierarchy, settings and the in-process handoff (no Prefect server needed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import dd_prefect
import dd_prefect.config as dd
from dd_prefect import errors
from dd_prefect.orchestration.handoff import bind, current
from dd_prefect.orchestration.settings import Settings


def test_every_public_error_is_a_data_designer_error() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        if cls is errors.ConfigIssue or cls is errors.CellError:
            continue
        assert issubclass(cls, dd_prefect.DataDesignerError), name
        assert getattr(dd_prefect, name, cls) is cls  # exported from dd_prefect as well
    assert issubclass(errors.ConfigValidationError, ValueError)  # also a ValueError
    assert errors.GenerationError is errors.DataDesignerGenerationError
    assert issubclass(errors.EarlyShutdownError, errors.DataDesignerGenerationError)


def test_bad_dataset_and_workflow_names_raise_config_validation_error(tmp_path: Path) -> None:
    designer = dd_prefect.DataDesigner(artifact_path=tmp_path)
    builder = dd.DataDesignerConfigBuilder().add_column(
        name="x", column_type="expression", expr="1"
    )
    with pytest.raises(dd_prefect.ConfigValidationError, match="dataset name 'a/b'"):
        designer.create(builder, num_records=1, dataset_name="a/b")
    with pytest.raises(dd_prefect.ConfigValidationError, match="workflow name 'a/b'"):
        designer.compose_workflow("a/b")
    with pytest.raises(dd_prefect.ConfigValidationError, match="unknown resume mode"):
        designer.create(builder, num_records=1, dataset_name="ok", resume="sometimes")
    with pytest.raises(dd_prefect.ConfigValidationError, match="expected a DataDesignerConfig"):
        designer.preview({"columns": []})  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())  # nothing written


def test_settings_read_dd_prefect_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_PREFECT_GLOBAL_THROTTLE", "0")
    monkeypatch.setenv("DD_PREFECT_FLOW_RETRIES", "2")
    monkeypatch.setenv("DD_PREFECT_REVIEW_POLL_SECONDS", "1")
    settings = Settings()
    assert settings.global_throttle is False
    assert (settings.flow_retries, settings.review_poll_seconds) == (2, 1)
    monkeypatch.delenv("DD_PREFECT_GLOBAL_THROTTLE")
    assert Settings().global_throttle is None
    designer = dd_prefect.DataDesigner(global_throttle=True)
    assert designer.runtime.use_global_throttle() is True


class _Thing:
    def __init__(self, value: int) -> None:
        self.value = value


async def test_handoff_reaches_tasks_started_inside_and_is_undone_after() -> None:
    async def read() -> int:
        return current(_Thing).value

    with bind(_Thing(1)):
        assert await asyncio.create_task(read()) == 1
        with bind(_Thing(2)):  # an inner run (a stage) shadows the outer one
            assert await read() == 2
        assert await read() == 1
    with pytest.raises(RuntimeError, match="no _Thing is bound"):
        current(_Thing)


def test_runs_heartbeat_often_enough_for_the_dead_worker_automation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.settings import get_current_settings

    from dd_prefect.orchestration.runtime import HEARTBEAT_SECONDS, heartbeats

    monkeypatch.delenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", raising=False)
    with heartbeats():
        assert get_current_settings().flows.heartbeat_frequency == HEARTBEAT_SECONDS == 30
    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "120")  # the user's choice wins
    with heartbeats():
        assert get_current_settings().flows.heartbeat_frequency != HEARTBEAT_SECONDS
