"""`DataDesigner`: the public facade (create, preview, compose_workflow).

from dd_prefect import DataDesigner, ResumeMode
import dd_prefect.config as dd

designer = DataDesigner(artifact_path="artifacts", model_providers=[...])
results = designer.create(builder, num_records=1000, dataset_name="reviews")
df = results.load_dataset()
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.default_model_settings import (
    default_model_configs,
    default_model_providers,
)
from dd_prefect.config.info import InterfaceInfo
from dd_prefect.config.mcp import LocalStdioMCPProvider, MCPProvider
from dd_prefect.config.models import ModelConfig, ModelProvider
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.validation import validate_config
from dd_prefect.config.workflow_spec import WorkflowSpec
from dd_prefect.engine.llm import RetryPolicy
from dd_prefect.errors import ConfigValidationError
from dd_prefect.interface.config_input import ConfigLike, as_config
from dd_prefect.interface.workflow import CompositeWorkflow
from dd_prefect.orchestration.dataset_flow import ProgressCallback, create_dataset
from dd_prefect.orchestration.ephemeral import tie_ephemeral_server
from dd_prefect.orchestration.preview import preview_dataset
from dd_prefect.orchestration.runtime import Runtime, run_sync
from dd_prefect.orchestration.secrets import install_secret_resolver
from dd_prefect.workflow.results import DatasetCreationResults, PreviewResults
from dd_prefect.workflow.resume import ResumeMode


class DataDesigner:
    """Generates datasets from configs on Prefect.

    - `artifact_path`: where datasets and workflows are written (None: ``artifacts``, as in
      Data Designer).
    - `model_providers`: the OpenAI-compatible endpoints model configs point at. Default:
      Data Designer's (``nvidia``, ``openai``, ``openrouter``, keys from ``NVIDIA_API_KEY``,
      ``OPENAI_API_KEY``, ``OPENROUTER_API_KEY`` at run time), or those of
      ``$DATA_DESIGNER_HOME/model_providers.yaml`` when it exists.
    - `run_config`: row-group size, concurrency and failure policy.
    - `global_throttle`: lease LLM slots from Prefect global concurrency limits (shared by
      every process on the same Prefect server). Default: on with a configured Prefect API
      URL, off with Prefect's ephemeral server; ``DD_PREFECT_GLOBAL_THROTTLE`` overrides.
    - `flow_retries`: Prefect retries of a failed flow run (finished row groups are reused).
    - `retry_policy`: retries of failed LLM requests (default: ``run_config.max_llm_retries``).
    - `wait_for_lock`: when another run is writing the same dataset or workflow directory,
      wait for it instead of raising RunLockedError.
    - `shard_deployment`: the deployment (``"dd-prefect-shard/<name>"``) whose flow runs
      generate the shards of a dataset or stage with ``shards > 1``, on its work pool's
      workers (default: ``DD_PREFECT_SHARD_DEPLOYMENT``, else shards run in this process).
    - `mcp_providers`: the MCP servers (:class:`~dd_prefect.config.mcp.MCPProvider`,
      :class:`~dd_prefect.config.mcp.LocalStdioMCPProvider`) tool configs name, as in Data
      Designer. Sessions open on a run's first tool use and close when it ends.
    """

    def __init__(
        self,
        artifact_path: str | Path | None = "artifacts",
        model_providers: list[ModelProvider] | None = None,
        run_config: RunConfig | None = None,
        *,
        global_throttle: bool | None = None,
        flow_retries: int = 0,
        retry_policy: RetryPolicy | None = None,
        wait_for_lock: bool = False,
        mcp_providers: list[MCPProvider | LocalStdioMCPProvider] | None = None,
        shard_deployment: str | None = None,
    ) -> None:
        self._retry_policy = retry_policy
        self.runtime = Runtime(
            artifact_path=Path("artifacts" if artifact_path is None else artifact_path),
            providers=list(model_providers)
            if model_providers is not None
            else default_model_providers(),
            run_config=run_config or RunConfig(),
            retry=retry_policy,
            global_throttle=global_throttle,
            flow_retries=flow_retries,
            wait_for_lock=wait_for_lock,
            mcp_providers=list(mcp_providers or []),
            shard_deployment=shard_deployment,
        )
        install_secret_resolver()
        # Prefect's temporary server (no Prefect API URL) stops with this process, even a
        # notebook kernel that is killed.
        tie_ephemeral_server()

    @property
    def artifact_path(self) -> Path:
        """Where datasets and workflows are written."""
        return self.runtime.artifact_path

    @property
    def model_providers(self) -> list[ModelProvider]:
        return self.runtime.providers

    @property
    def run_config(self) -> RunConfig:
        return self.runtime.run_config

    def set_run_config(self, run_config: RunConfig) -> None:
        """Use `run_config` from now on (Data Designer's setter); LLM retries follow its
        `max_llm_retries` unless a `retry_policy` was given."""
        self.runtime = dataclasses.replace(
            self.runtime, run_config=run_config, retry=self._retry_policy
        )

    @property
    def info(self) -> InterfaceInfo:
        """A table of this designer's providers: ``info.display("model_providers")``."""
        return InterfaceInfo(self.model_providers)

    def get_default_model_configs(self) -> list[ModelConfig]:
        """Data Designer's default models: what an alias such as ``openai-text`` means when
        a config does not define it."""
        return default_model_configs()

    def get_default_model_providers(self) -> list[ModelProvider]:
        """Data Designer's default model providers (used when none are given)."""
        return default_model_providers()

    def list_mcp_tool_names(
        self, mcp_provider_name: str, *, timeout_sec: float = 10.0
    ) -> list[str]:
        """The names of the tools MCP provider `mcp_provider_name` (one of `mcp_providers`)
        offers, from a session opened for the question; ConfigValidationError if there is
        no such provider."""
        names = [p.name for p in self.runtime.mcp_providers]
        if mcp_provider_name not in names:
            raise ConfigValidationError.of(
                f"no MCP provider named '{mcp_provider_name}' "
                f"(mcp_providers: {', '.join(names) or 'none'})",
                field="mcp_providers",
            )

        async def listed() -> list[str]:
            async with self.runtime.models([]) as registry:
                tools = await registry.tools.sessions.list_tools(mcp_provider_name, timeout_sec)
                return [tool.name for tool in tools]

        return run_sync(listed())

    def validate(self, config_builder: ConfigLike) -> DataDesignerConfig:
        """Validate a config (against its seed's columns and these providers); returns it."""
        config = as_config(config_builder)
        issues = validate_config(config, raise_on_error=False)
        try:
            self.runtime.check_providers(config)
        except ConfigValidationError as exc:
            issues += exc.issues
        if issues:
            raise ConfigValidationError(issues)
        return config

    def create(
        self,
        config_builder: ConfigLike,
        num_records: int | None = None,
        dataset_name: str | None = None,
        resume: ResumeMode | str = ResumeMode.NEVER,
        *,
        on_progress: ProgressCallback | None = None,
        allow_empty: bool = False,
        retry_failed: bool = False,
        shards: int = 1,
    ) -> DatasetCreationResults:
        """Generate a dataset on Prefect and write it under ``artifact_path/dataset_name``.

        `num_records` defaults to the seed's row count. Bad input raises before any LLM
        call and before anything is written. A dataset whose every row was dropped raises
        DataDesignerGenerationError unless `allow_empty`. With a resume, `retry_failed`
        regenerates the rows that failed before (``results.load_failed_rows()``) at their
        positions, with the same seed. `shards` spreads the row groups over that many
        shard flow runs (on `shard_deployment`'s workers when set); the dataset is the
        same. Works inside a running event loop.
        """
        return run_sync(
            self.acreate(
                config_builder,
                num_records,
                dataset_name,
                resume,
                on_progress=on_progress,
                allow_empty=allow_empty,
                retry_failed=retry_failed,
                shards=shards,
            )
        )

    async def acreate(
        self,
        config_builder: ConfigLike,
        num_records: int | None = None,
        dataset_name: str | None = None,
        resume: ResumeMode | str = ResumeMode.NEVER,
        *,
        on_progress: ProgressCallback | None = None,
        allow_empty: bool = False,
        retry_failed: bool = False,
        shards: int = 1,
    ) -> DatasetCreationResults:
        """Async :meth:`create`."""
        return await create_dataset(
            self.runtime,
            as_config(config_builder),
            num_records,
            dataset_name or "dataset",
            ResumeMode.parse(resume),
            on_progress=on_progress,
            allow_empty=allow_empty,
            retry_failed=retry_failed,
            shards=shards,
        )

    def preview(self, config_builder: ConfigLike, num_records: int = 10) -> PreviewResults:
        """Generate a few rows in memory (no Prefect, nothing written) to check a config."""
        return run_sync(self.apreview(config_builder, num_records))

    async def apreview(self, config_builder: ConfigLike, num_records: int = 10) -> PreviewResults:
        """Async :meth:`preview`."""
        return await preview_dataset(self.runtime, as_config(config_builder), num_records)

    def compose_workflow(self, name: str) -> CompositeWorkflow:
        """A new, empty :class:`CompositeWorkflow` named `name` (its durable identity)."""
        return CompositeWorkflow(self.runtime, name)

    def workflow_from_spec(self, spec: WorkflowSpec) -> CompositeWorkflow:
        """The :class:`CompositeWorkflow` a workflow spec describes, run with this designer's
        providers and run config (a spec's own are for ``dd-prefect run``)."""
        return CompositeWorkflow.from_spec(self.runtime, spec)
