"""A dataset's row groups spread over shards: flow runs of ``dd-prefect-shard``.

Without a shard deployment, each shard is a subflow in this process, sharing the run's
generator, model registry and lease. With one (``DataDesigner(shard_deployment=...)``,
``DD_PREFECT_SHARD_DEPLOYMENT`` or a spec's ``shard_deployment:``), each shard is a flow
run of that deployment, started with ``run_deployment(..., as_subflow=True)`` so it shows
under the stage in the UI, and executed by the work pool's workers. Its parameters are
plain JSON (:class:`ShardSpec`): the config, run config and providers (keys by reference
only, resolved on the worker), the row-group range, the dataset directory and key.

Each shard writes its own report (:mod:`dd_prefect.workflow.shards`); the parent watches
them while the shards run and records the totals once they have all ended. A shard that
completed in an earlier attempt (report complete, files intact) is not started again; the
others rerun, reusing their finished row groups from Prefect's result store.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.deployments import arun_deployment
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Cancelling
from pydantic import BaseModel, Field

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.mcp import LocalStdioMCPProvider, MCPProvider
from dd_prefect.config.models import ModelProvider
from dd_prefect.config.portable import remote_problems, with_absolute_paths
from dd_prefect.config.run_config import RunConfig
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.errors import ConfigValidationError, GenerationError
from dd_prefect.orchestration.handoff import bind, current
from dd_prefect.orchestration.row_groups import RowGroupJob
from dd_prefect.orchestration.runtime import Runtime, warn
from dd_prefect.workflow.budget import BudgetScope, budget_error, budget_share
from dd_prefect.workflow.layout import DatasetLayout
from dd_prefect.workflow.metadata import RowGroupRecord, ShardRecord
from dd_prefect.workflow.shards import (
    SHARDS_DIR,
    RowGroup,
    ShardReport,
    read_report,
    shard_path,
    shard_ranges,
    write_report,
)
from dd_prefect.workflow.usage import UsageAccount, UsageDict, added, every, model_prices

SHARD_FLOW = "dd-prefect-shard"
POLL_SECONDS = 1.0
STOP_SECONDS = 60.0  # how long a shard's earlier, still running flow run may take to stop


class RemoteShard(BaseModel):
    """What a shard on another worker needs to rebuild the run's generator. No secrets:
    providers name their keys (environment variables or Secret blocks), never hold them."""

    config: dict[str, Any]
    fingerprint: str
    run_config: dict[str, Any]
    model_providers: list[dict[str, Any]] = Field(default_factory=list)
    mcp_providers: list[dict[str, Any]] = Field(default_factory=list)
    shuffle_seed: int | None = None
    global_throttle: bool = True

    def runtime(self, artifact_path: Path) -> Runtime:
        """The runtime this worker runs the shard with (its own settings and key rules)."""
        return Runtime(
            artifact_path=artifact_path,
            providers=[ModelProvider.model_validate(p) for p in self.model_providers],
            mcp_providers=[MCPProvider.model_validate(p) for p in self.mcp_providers],
            run_config=RunConfig.model_validate(self.run_config),
            global_throttle=self.global_throttle,
        )


class ShardSpec(BaseModel):
    """A shard flow run's parameters: which row groups of which dataset, and how."""

    base_dir: str
    dataset_key: str
    row_groups: list[tuple[int, int, int]]
    keep: bool = True
    retry_failed: bool = False
    free: list[int] = Field(default_factory=list)
    remote: RemoteShard | None = None  # None: a subflow of the run, using its objects


def shard_refusals(runtime: Runtime, config: DataDesignerConfig) -> list[str]:
    """Why `config`, run with `runtime`, cannot go to remote shards (empty when it can):
    what its JSON cannot carry, and local stdio MCP providers."""
    return remote_problems(config) + [
        f"MCP provider '{p.name}' runs a local command, which a worker does not take from a "
        "flow run's parameters: configure it on the workers (DD_PREFECT_MCP_PROVIDERS_FILE)"
        for p in runtime.mcp_providers
        if isinstance(p, LocalStdioMCPProvider)
    ]


def remote_shard(runtime: Runtime, generator: DatasetGenerator, what: str) -> RemoteShard:
    """The parameters a remote shard rebuilds `generator` from; ConfigValidationError
    naming `what` (the dataset or stage) when it cannot leave this process."""
    if problems := shard_refusals(runtime, generator.config):
        raise ConfigValidationError.of(
            f"{what} cannot run on shard deployment '{runtime.shard_deployment}': "
            + "; ".join(problems)
        )
    reader = generator.seed_reader
    return RemoteShard(
        config=with_absolute_paths(generator.config).to_dict(),
        fingerprint=generator.fingerprint,
        run_config=generator.run_config.model_dump(mode="json"),
        model_providers=[p.model_dump(mode="json") for p in runtime.providers],
        mcp_providers=[p.model_dump(mode="json") for p in runtime.mcp_providers],
        shuffle_seed=reader.shuffle_seed if reader is not None else None,
        global_throttle=runtime.use_global_throttle(),
    )


