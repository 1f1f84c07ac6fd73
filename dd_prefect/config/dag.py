"""The column dependency graph and a stable topological order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dd_prefect.config.columns import ColumnConfigBase


def dependency_graph(
    columns: Sequence[ColumnConfigBase], known: Iterable[str] = ()
) -> dict[str, set[str]]:
    """Column name -> names of the config's columns it reads, its ``skip.when`` and the
    producers of side-effect columns it reads included (seed columns are not nodes)."""
    names = {c.name for c in columns}
    external = set(known) - names
    # A side-effect column is read from the column that fills it.
    producer = {side: c.name for c in columns for side in c.side_effect_columns}
    return {
        c.name: {producer.get(r, r) for r in c.required_columns() | c.skip_columns()}
        & names - external - {c.name}
        for c in columns
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One dependency cycle as a list of names (first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def topological_order(columns: Sequence[ColumnConfigBase]) -> list[ColumnConfigBase]:
    """Columns ordered so each comes after the columns it reads; ties keep declared order.

    Raises ValueError naming the cycle when there is one.
    """
    graph = dependency_graph(columns)
    if cycle := find_cycle(graph):
        raise ValueError("dependency cycle: " + " -> ".join(cycle))
    done: set[str] = set()
    ordered: list[ColumnConfigBase] = []
    pending = list(columns)
    while pending:
        for column in pending:
            if graph[column.name] <= done:
                ordered.append(column)
                done.add(column.name)
                pending.remove(column)
                break
    return ordered
