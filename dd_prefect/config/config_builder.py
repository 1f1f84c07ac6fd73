"""Data Designer's ``data_designer.config.config_builder``: the config builder.

Only re-exports; the builder lives in :mod:`dd_prefect.config.builder`.
"""

from dd_prefect.config.builder import DataDesignerConfig, DataDesignerConfigBuilder

__all__ = ["DataDesignerConfig", "DataDesignerConfigBuilder"]
