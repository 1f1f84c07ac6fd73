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
    GenerationStrategy,
    LLMCodeColumnConfig,
    LLMJudgeColumnConfig,
    LLMStructuredColumnConfig,
    LLMTextColumnConfig,
    SamplerColumnConfig,
    Score,
    SeedDatasetColumnConfig,
    SkipConfig,
    ValidationColumnConfig,
)
from dd_prefect.config.custom_column import custom_column_generator
from dd_prefect.config.dag import dependency_graph, topological_order
from dd_prefect.config.distributions import (
    ManualDistribution,
    ManualDistributionParams,
    UniformDistribution,
    UniformDistributionParams,
)
from dd_prefect.config.file_seed_sources import AgentRolloutFormat
from dd_prefect.config.mcp import LocalStdioMCPProvider, MCPProvider, ToolConfig
from dd_prefect.config.modality import (
    AudioContext,
    AudioFormat,
    ImageContext,
    ImageFormat,
    Modality,
    ModalityContext,
    ModalityDataType,
    VideoContext,
    VideoFormat,
)
from dd_prefect.config.model_columns import EmbeddingColumnConfig, ImageColumnConfig
from dd_prefect.config.models import (
    ChatCompletionInferenceParams,
    EmbeddingInferenceParams,
    GenerationType,
    ImageInferenceParams,
    ModelConfig,
    ModelProvider,
)
from dd_prefect.config.processors import (
    DropColumnsProcessorConfig,
    ProcessorConfig,
    SchemaTransformProcessorConfig,
)
from dd_prefect.config.profilers import JudgeScoreProfilerConfig
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.samplers import (
    BernoulliSamplerParams,
    BinomialSamplerParams,
    CategorySamplerParams,
    DatetimeSamplerParams,
    GaussianSamplerParams,
    PersonFromFakerSamplerParams,
    PersonSamplerParams,
    PoissonSamplerParams,
    SamplerType,
    SubcategorySamplerParams,
    TimeDeltaSamplerParams,
    UniformSamplerParams,
    UUIDSamplerParams,
)
from dd_prefect.config.seeds import (
    AgentRolloutSeedSource,
    DataFrameSeedSource,
    DirectorySeedSource,
    FileContentsSeedSource,
    IndexRange,
    LocalFileSeedSource,
    PartitionBlock,
    SamplingStrategy,
    SeedConfig,
)
from dd_prefect.config.stage import Stage
from dd_prefect.config.utils.code_lang import CodeLang
from dd_prefect.config.utils.trace_type import TraceType
from dd_prefect.config.validation import SEED_PENDING, validate_config
from dd_prefect.config.validator_params import (
    CodeValidatorParams,
    LocalCallableValidatorParams,
    RemoteValidatorParams,
    ValidatorType,
)
from dd_prefect.config.workflow_spec import DatasetSpec, WorkflowSpec, load_spec
from dd_prefect.errors import ConfigIssue, ConfigValidationError, DataDesignerError

__all__ = [
    "SEED_PENDING",
    "AgentRolloutFormat",
    "AgentRolloutSeedSource",
    "AudioContext",
    "AudioFormat",
    "BernoulliSamplerParams",
    "BinomialSamplerParams",
    "CategorySamplerParams",
    "ChatCompletionInferenceParams",
    "CodeLang",
    "CodeValidatorParams",
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
    "DirectorySeedSource",
    "DropColumnsProcessorConfig",
    "EmbeddingColumnConfig",
    "EmbeddingInferenceParams",
    "ExpressionColumnConfig",
    "FileContentsSeedSource",
    "GaussianSamplerParams",
    "GenerationStrategy",
    "GenerationType",
    "ImageColumnConfig",
    "ImageContext",
    "ImageFormat",
    "ImageInferenceParams",
    "IndexRange",
    "JudgeScoreProfilerConfig",
    "LLMCodeColumnConfig",
    "LLMJudgeColumnConfig",
    "LLMStructuredColumnConfig",
    "LLMTextColumnConfig",
    "LocalCallableValidatorParams",
    "LocalFileSeedSource",
    "LocalStdioMCPProvider",
    "MCPProvider",
    "ManualDistribution",
    "ManualDistributionParams",
    "Modality",
    "ModalityContext",
    "ModalityDataType",
    "ModelConfig",
    "ModelProvider",
    "PartitionBlock",
    "PersonFromFakerSamplerParams",
    "PersonSamplerParams",
    "PoissonSamplerParams",
    "ProcessorConfig",
    "RemoteValidatorParams",
    "RunConfig",
    "SamplerColumnConfig",
    "SamplerType",
    "SamplingStrategy",
    "SchemaTransformProcessorConfig",
    "Score",
    "SeedConfig",
    "SeedDatasetColumnConfig",
    "SkipConfig",
    "Stage",
    "SubcategorySamplerParams",
    "TimeDeltaSamplerParams",
    "ToolConfig",
    "TraceType",
    "UUIDSamplerParams",
    "UniformDistribution",
    "UniformDistributionParams",
    "UniformSamplerParams",
    "ValidationColumnConfig",
    "ValidatorType",
    "VideoContext",
    "VideoFormat",
    "WorkflowSpec",
    "custom_column_generator",
    "dependency_graph",
    "load_spec",
    "topological_order",
    "validate_config",
]