@flow(name=SHARD_FLOW, flow_run_name="{dataset_name}-shard-{shard}", persist_result=False)
async def shard_flow(dataset_name: str, shard: int, shards: int, spec: ShardSpec) -> dict[str, Any]:
    """Generate one shard's row groups of dataset `dataset_name` (shard `shard` of
    `shards`); writes ``shards/shard-<k>.json`` as it goes and returns its counts."""
    context = FlowRunContext.get()
    report = ShardReport(
        shard=shard,
        dataset_key=spec.dataset_key,
        first_row_group=spec.row_groups[0][0],
        last_row_group=spec.row_groups[-1][0],
        flow_run_id=str(context.flow_run.id) if context and context.flow_run else None,
    )
    if spec.remote is None:  # a subflow of the run: its lease and account are the run's
        return await _run_shard(current(RowGroupJob), spec, report, None)
    base_dir = Path(spec.base_dir)
    _check_shared(base_dir, shard)
    runtime = spec.remote.runtime(base_dir.parent)
    config = DataDesignerConfig.from_dict(spec.remote.config)
    runtime.check_providers(config)
    async with runtime.models(config.model_configs) as registry:
        generator = DatasetGenerator(
            config, runtime.run_config, registry, fingerprint=spec.remote.fingerprint
        )
        generator.unseeded_shuffle_seed(spec.remote.shuffle_seed)
        aliases = config.model_aliases()
        account = UsageAccount(
            registry.usage,
            [registry.limiter_key(a) for a in aliases],
            model_prices(config.model_configs, registry.limiter_key),
            None,
        )
        budget = BudgetScope(runtime.run_config)
        budget.accounts.append(account)
        job = RowGroupJob(
            name=dataset_name,
            base_dir=base_dir,
            generator=generator,
            key=spec.dataset_key,
            account=account,
            budget=budget,
            keep=spec.keep,
            retry_failed=spec.retry_failed,
            free=set(spec.free),
        )
        async with runtime.throttle(registry, aliases):  # this process's share of the limit
            return await _run_shard(job, spec, report, account)


async def _run_shard(
    job: RowGroupJob, spec: ShardSpec, report: ShardReport, account: UsageAccount | None
) -> dict[str, Any]:
    began = time.perf_counter()

    def save() -> None:
        if account is not None:
            report.llm_usage = account.attempt()
        report.duration = time.perf_counter() - began
        write_report(job.base_dir, report)

    async def on_record(record: RowGroupRecord) -> None:
        report.row_groups.append(record)  # saved within POLL_SECONDS, and at the end

    save()
    try:
        async with every(POLL_SECONDS, save):
            reached = await job.run(spec.row_groups, on_record)
        if reached:
            raise budget_error(f"{job.name} shard {report.shard}", reached, job.budget.spend())
    except BaseException as exc:
        report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
        save()
        raise
    report.status = "completed"
    save()
    return {"shard": report.shard, "records": report.records, "row_groups": len(report.row_groups)}


