"""Data Designer's ``data_designer.config.seed_source``: where seed rows come from.

Only re-exports; the sources live in :mod:`dd_prefect.config.seeds`.
"""

from dd_prefect.config.seeds import (
    DataFrameSeedSource,
    DirectorySeedSource,
    FileContentsSeedSource,
    LocalFileSeedSource,
)

__all__ = [
    "DataFrameSeedSource",
    "DirectorySeedSource",
    "FileContentsSeedSource",
    "LocalFileSeedSource",
]
