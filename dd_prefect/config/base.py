"""Data Designer's ``data_designer.config.base``: what every column config has.

Only re-exports; they live in :mod:`dd_prefect.config.column_base`.
"""

from dd_prefect.config.column_base import ColumnConfigBase as SingleColumnConfig
from dd_prefect.config.column_base import SkipConfig

__all__ = ["SingleColumnConfig", "SkipConfig"]
