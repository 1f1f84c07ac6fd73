"""The DAG of a workflow's stages, as ``depends_on`` declares it, and its checks.

``depends_on=None`` means the stage before (a linear chain, the default); ``[]`` makes a
root stage, seeded by its own seed or samplers; ``["a", "b"]`` names stages added
earlier. A stage with several upstreams combines them with its ``join``.
"""

from __future__ import annotations

from collections import Counter

from dd_prefect.config.stage import Stage
from dd_prefect.errors import ConfigIssue


def upstreams_of(stages: list[Stage]) -> dict[str, tuple[str, ...]]:
    """Each stage's upstream stages, in add order (the stage before it unless its
    ``depends_on`` says otherwise)."""
    out: dict[str, tuple[str, ...]] = {}
    for i, stage in enumerate(stages):
        if stage.depends_on is None:
            out[stage.name] = (stages[i - 1].name,) if i else ()
        else:
            out[stage.name] = tuple(stage.depends_on)
    return out


def sinks_of(stages: list[Stage], among: set[str] | None = None) -> list[str]:
    """The stages nothing depends on, in add order (a linear workflow: its last stage);
    with `among`, the stages of that set none of the set depends on (a run of targets)."""
    names = among if among is not None else {s.name for s in stages}
    upstreams = upstreams_of(stages)
    fed = {u for name in names for u in upstreams[name]}
    return [s.name for s in stages if s.name in names and s.name not in fed]


def dag_problems(stages: list[Stage]) -> list[ConfigIssue]:
    """Unknown, repeated, self and forward references in ``depends_on``, cycles, and a
    ``join`` missing where several upstreams meet (or given where they don't). Each issue
    names the stage."""
    issues: list[ConfigIssue] = []
    position = {s.name: i for i, s in enumerate(stages)}
    upstreams = upstreams_of(stages)

    def add(stage: Stage, message: str, field: str = "depends_on") -> None:
        issues.append(ConfigIssue(message, stage=stage.name, field=field))

    for i, stage in enumerate(stages):
        ups = upstreams[stage.name]
        for name, count in Counter(ups).items():
            if count > 1:
                add(stage, f"depends_on names stage '{name}' twice")
        for name in dict.fromkeys(ups):
            if name == stage.name:
                add(stage, "a stage cannot depend on itself")
            elif name not in position:
                known = ", ".join(position) or "none"
                add(stage, f"depends_on names unknown stage '{name}' (stages: {known})")
            elif position[name] > i:
                cycle = _cycle_through(stage.name, upstreams)
                if cycle:
                    add(stage, "depends_on makes a cycle: " + " -> ".join(cycle))
                else:
                    add(
                        stage,
                        f"depends_on names stage '{name}', which is added after it; "
                        "add upstream stages first",
                    )
        if len(ups) > 1 and stage.join is None:
            add(
                stage,
                f"stage has {len(ups)} upstream stages ({', '.join(ups)}) and needs join: "
                "'concat', 'columns' or 'pkg.module:function'",
                "join",
            )
        if len(ups) <= 1 and stage.join is not None:
            add(stage, "join is only for a stage with several upstream stages", "join")
        if stage.join_version is not None and (stage.join is None or not stage.join.is_callable):
            add(stage, "join_version is only for a callable join", "join_version")
    return issues


def _cycle_through(start: str, upstreams: dict[str, tuple[str, ...]]) -> list[str] | None:
    """A dependency cycle through `start` (``a -> b -> a``), or None."""
    path: list[str] = []

    def visit(name: str, seen: set[str]) -> bool:
        path.append(name)
        for up in upstreams.get(name, ()):
            if up == start or (up not in seen and visit(up, seen | {up})):
                return True
        path.pop()
        return False

    if visit(start, {start}):
        return [*path, start]
    return None


__all__ = ["dag_problems", "sinks_of", "upstreams_of"]
