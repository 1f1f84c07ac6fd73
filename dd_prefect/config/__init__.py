"""The declarative layer: pure pydantic models, the builder, validation and fingerprints.

Importing it never imports Prefect. Names follow NVIDIA Data Designer::

    import dd_prefect.config as dd

    builder = dd.DataDesignerConfigBuilder(model_configs=[...])
"""

from dd_prefect.config.builder import DataDesignerConfig, DataDesignerConfigBuilder
from dd_prefect.config.columns import (
    ColumnConfig,
    ColumnType,
    CustomColumnConfig,
    ExpressionColumnConfig,
    LLMCodeColumnConfig,
    LLMJudgeColumnConfig,
    LLMStructuredColumnConfig,
    LLMTextColumnConfig,
    SamplerColumnConfig,
    Score,
    SeedDatasetColumnConfig,
)
from dd_prefect.config.dag import dependency_graph, topological_order
from dd_prefect.config.models import ChatCompletionInferenceParams, ModelConfig, ModelProvider
from dd_prefect.config.processors import (
    DropColumnsProcessorConfig,
    ProcessorConfig,
    SchemaTransformProcessorConfig,
)
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.samplers import (
    BernoulliSamplerParams,
    BinomialSamplerParams,
    CategorySamplerParams,
    DatetimeSamplerParams,
    GaussianSamplerParams,
    PersonSamplerParams,
    PoissonSamplerParams,
    SamplerType,
    SubcategorySamplerParams,
    TimeDeltaSamplerParams,
    UniformSamplerParams,
    UUIDSamplerParams,
)
from dd_prefect.config.seeds import (
    DataFrameSeedSource,
    IndexRange,
    LocalFileSeedSource,
    PartitionBlock,
    SamplingStrategy,
    SeedConfig,
)
from dd_prefect.config.stage import Stage
from dd_prefect.config.validation import SEED_PENDING, validate_config
from dd_prefect.config.workflow_spec import DatasetSpec, WorkflowSpec, load_spec
from dd_prefect.errors import ConfigIssue, ConfigValidationError, DataDesignerError

__all__ = [
    "SEED_PENDING",
    "BernoulliSamplerParams",
    "BinomialSamplerParams",
    "CategorySamplerParams",
    "ChatCompletionInferenceParams",
    "ColumnConfig",
    "ColumnType",
    "ConfigIssue",
    "ConfigValidationError",
    "CustomColumnConfig",
    "DataDesignerConfig",
    "DataDesignerConfigBuilder",
    "DataDesignerError",
    "DataFrameSeedSource",
    "DatasetSpec",
    "DatetimeSamplerParams",
    "DropColumnsProcessorConfig",
    "ExpressionColumnConfig",
    "GaussianSamplerParams",
    "IndexRange",
    "LLMCodeColumnConfig",
    "LLMJudgeColumnConfig",
    "LLMStructuredColumnConfig",
    "LLMTextColumnConfig",
    "LocalFileSeedSource",
    "ModelConfig",
    "ModelProvider",
    "PartitionBlock",
    "PersonSamplerParams",
    "PoissonSamplerParams",
    "ProcessorConfig",
    "RunConfig",
    "SamplerColumnConfig",
    "SamplerType",
    "SamplingStrategy",
    "SchemaTransformProcessorConfig",
    "Score",
    "SeedConfig",
    "SeedDatasetColumnConfig",
    "Stage",
    "SubcategorySamplerParams",
    "TimeDeltaSamplerParams",
    "UUIDSamplerParams",
    "UniformSamplerParams",
    "WorkflowSpec",
    "dependency_graph",
    "load_spec",
    "topological_order",
    "validate_config",
]
