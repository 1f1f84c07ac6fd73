"""`CompositeWorkflow`: named stages, each seeded by the selected output of its upstream
stages (by default the one before; ``depends_on`` makes a DAG).

Create it with ``DataDesigner.compose_workflow(name)``; add stages, then ``run()``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dd_prefect.config.builder import DataDesignerConfig, DataDesignerConfigBuilder
from dd_prefect.config.join import JoinSpec
from dd_prefect.config.processors import ProcessorConfig
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.seeds import IndexRange, PartitionBlock, SamplingStrategy
from dd_prefect.config.stage import OnSuccess, Stage, check_name
from dd_prefect.config.stage_dag import dag_problems
from dd_prefect.config.workflow_spec import WorkflowSpec
from dd_prefect.errors import ConfigValidationError
from dd_prefect.interface.config_input import as_config
from dd_prefect.orchestration.preview import preview_workflow_stage
from dd_prefect.orchestration.runtime import Runtime, run_sync
from dd_prefect.orchestration.stage_executor import WorkflowProgress, WorkflowRun
from dd_prefect.orchestration.workflow_flow import run_workflow
from dd_prefect.workflow.layout import WorkflowLayout
from dd_prefect.workflow.preview import StagePreview
from dd_prefect.workflow.results import CompositeWorkflowResults
from dd_prefect.workflow.resume import ResumeMode


class CompositeWorkflow:
    """Named stages run in order; each stage's selected output seeds the next one.

    The name is the workflow's durable identity: ``<artifact_path>/<name>/`` holds its
    stages and ``workflow-metadata.json``.
    """

    def __init__(self, runtime: Runtime, name: str) -> None:
        self.name = check_name(name, "workflow")
        self.runtime = runtime
        self._stages: list[Stage] = []

    @classmethod
    def from_spec(cls, runtime: Runtime, spec: WorkflowSpec) -> CompositeWorkflow:
        """The workflow a spec describes (its shared model configs merged into each stage)."""
        workflow = cls(runtime, spec.name)
        for stage in spec.resolved_stages():
            workflow._append(stage)
        return workflow

    @property
    def stages(self) -> list[Stage]:
        """The stages added so far, in order."""
        return list(self._stages)

    @property
    def workflow_dir(self) -> Path:
        return self.runtime.artifact_path / self.name

    def add_stage(
        self,
        name: str,
        config_builder: DataDesignerConfigBuilder | DataDesignerConfig,
        *,
        num_records: int | None = None,
        on_success: OnSuccess | str | None = None,
        on_success_version: str | None = None,
        output_processors: list[ProcessorConfig] | None = None,
        output: str = "final",
        allow_empty: bool = False,
        sampling_strategy: SamplingStrategy | str = SamplingStrategy.ORDERED,
        selection_strategy: IndexRange | PartitionBlock | None = None,
        review: bool = False,
        depends_on: list[str] | None = None,
        join: JoinSpec | str | dict[str, str] | None = None,
        join_version: str | None = None,
        shards: int = 1,
    ) -> CompositeWorkflow:
        """Append a stage (validated now, nothing written); returns the workflow.

        The arguments are :class:`~dd_prefect.config.Stage`'s fields (see there);
        `on_success` is a callable or ``"pkg.module:function"``. `depends_on` names
        stages added earlier (None: the stage before; ``[]``: a root stage); a stage with
        several upstreams needs `join` (``"concat"``, ``"columns"``,
        ``"pkg.module:function"`` or ``{"mode": "concat", "source_column": "_stage"}``).
        `shards` spreads the stage's row groups over that many shard flow runs.
        The builder is deep-copied. Raises ConfigValidationError listing every problem,
        each naming the stage.
        """
        stage = Stage.of(
            name,
            as_config(config_builder)
            if isinstance(config_builder, DataDesignerConfigBuilder | DataDesignerConfig)
            else config_builder,  # Stage.of says what is wrong with it
            num_records=num_records,
            on_success=on_success,
            on_success_version=on_success_version,
            output_processors=output_processors,
            output=output,
            allow_empty=allow_empty,
            sampling_strategy=sampling_strategy,
            selection_strategy=selection_strategy,
            review=review,
            depends_on=depends_on,
            join=join,
            join_version=join_version,
            shards=shards,
        )
        self._append(stage)
        return self

    def _append(self, stage: Stage) -> None:
        if any(s.name == stage.name for s in self._stages):
            raise ConfigValidationError.of("duplicate stage name", stage=stage.name)
        issues = [i for i in dag_problems([*self._stages, stage]) if i.stage == stage.name]
        if issues:
            raise ConfigValidationError(issues)
        self._stages.append(stage)

    def run(
        self,
        resume: ResumeMode | str = ResumeMode.NEVER,
        targets: list[str] | None = None,
        rerun_from: str | None = None,
        stage_output_overrides: dict[str, str | Path] | None = None,
        *,
        on_progress: WorkflowProgress | None = None,
        max_parallel_stages: int | None = None,
        retry_failed: bool = False,
    ) -> CompositeWorkflowResults:
        """Run the workflow as a Prefect flow (stages as subflows); see :meth:`arun`."""
        return run_sync(
            self.arun(
                resume,
                targets,
                rerun_from,
                stage_output_overrides,
                on_progress=on_progress,
                max_parallel_stages=max_parallel_stages,
                retry_failed=retry_failed,
            )
        )

    async def arun(
        self,
        resume: ResumeMode | str = ResumeMode.NEVER,
        targets: list[str] | None = None,
        rerun_from: str | None = None,
        stage_output_overrides: dict[str, str | Path] | None = None,
        *,
        on_progress: WorkflowProgress | None = None,
        max_parallel_stages: int | None = None,
        retry_failed: bool = False,
    ) -> CompositeWorkflowResults:
        """Run the workflow.

        - `resume`: NEVER starts clean; IF_POSSIBLE reuses matching completed stages,
          resumes a matching partial stage by row group and reruns the first changed stage
          and all after it; ALWAYS raises instead of starting anything fresh.
        - `targets`: run only these stages and the ones they depend on.
        - `rerun_from`: with a resume mode, force this stage and all after it to rerun.
        - `stage_output_overrides`: ``{stage: path}`` replaces that stage's selected output
          for the stages after it (e.g. a reviewed file).
        - `max_parallel_stages`: stages running at once (independent branches); default
          the run config's (4).
        - `retry_failed`: with a resume mode, a completed stage with failed rows
          regenerates only those (same seed, same positions); the stages after it rerun.

        Independent stages (parallel branches of the DAG) run at the same time as
        concurrent stage subflows. When one fails, the running ones finish and no new one
        starts; the run then fails naming the failed stage(s).
        """
        run = WorkflowRun(
            name=self.name,
            stages=self.stages,
            layout=WorkflowLayout(self.workflow_dir),
            resume=ResumeMode.parse(resume),
            targets=targets,
            rerun_from=rerun_from,
            overrides={k: Path(v).resolve() for k, v in (stage_output_overrides or {}).items()},
            on_progress=on_progress,
            retry_failed=retry_failed,
        )
        runtime = self.runtime
        if max_parallel_stages is not None:
            run_config = runtime.run_config.model_copy(
                update={"max_parallel_stages": max_parallel_stages}
            )
            RunConfig.model_validate(run_config.model_dump())  # a bad count fails here
            runtime = dataclasses.replace(runtime, run_config=run_config)
        return await run_workflow(run, runtime)

    def preview(self, stage: str, num_records: int = 10) -> StagePreview:
        """Preview `stage` in memory after the stages before it (nothing written)."""
        return run_sync(preview_workflow_stage(self.runtime, self.stages, stage, num_records))
