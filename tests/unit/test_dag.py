"""The column dependency graph and its topological order."""

from __future__ import annotations

import pytest

import dd_prefect.config as dd


def expr(name: str, source: str = "x") -> dd.ExpressionColumnConfig:
    return dd.ExpressionColumnConfig(name=name, expr=source)


def names(columns) -> list[str]:
    return [c.name for c in columns]


def test_independent_columns_keep_declared_order() -> None:
    columns = [expr("c"), expr("a"), expr("b")]
    assert names(dd.topological_order(columns)) == ["c", "a", "b"]


def test_dependencies_come_first_ties_in_declared_order() -> None:
    columns = [
        expr("summary", "{{ answer }} {{ topic }}"),
        expr("topic"),
        expr("answer", "{{ question }}"),
        expr("extra"),
        expr("question", "{{ topic }}"),
    ]
    ordered = names(dd.topological_order(columns))
    assert ordered == ["topic", "extra", "question", "answer", "summary"]


def test_order_respects_every_edge_and_keeps_all_columns() -> None:
    columns = [
        expr("d", "{{ b }}{{ c }}"),
        expr("c", "{{ a }}"),
        expr("b", "{{ a }}"),
        expr("a"),
        expr("e"),
    ]
    ordered = names(dd.topological_order(columns))
    assert sorted(ordered) == ["a", "b", "c", "d", "e"]
    position = {name: i for i, name in enumerate(ordered)}
    for column in columns:
        for dep in column.required_columns():
            assert position[dep] < position[column.name]
    # ready columns are taken in declared order: c before b, a before e
    assert ordered == ["a", "c", "b", "d", "e"]


def test_order_returns_the_column_objects() -> None:
    columns = [expr("b", "{{ a }}"), expr("a")]
    ordered = dd.topological_order(columns)
    assert ordered[0] is columns[1] and ordered[1] is columns[0]


def test_dependency_from_subcategory() -> None:
    columns = [
        dd.SamplerColumnConfig(
            name="sub",
            params=dd.SubcategorySamplerParams(category="cat", values={"a": ["x"]}),
        ),
        dd.SamplerColumnConfig(name="cat", params=dd.CategorySamplerParams(values=["a"])),
    ]
    assert dd.dependency_graph(columns) == {"sub": {"cat"}, "cat": set()}
    assert names(dd.topological_order(columns)) == ["cat", "sub"]


def test_dependency_from_timedelta() -> None:
    columns = [
        dd.SamplerColumnConfig(
            name="due",
            params=dd.TimeDeltaSamplerParams(dt_min=1, dt_max=2, reference_column_name="start"),
        ),
        dd.SamplerColumnConfig(
            name="start", params=dd.DatetimeSamplerParams(start="2024-01-01", end="2025-01-01")
        ),
    ]
    assert dd.dependency_graph(columns)["due"] == {"start"}
    assert names(dd.topological_order(columns)) == ["start", "due"]


def test_dependency_from_custom_required_columns() -> None:
    columns = [
        dd.CustomColumnConfig(name="score", function="m:f", required_columns=["text", "label"]),
        expr("label"),
        expr("text"),
    ]
    assert dd.dependency_graph(columns)["score"] == {"text", "label"}
    assert names(dd.topological_order(columns)) == ["label", "text", "score"]


def test_dependency_from_llm_prompts_and_system_prompt() -> None:
    columns = [
        dd.LLMJudgeColumnConfig(
            name="judge",
            prompt="{{ answer }}",
            system_prompt="Rubric for {{ persona }}",
            model_alias="m",
            scores=[dd.Score(name="s", description="d", options={1: "ok"})],
        ),
        dd.LLMCodeColumnConfig(name="answer", prompt="{{ persona }}", model_alias="m"),
        expr("persona"),
    ]
    assert dd.dependency_graph(columns) == {
        "judge": {"answer", "persona"},
        "answer": {"persona"},
        "persona": set(),
    }
    assert names(dd.topological_order(columns)) == ["persona", "answer", "judge"]


def test_external_and_self_references_are_not_edges() -> None:
    columns = [expr("a", "{{ seed_col }} {{ a }}"), expr("b", "{{ a }} {{ missing }}")]
    graph = dd.dependency_graph(columns, known=["seed_col"])
    assert graph == {"a": set(), "b": {"a"}}
    assert names(dd.topological_order(columns)) == ["a", "b"]


def test_seed_dataset_columns_are_roots() -> None:
    columns = [expr("q", "{{ doc }}"), dd.SeedDatasetColumnConfig(name="doc")]
    assert names(dd.topological_order(columns)) == ["doc", "q"]


def test_two_column_cycle_is_named() -> None:
    columns = [expr("a", "{{ b }}"), expr("b", "{{ a }}")]
    with pytest.raises(ValueError, match="dependency cycle: a -> b -> a"):
        dd.topological_order(columns)


def test_longer_cycle_is_named_with_only_its_members() -> None:
    columns = [
        expr("root"),
        expr("x", "{{ root }} {{ z }}"),
        expr("y", "{{ x }}"),
        expr("z", "{{ y }}"),
        expr("tail", "{{ z }}"),
    ]
    with pytest.raises(ValueError) as info:
        dd.topological_order(columns)
    message = str(info.value)
    assert message == "dependency cycle: x -> z -> y -> x"
    assert "root" not in message and "tail" not in message


def test_cycle_through_subcategory_and_custom() -> None:
    columns = [
        dd.SamplerColumnConfig(
            name="sub", params=dd.SubcategorySamplerParams(category="c", values={})
        ),
        dd.CustomColumnConfig(name="c", function="m:f", required_columns=["sub"]),
    ]
    with pytest.raises(ValueError, match=r"c -> sub -> c|sub -> c -> sub"):
        dd.topological_order(columns)


def test_empty() -> None:
    assert dd.topological_order([]) == []
    assert dd.dependency_graph([]) == {}
