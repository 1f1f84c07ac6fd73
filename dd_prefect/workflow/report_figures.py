"""The plots of a report (plotly figures): distributions of a dataset's analysis and a
workflow's stage graph."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import plotly.graph_objects as go

from dd_prefect.workflow.analysis import DatasetAnalysis
from dd_prefect.workflow.analysis_store import ERROR_SUFFIX
from dd_prefect.workflow.metadata import StageMetadata

STATUS_COLORS = {
    "completed": "#2e7d32",
    "completed_empty": "#9e9d24",
    "running": "#1565c0",
    "failed": "#c62828",
    "skipped_empty_upstream": "#757575",
}


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        height=320,
        margin={"l": 50, "r": 20, "t": 50, "b": 50},
        template="plotly_white",
    )
    return fig


def judge_score_figures(analysis: DatasetAnalysis) -> Iterator[go.Figure]:
    """One bar chart per judge column and score: how many records got each score."""
    for profile in analysis.column_profiles or []:
        for score, hist in profile["score_distributions"]["histograms"].items():
            pairs = sorted(zip(hist["categories"], hist["counts"], strict=True), key=_order)
            fig = go.Figure(
                go.Bar(x=[str(c) for c, _ in pairs], y=[n for _, n in pairs], name=score)
            )
            fig.update_xaxes(type="category")
            title = f"judge '{profile['column_name']}': score '{score}'"
            yield _layout(fig, title, "score", "records")


def category_figures(analysis: DatasetAnalysis) -> Iterator[go.Figure]:
    """Per categorical column: each category's share of records, beside its configured
    weight (a category sampler's)."""
    rows = [r for r in analysis.category_rows() if not r["column"].endswith(ERROR_SUFFIX)]
    for column in dict.fromkeys(r["column"] for r in rows):
        mine = [r for r in rows if r["column"] == column]
        names = [str(r["category"]) for r in mine]
        fig = go.Figure(go.Bar(x=names, y=[r["share"] for r in mine], name="observed share"))
        if any(r["weight"] is not None for r in mine):
            weights = [r["weight"] or 0 for r in mine]
            fig.add_trace(go.Bar(x=names, y=weights, name="configured weight"))
        fig.update_xaxes(type="category")
        yield _layout(fig, f"category frequencies: '{column}'", "category", "share")


def distribution_figures(analysis: DatasetAnalysis) -> Iterator[go.Figure]:
    """Histograms of numeric columns, text lengths and estimated tokens per LLM cell."""
    for s in analysis.column_statistics:
        if s.column_name.endswith(ERROR_SUFFIX):  # in the failed-rows table
            continue
        for label, dist, x in (
            ("values", s.distribution if s.distribution_type == "numerical" else None, "value"),
            (
                "length",
                s.length_distribution if s.distribution_type == "text" else None,
                "characters",
            ),
            ("tokens per cell (estimated)", s.output_tokens_distribution, "tokens"),
        ):
            if dist and dist.get("histogram"):
                yield histogram_figure(f"'{s.column_name}': {label}", dist, x)


def histogram_figure(title: str, dist: dict[str, Any], x: str) -> go.Figure:
    """A histogram from numpy-style bin edges and counts."""
    edges, counts = dist["histogram"]["bin_edges"], dist["histogram"]["counts"]
    centers = [(a + b) / 2 for a, b in pairwise(edges)]
    widths = [b - a for a, b in pairwise(edges)]
    fig = go.Figure(go.Bar(x=centers, y=counts, width=widths or None))
    subtitle = f"median {dist['median']:.4g}, mean {dist['mean']:.4g}"
    return _layout(fig, f"{title} ({subtitle})", x, "records")


def stage_graph_figure(stages: list[StageMetadata]) -> go.Figure:
    """The workflow's stages as a graph: an arrow from each upstream to its stage, stages
    placed in columns by their depth (longest path from a stage without upstreams)."""
    depth: dict[str, int] = {}
    by_name = {s.name: s for s in stages}

    def depth_of(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            ups = [u for u in by_name[name].depends_on if u in by_name and u not in seen]
            depth[name] = 1 + max((depth_of(u, seen | {name}) for u in ups), default=-1)
        return depth[name]

    place: dict[str, tuple[int, int]] = {}
    rows: dict[int, int] = {}
    for s in stages:
        d = depth_of(s.name)
        place[s.name] = (d, rows.get(d, 0))
        rows[d] = rows.get(d, 0) + 1
    fig = go.Figure()
    for s in stages:
        for upstream in s.depends_on:
            if upstream in place:
                (x0, y0), (x1, y1) = place[upstream], place[s.name]
                fig.add_annotation(
                    x=x1, y=-y1, ax=x0, ay=-y0, xref="x", yref="y", axref="x", ayref="y",
                    showarrow=True, arrowhead=3, arrowsize=1.5, standoff=18, startstandoff=18,
                )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=[place[s.name][0] for s in stages],
            y=[-place[s.name][1] for s in stages],
            mode="markers+text",
            text=[f"{s.name}<br>{s.status}, {s.actual_records or 0} records" for s in stages],
            textposition="bottom center",
            marker={
                "size": 28,
                "color": [STATUS_COLORS.get(s.status, "#000") for s in stages],
            },
            hoverinfo="text",
        )
    )
    fig.update_xaxes(visible=False, range=[-0.5, max(rows, default=0) + 0.5])
    fig.update_yaxes(visible=False, range=[-max(rows.values(), default=1) - 0.2, 0.6])
    fig.update_layout(
        title="stage graph", height=160 + 110 * max(rows.values(), default=1), showlegend=False,
        template="plotly_white", margin={"l": 20, "r": 20, "t": 50, "b": 20},
    )  # fmt: skip
    return fig


def _order(pair: tuple[Any, int]) -> tuple[int, Any]:
    value = pair[0]
    return (0, value) if isinstance(value, int | float) else (1, str(value))
