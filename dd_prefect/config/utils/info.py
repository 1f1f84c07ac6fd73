"""Data Designer's ``data_designer.config.utils.info``: ``builder.info`` tables.

Only re-exports; they live in :mod:`dd_prefect.config.info`.
"""

from dd_prefect.config.info import ConfigBuilderInfo, InterfaceInfo

__all__ = ["ConfigBuilderInfo", "InterfaceInfo"]
