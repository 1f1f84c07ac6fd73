"""Data Designer's ``data_designer.config.seed_source_dataframe``: an in-memory seed.

Only re-exports; it lives in :mod:`dd_prefect.config.seeds`.
"""

from dd_prefect.config.seeds import DataFrameSeedSource

__all__ = ["DataFrameSeedSource"]
