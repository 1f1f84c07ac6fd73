"""dd_prefect: synthetic datasets built with LLMs in chained stages, orchestrated by Prefect.

`import dd_prefect.config as dd` gives the declarative layer (no Prefect import). The
Prefect-backed facade is loaded lazily so the config layer stays importable on its own::

    from dd_prefect import DataDesigner, ResumeMode
"""

from __future__ import annotations

from typing import Any

from dd_prefect._version import __version__

__all__ = ["DataDesigner", "ResumeMode", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "DataDesigner":
        from dd_prefect.interface import DataDesigner

        return DataDesigner
    if name == "ResumeMode":
        from dd_prefect.workflow.resume import ResumeMode

        return ResumeMode
    raise AttributeError(f"module 'dd_prefect' has no attribute {name!r}")
