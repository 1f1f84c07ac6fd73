"""Data Designer's ``data_designer.config.column_types``: the column type enum and union.

Only re-exports, under Data Designer's names (``DataDesignerColumnType`` is our
:class:`~dd_prefect.config.columns.ColumnType`, ``ColumnConfigT`` our ``ColumnConfig``).
"""

from dd_prefect.config.columns import ColumnConfig as ColumnConfigT
from dd_prefect.config.columns import ColumnType as DataDesignerColumnType

__all__ = ["ColumnConfigT", "DataDesignerColumnType"]
