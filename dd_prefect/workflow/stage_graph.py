"""The graph of a workflow's stages: who feeds whom, what a run with targets runs."""

from __future__ import annotations

from collections.abc import Mapping

from dd_prefect.config.stage import Stage
from dd_prefect.config.stage_dag import upstreams_of


def selected_stages(stages: list[Stage], targets: list[str] | None) -> list[Stage]:
    """The stages a run with `targets` runs: the targets and their ancestors (all: None)."""
    if not targets:
        return list(stages)
    upstreams = upstreams_of(stages)
    wanted: set[str] = set()
    pending = list(targets)
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending.extend(upstreams[name])
    return [s for s in stages if s.name in wanted]


def descendants(upstreams: Mapping[str, tuple[str, ...]], name: str) -> set[str]:
    """Every stage downstream of `name` (`upstreams` in topological order)."""
    found = {name}
    for stage, ups in upstreams.items():
        if any(u in found for u in ups):
            found.add(stage)
    return found - {name}
