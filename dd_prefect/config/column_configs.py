"""Data Designer's ``data_designer.config.column_configs``: the column config classes.

Only re-exports; the classes live in :mod:`dd_prefect.config.columns`.
"""

from dd_prefect.config.columns import *  # noqa: F403
from dd_prefect.config.columns import __all__ as __all__
