"""Static HTML reports of a dataset (``<dataset>/report.html``) and of a workflow
(``<workflow>/report.html``): counts, LLM usage, failed rows and plots of each dataset's
analysis; for a workflow, its stage graph and a section per stage.

One self-contained file: plotly.js is inlined once (no CDN), so it opens offline.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from dd_prefect.config.io import atomic_write_text
from dd_prefect.errors import WorkflowError
from dd_prefect.workflow.analysis import DatasetAnalysis, column_row
from dd_prefect.workflow.analysis_store import load_or_compute, stage_dataset
from dd_prefect.workflow.layout import (
    METADATA_FILE,
    OUTPUT_PROCESSORS_DIR,
    WORKFLOW_METADATA,
    DatasetLayout,
    WorkflowLayout,
)
from dd_prefect.workflow.metadata import DatasetMetadata, StageMetadata
from dd_prefect.workflow.report_figures import (
    category_figures,
    distribution_figures,
    judge_score_figures,
    stage_graph_figure,
)
from dd_prefect.workflow.usage import added

REPORT_FILE = "report.html"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); }
section { border-top: 2px solid #ddd; margin-top: 2em; }
"""


def write_dataset_report(base_dir: str | Path) -> Path:
    """Write ``report.html`` in a dataset directory (its analysis computed if needed)."""
    layout = DatasetLayout(base_dir)
    metadata = layout.read_metadata()
    name = metadata.dataset_name if metadata else layout.base_dir.name
    body = _dataset_section(layout.base_dir, metadata, heading=None)
    return _write(layout.base_dir / REPORT_FILE, f"dataset '{name}'", body)


def write_workflow_report(workflow_dir: str | Path) -> Path:
    """Write ``report.html`` in a workflow directory: the stage graph, a table of stages
    (status, records, duration, usage) and each stage's dataset section."""
    layout = WorkflowLayout(Path(workflow_dir))
    metadata, why = layout.read()
    if metadata is None:
        raise WorkflowError(f"no workflow report for {layout.dir}: {why}")
    stages = metadata.stages
    datasets = {s.name: stage_dataset(layout, s) for s in stages}
    parts = [_figures([stage_graph_figure(stages)]), "<h2>stages</h2>"]
    usage = {s.name: _stage_usage(layout, s) for s in stages}
    parts.append(_table([_stage_row(s, datasets[s.name], usage[s.name]) for s in stages]))
    total: dict[str, dict[str, Any]] = {}
    for spent in usage.values():
        total = added(total, spent)
    if total:
        parts += ["<h2>LLM usage of the workflow (all stages, all attempts)</h2>"]
        parts.append(_table([{"model": m, **counts} for m, counts in sorted(total.items())]))
    for s in stages:
        base = datasets[s.name]
        meta = DatasetLayout(base).read_metadata() if base else None
        heading = f"stage '{s.name}' ({s.status})"
        if base is None or meta is None or s.status == "running":  # profiled once it ends
            note = "still running" if s.status == "running" else "no dataset"
            parts.append(f"<section><h2>{html.escape(heading)}</h2><p>{note}</p></section>")
            continue
        parts.append(_dataset_section(base, meta, heading=heading))
    return _write(layout.dir / REPORT_FILE, f"workflow '{metadata.name}'", "\n".join(parts))


def write_report(path: str | Path) -> Path:
    """The report of an artifact directory: a workflow's (it holds
    workflow-metadata.json) or a dataset's (it holds metadata.json)."""
    path = Path(path)
    if (path / WORKFLOW_METADATA).exists():
        return write_workflow_report(path)
    if (path / METADATA_FILE).exists():
        return write_dataset_report(path)
    raise WorkflowError(
        f"{path} is neither a workflow directory ({WORKFLOW_METADATA}) nor a dataset "
        f"directory ({METADATA_FILE})"
    )


def _stage_usage(layout: WorkflowLayout, stage: StageMetadata) -> dict[str, dict[str, Any]]:
    """LLM usage of a stage over every attempt: its main run's and its output-processor
    pass's."""
    stage_dir = layout.abs(stage.stage_dir)
    total: dict[str, dict[str, Any]] = {}
    for base in (stage_dir, stage_dir / OUTPUT_PROCESSORS_DIR) if stage_dir else ():
        if (meta := DatasetLayout(base).read_metadata()) is not None:
            total = added(total, meta.llm_usage_total)
    return total


def _stage_row(
    stage: StageMetadata, base: Path | None, usage: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    meta = DatasetLayout(base).read_metadata() if base else None
    return {
        "stage": stage.name,
        "depends on": ", ".join(stage.depends_on) or "none",
        "join": (stage.join or {}).get("how", "") if stage.join else "",
        "status": stage.status,
        "requested": stage.requested_records,
        "records": stage.actual_records,
        "dropped rows": meta.dropped_rows if meta else None,
        "duration (s)": round(stage.duration, 1) if stage.duration is not None else None,
        "LLM usage (all attempts)": _usage_text(usage),
    }


def _usage_text(usage: dict[str, dict[str, Any]]) -> str:
    return "; ".join(
        f"{model}: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        for model, counts in sorted(usage.items())
    )


def _dataset_section(base: Path, metadata: DatasetMetadata | None, heading: str | None) -> str:
    analysis = DatasetAnalysis(data=load_or_compute(base))
    parts = [f"<h2>{html.escape(heading)}</h2>"] if heading else []
    parts.append(
        f"<p>{analysis.num_records} records of {analysis.target_num_records} requested "
        f"({analysis.percent_complete:.1f}%) in <code>{html.escape(str(base))}</code></p>"
    )
    usage = [{"model": m, **counts} for m, counts in sorted(analysis.llm_usage.items())]
    if usage:
        parts += ["<h3>LLM usage (all attempts)</h3>", _table(usage)]
    failed = analysis.failed_rows
    failures = [{"dropped rows": failed.get("dropped_rows", 0)}]
    failures[0].update({f"errors: {k}": v for k, v in failed.get("errors_by_kind", {}).items()})
    kept = failed.get("errors_kept_by_column", {})
    failures[0].update({f"kept with error: {k}": v for k, v in kept.items()})
    parts += [
        "<h3>failed rows</h3>",
        _table(failures),
        _table(failed.get("by_column_and_kind", [])),
    ]
    parts += ["<h3>columns</h3>", _table([column_row(s) for s in analysis.column_statistics])]
    figures = [
        *judge_score_figures(analysis),
        *category_figures(analysis),
        *distribution_figures(analysis),
    ]
    if figures:
        parts += ["<h3>distributions</h3>", _figures(figures)]
    if analysis.category_rows():
        parts += ["<h3>category frequencies vs configured weights</h3>"]
        parts.append(_table(analysis.category_rows()))
    return "<section>" + "\n".join(parts) + "</section>"


def _figures(figures: Iterable[go.Figure]) -> str:
    divs = (f.to_html(full_html=False, include_plotlyjs=False) for f in figures)
    return '<div class="plots">' + "\n".join(divs) + "</div>"


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    headers = list(dict.fromkeys(h for row in rows for h in row))
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(row.get(h)))}</td>" for h in headers) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _write(path: Path, title: str, body: str) -> Path:
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Path(atomic_write_text(path, page))
