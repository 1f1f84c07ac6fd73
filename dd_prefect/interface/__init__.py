"""The public facade: :class:`DataDesigner` and :class:`CompositeWorkflow`."""

from dd_prefect.interface.designer import DataDesigner
from dd_prefect.interface.workflow import CompositeWorkflow

__all__ = ["CompositeWorkflow", "DataDesigner"]