def _check_shared(base_dir: Path, shard: int) -> None:
    """Fail at once, naming the path, when this worker cannot see or write the dataset
    directory (every worker must share the artifact path)."""
    probe = shard_path(base_dir, shard).with_suffix(".probe")
    try:
        if not (base_dir / "metadata.json").is_file():
            raise FileNotFoundError(f"{base_dir / 'metadata.json'} does not exist")
        probe.parent.mkdir(exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise GenerationError(
            f"shard {shard} cannot use dataset directory {base_dir} on this worker ({exc}): "
            "every worker must see the artifact path (a shared filesystem) and Prefect's "
            "result storage (PREFECT_LOCAL_STORAGE_PATH on it, or a remote result storage "
            "block); see README 'Scaling'"
        ) from None


OnReports = Callable[[list[RowGroupRecord], list[ShardRecord]], Awaitable[None]]
"""Called with every shard's finished row groups and records so far."""


async def run_shards(
    job: RowGroupJob,
    groups: list[RowGroup],
    shards: int,
    remote: RemoteShard | None,
    deployment: str | None,
    on_reports: OnReports,
) -> None:
    """Generate `groups` as `shards` shard flow runs (`remote`: of `deployment`, else in
    this process), calling `on_reports` as they progress and once when all have ended.

    A failed shard fails the run after the others finish: the budget error when a budget
    was reached, else an error naming the shard.
    """
    ranges = shard_ranges(groups, shards)
    layout = DatasetLayout(job.base_dir)
    started: list[int] = []
    going: list[ShardReport] = []  # earlier runs of shards to start, maybe still going
    for k, part in enumerate(ranges):
        earlier = read_report(job.base_dir, k)
        if job.keep and not job.retry_failed and _finished(earlier, part, job.key, layout):
            continue
        if earlier is not None and earlier.status == "running" and earlier.flow_run_id:
            going.append(earlier)
        started.append(k)
    # Left running by a killed parent, say: stopped before their shards start again.
    await asyncio.gather(*(_stop_earlier(r, job.name) for r in going))
    for k in started:
        shard_path(job.base_dir, k).unlink(missing_ok=True)  # its report is this attempt's
    (job.base_dir / SHARDS_DIR).mkdir(parents=True, exist_ok=True)

    if remote is not None and started:  # each remote shard checks its own spend only
        shared = budget_share(job.budget.run_config, job.budget.spend(), len(started))
        remote = remote.model_copy(update={"run_config": shared.model_dump(mode="json")})

    async def one(k: int) -> None:
        spec = ShardSpec(
            base_dir=str(job.base_dir.absolute()),
            dataset_key=job.key,
            row_groups=ranges[k],
            keep=job.keep,
            retry_failed=job.retry_failed,
            free=sorted(job.free & {g[0] for g in ranges[k]}),
            remote=remote,
        )
        if remote is None:
            await shard_flow(dataset_name=job.name, shard=k, shards=len(ranges), spec=spec)
            return
        assert deployment is not None
        params = {"dataset_name": job.name, "shard": k, "shards": len(ranges)}
        run = await arun_deployment(
            deployment,
            parameters={**params, "spec": spec.model_dump(mode="json")},
            flow_run_name=f"{job.name}-shard-{k}",
            poll_interval=POLL_SECONDS,
            as_subflow=True,
        )
        _raise_unless_completed(run, job.name, k)

    async def report() -> None:
        reports = [r for k in range(len(ranges)) if (r := read_report(job.base_dir, k))]
        job.account.elsewhere = _remote_usage(reports, started) if remote else {}
        records = [rec for r in reports for rec in r.row_groups]
        await on_reports(records, [r.record() for r in reports])

    async def watch() -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            await report()

    watcher = asyncio.create_task(watch())
    try:
        with bind(job):  # what in-process shards run with
            outcomes = await asyncio.gather(*(one(k) for k in started), return_exceptions=True)
    finally:
        watcher.cancel()
    await report()
    errors = [e for e in outcomes if isinstance(e, BaseException)]
    if errors and (reached := job.budget.reached()):
        raise budget_error(job.name, reached, job.budget.spend()) from errors[0]
    if errors:
        raise errors[0]


async def _stop_earlier(report: ShardReport, name: str) -> None:
    """Stop shard `report`'s earlier flow run if it is still going (its parent was killed,
    say), so two runs never write the same row groups: a run whose process is gone is
    marked Cancelled; a live one is asked to cancel (its worker kills it) and waited for,
    at most `STOP_SECONDS`."""
    assert report.flow_run_id is not None
    async with get_client() as client:
        try:
            run = await client.read_flow_run(UUID(report.flow_run_id))
        except ObjectNotFound:
            return
        if run.state is None or run.state.is_final():
            return
        gone = report.host == socket.gethostname() and not _alive(report.pid)
        state = Cancelled if gone else Cancelling
        message = f"Stopped: a new run of dataset '{name}' restarts shard {report.shard}"
        await client.set_flow_run_state(run.id, state(message=message), force=True)
        deadline = time.monotonic() + STOP_SECONDS
        while not gone and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            run = await client.read_flow_run(run.id)
            if run.state is not None and run.state.is_final():
                return
    if not gone:
        warn(
            f"dataset '{name}': shard {report.shard}'s earlier flow run {run.id} did not stop "
            f"within {STOP_SECONDS:.0f} s; starting the shard anyway"
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _finished(
    report: ShardReport | None, part: list[RowGroup], key: str, layout: DatasetLayout
) -> bool:
    """Whether `report` says its shard completed `part` of dataset `key` and every row
    group's files are still as written."""
    return (
        report is not None
        and report.status == "completed"
        and report.dataset_key == key
        and report.covers(part)
        and len(report.row_groups) == len(part)
        and all(layout.row_group_valid(r) for r in report.row_groups)
    )


def _remote_usage(reports: list[ShardReport], started: list[int]) -> UsageDict:
    total: UsageDict = {}
    for r in reports:
        if r.shard in started:
            total = added(total, r.llm_usage)
    return total


def _raise_unless_completed(run: FlowRun, name: str, shard: int) -> None:
    state = run.state
    if state is not None and state.is_completed():
        return
    kind = state.type.value if state is not None else "unknown"
    message = f": {state.message}" if state is not None and state.message else ""
    raise GenerationError(
        f"dataset '{name}': shard {shard} (flow run '{run.name}', {run.id}) ended {kind}{message}"
    )
