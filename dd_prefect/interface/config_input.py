"""What the facade accepts as a config, and the config it runs from it."""

from __future__ import annotations

from dd_prefect.config.builder import DataDesignerConfig, DataDesignerConfigBuilder
from dd_prefect.config.default_model_settings import with_default_models
from dd_prefect.errors import ConfigValidationError

ConfigLike = DataDesignerConfigBuilder | DataDesignerConfig


def as_config(config: ConfigLike) -> DataDesignerConfig:
    """A config from a builder (built) or a config (copied), with Data Designer's default
    model for every alias it uses but does not define (``openai-text``, ...)."""
    if isinstance(config, DataDesignerConfigBuilder):
        return with_default_models(config.build(skip_validation=True))
    if isinstance(config, DataDesignerConfig):
        return with_default_models(config.model_copy(deep=True))
    raise ConfigValidationError.of(
        f"expected a DataDesignerConfigBuilder or DataDesignerConfig, got {type(config).__name__}"
    )
