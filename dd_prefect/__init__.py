"""dd_prefect: synthetic datasets built with LLMs in chained stages, orchestrated by Prefect.

`import dd_prefect.config as dd` gives the declarative layer (no Prefect import). The
Prefect-backed facade is loaded lazily so the config layer stays importable on its own::

    from dd_prefect import DataDesigner, ResumeMode
"""

from __future__ import annotations

from typing import Any

from dd_prefect._version import __version__
from dd_prefect.errors import (
    ConfigValidationError,
    DataDesignerBudgetExceededError,
    DataDesignerEarlyShutdownError,
    DataDesignerError,
    DataDesignerGenerationError,
    DataDesignerWorkflowError,
    EarlyShutdownError,
    GenerationError,
    InvalidConfigError,
    ResumeError,
    RunLockedError,
    WorkflowError,
)

# name -> module it is loaded from on first use (these import Prefect or pandas)
_LAZY = {
    "CompositeWorkflow": "dd_prefect.interface",
    "DataDesigner": "dd_prefect.interface",
    "ResumeMode": "dd_prefect.workflow.resume",
    "DatasetCreationResults": "dd_prefect.workflow.results",
    "PreviewResults": "dd_prefect.workflow.results",
    "CompositeWorkflowResults": "dd_prefect.workflow.results",
    "SkippedStageResult": "dd_prefect.workflow.results",
}

__all__ = [
    "CompositeWorkflow",
    "CompositeWorkflowResults",
    "ConfigValidationError",
    "DataDesigner",
    "DataDesignerBudgetExceededError",
    "DataDesignerEarlyShutdownError",
    "DataDesignerError",
    "DataDesignerGenerationError",
    "DataDesignerWorkflowError",
    "DatasetCreationResults",
    "EarlyShutdownError",
    "GenerationError",
    "InvalidConfigError",
    "PreviewResults",
    "ResumeError",
    "ResumeMode",
    "RunLockedError",
    "SkippedStageResult",
    "WorkflowError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dd_prefect' has no attribute {name!r}")
