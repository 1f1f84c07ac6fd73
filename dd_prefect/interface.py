"""`DataDesigner`: the public facade (create, preview, compose_workflow).

from dd_prefect import DataDesigner, ResumeMode
import dd_prefect.config as dd

designer = DataDesigner(artifact_path="artifacts", model_providers=[...])
results = designer.create(builder, num_records=1000, dataset_name="reviews")
df = results.load_dataset()
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from dd_prefect.config.builder import DataDesignerConfig, DataDesignerConfigBuilder
from dd_prefect.config.models import ModelProvider
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.seeds import seed_files_digest
from dd_prefect.config.validation import validate_config
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.llm import ModelRegistry, RetryPolicy
from dd_prefect.errors import ConfigIssue, ConfigValidationError, GenerationError
from dd_prefect.orchestration.dataset_flow import DatasetRun, ProgressCallback, run_create_flow
from dd_prefect.orchestration.runtime import env_flag, run_sync, uses_ephemeral_server
from dd_prefect.orchestration.secrets import install_secret_resolver
from dd_prefect.workflow.dataset import (
    DatasetCreationResults,
    PreviewResults,
    check_dataset_name,
)
from dd_prefect.workflow.resume import ResumeMode

ConfigLike = DataDesignerConfigBuilder | DataDesignerConfig


def as_config(config: ConfigLike) -> DataDesignerConfig:
    """A config from a builder (built) or a config (copied)."""
    if isinstance(config, DataDesignerConfigBuilder):
        return config.build()
    if isinstance(config, DataDesignerConfig):
        return config.model_copy(deep=True)
    raise TypeError(f"expected a DataDesignerConfigBuilder, got {type(config).__name__}")


class DataDesigner:
    """Generates datasets from configs on Prefect.

    - `artifact_path`: where datasets and workflows are written.
    - `model_providers`: the OpenAI-compatible endpoints model configs point at.
    - `run_config`: row-group size, concurrency and failure policy.
    - `global_throttle`: lease LLM slots from Prefect global concurrency limits (shared by
      every process on the same Prefect server). Default: on with a configured Prefect API
      URL, off with Prefect's ephemeral server; ``DD_PREFECT_GLOBAL_THROTTLE`` overrides.
    - `flow_retries`: Prefect retries of a failed flow run (finished row groups are reused).
    """

    def __init__(
        self,
        artifact_path: str | Path = "artifacts",
        model_providers: list[ModelProvider] | None = None,
        run_config: RunConfig | None = None,
        *,
        global_throttle: bool | None = None,
        flow_retries: int = 0,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.artifact_path = Path(artifact_path)
        self.model_providers = list(model_providers or [])
        self.run_config = run_config or RunConfig()
        self.global_throttle = global_throttle
        self.flow_retries = flow_retries
        self.retry_policy = retry_policy or RetryPolicy(max_retries=self.run_config.max_llm_retries)
        install_secret_resolver()

    # -- public API -----------------------------------------------------------------------

    def validate(self, config_builder: ConfigLike) -> DataDesignerConfig:
        """Validate a config (against its seed's columns and these providers); returns it."""
        config = as_config(config_builder)
        issues = validate_config(config, raise_on_error=False)
        try:
            self.check_providers(config)
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
    ) -> DatasetCreationResults:
        """Generate a dataset on Prefect and write it under ``artifact_path/dataset_name``.

        `num_records` defaults to the seed's row count. Bad input raises before any LLM
        call and before anything is written. Works inside a running event loop too.
        """
        return run_sync(
            self.acreate(config_builder, num_records, dataset_name, resume, on_progress=on_progress)
        )

    async def acreate(
        self,
        config_builder: ConfigLike,
        num_records: int | None = None,
        dataset_name: str | None = None,
        resume: ResumeMode | str = ResumeMode.NEVER,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> DatasetCreationResults:
        """Async :meth:`create`."""
        name = check_dataset_name(dataset_name or "dataset")
        mode = ResumeMode.parse(resume)
        config = as_config(config_builder)
        self.check_providers(config)
        async with self.models(config) as registry:
            generator = DatasetGenerator(config, self.run_config, registry)
            count = resolve_num_records(num_records, generator)
            run = DatasetRun(
                name=name,
                base_dir=self.artifact_path / name,
                generator=generator,
                num_records=count,
                resume=mode,
                use_global_throttle=self.use_global_throttle(),
                on_progress=on_progress,
                seed_digest=seed_files_digest(config.seed_config),
            )
            return await run_create_flow(run, retries=self.flow_retries)

    def preview(self, config_builder: ConfigLike, num_records: int = 10) -> PreviewResults:
        """Generate a few rows in memory (no Prefect, nothing written) to check a config."""
        return run_sync(self.apreview(config_builder, num_records))

    async def apreview(self, config_builder: ConfigLike, num_records: int = 10) -> PreviewResults:
        """Async :meth:`preview`."""
        config = as_config(config_builder)
        self.check_providers(config)
        async with self.models(config) as registry:
            generator = DatasetGenerator(config, self.run_config, registry)
            frames, outputs, errors, dropped = [], {}, {}, 0
            for index, start, rows in generator.row_groups(num_records):
                result = await generator.generate(index, start, rows)
                frames.append(result.frame)
                for name, frame in result.processor_frames.items():
                    outputs.setdefault(name, []).append(frame)
                for kind, count in result.errors.items():
                    errors[kind] = errors.get(kind, 0) + count
                dropped += result.dropped_rows
            summary = {
                "records": sum(len(f) for f in frames),
                "dropped_rows": dropped,
                "errors": errors,
                "llm_usage": {k: u.as_dict() for k, u in registry.usage.items()},
            }
        return PreviewResults(_concat(frames), {k: _concat(v) for k, v in outputs.items()}, summary)

    def compose_workflow(self, name: str) -> Any:
        """A new :class:`~dd_prefect.orchestration.composite.CompositeWorkflow` named `name`."""
        from dd_prefect.orchestration.composite import CompositeWorkflow

        return CompositeWorkflow(self, name)

    # -- shared with workflows ------------------------------------------------------------

    def check_providers(self, config: DataDesignerConfig) -> None:
        """Every LLM column's model resolves to a provider here (else ConfigValidationError)."""
        names = {p.name for p in self.model_providers}
        known = ", ".join(sorted(names)) or "none"
        issues = []
        for model in config.model_configs:
            used = any(getattr(c, "model_alias", None) == model.alias for c in config.columns)
            if not used:
                continue
            if model.provider is not None and model.provider not in names:
                issues.append(
                    ConfigIssue(
                        f"model '{model.alias}' names provider '{model.provider}', which is not "
                        f"among DataDesigner's model_providers ({known})",
                        field="model_configs",
                    )
                )
            elif model.provider is None and len(names) != 1:
                issues.append(
                    ConfigIssue(
                        f"model '{model.alias}' names no provider; set ModelConfig.provider "
                        f"(there are {len(names)} providers)",
                        field="model_configs",
                    )
                )
        if issues:
            raise ConfigValidationError(issues)

    @contextlib.asynccontextmanager
    async def models(self, config: DataDesignerConfig) -> AsyncIterator[ModelRegistry]:
        """A model registry for one run (mock providers get a bundled mock server)."""
        mock = None
        if any(p.provider_type == "mock" and not p.endpoint for p in self.model_providers):
            from dd_prefect.testing import MockLLMServer

            mock = MockLLMServer().start()
        clients = {
            p.name: httpx.AsyncClient(base_url=mock.url)
            for p in self.model_providers
            if mock is not None and p.provider_type == "mock" and not p.endpoint
        }
        registry = self._registry(config, clients)
        try:
            yield registry
        finally:
            await registry.aclose()
            if mock is not None:
                mock.stop()

    def use_global_throttle(self) -> bool:
        """Whether runs lease slots from Prefect global concurrency limits."""
        if self.global_throttle is not None:
            return self.global_throttle
        env = env_flag("DD_PREFECT_GLOBAL_THROTTLE")
        if env is not None:
            return env
        return not uses_ephemeral_server()

    def _registry(
        self, config: DataDesignerConfig, clients: dict[str, httpx.AsyncClient]
    ) -> ModelRegistry:
        return ModelRegistry(
            self.model_providers,
            config.model_configs,
            retry=self.retry_policy,
            http_clients=clients,
        )


def resolve_num_records(num_records: int | None, generator: DatasetGenerator) -> int:
    """`num_records`, or the seed's row count when not given."""
    if num_records is None:
        seed_rows = generator.num_seed_rows
        if seed_rows is None:
            raise ConfigValidationError(
                [ConfigIssue("num_records is required when the config has no seed dataset")]
            )
        return seed_rows
    if num_records < 0:
        raise ConfigValidationError([ConfigIssue(f"num_records must be >= 0, got {num_records}")])
    return num_records


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


__all__ = ["DataDesigner", "GenerationError", "ResumeMode"]
