"""Data Designer's ``data_designer.config.seed``: seed config and sampling strategies.

Only re-exports; they live in :mod:`dd_prefect.config.seeds`.
"""

from dd_prefect.config.seeds import IndexRange, PartitionBlock, SamplingStrategy, SeedConfig

__all__ = ["IndexRange", "PartitionBlock", "SamplingStrategy", "SeedConfig"]
