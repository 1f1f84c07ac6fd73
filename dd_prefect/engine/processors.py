"""Processors applied to a finished row group: drop columns, schema transforms.

Processors never change the row count of the main output. Drop-columns removes columns
from the main output and keeps them as its own output; schema-transform renders its
template per row into a new dataset that is the processor's own output.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import pandas as pd

from dd_prefect.config.processors import (
    DropColumnsProcessorConfig,
    ProcessorConfig,
    SchemaTransformProcessorConfig,
)
from dd_prefect.engine.templating import render_json_template


def apply_processors(
    frame: pd.DataFrame, processors: list[ProcessorConfig], records: list[dict[str, Any]]
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Apply `processors` in order; returns the main frame and each processor's output.

    `records` are the full rows (before any column was dropped): schema-transform templates
    can read every generated column.
    """
    outputs: dict[str, pd.DataFrame] = {}
    for processor in processors:
        if isinstance(processor, DropColumnsProcessorConfig):
            matched = [
                c
                for c in frame.columns
                if any(fnmatch.fnmatchcase(str(c), p) for p in processor.column_names)
            ]
            outputs[processor.name] = frame[matched].copy()
            frame = frame.drop(columns=matched)
        elif isinstance(processor, SchemaTransformProcessorConfig):
            rendered = [
                render_json_template(processor.template, row, column=processor.name)
                for row in records
            ]
            outputs[processor.name] = pd.DataFrame(rendered, columns=list(processor.template))
    return frame, outputs
