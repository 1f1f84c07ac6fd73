"""Stage DAGs without Prefect: depends_on and its checks, join specs, joining frames,
the columns a joined input has, skip rules and the identity of a joining stage."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import dd_prefect.config as dd
from dd_prefect.config.join import JoinSpec
from dd_prefect.config.stage import Stage
from dd_prefect.config.stage_chain import chain_problems
from dd_prefect.config.stage_dag import dag_problems, sinks_of, upstreams_of
from dd_prefect.errors import ConfigValidationError, WorkflowError
from dd_prefect.workflow.join import join_frames
from dd_prefect.workflow.keys import upstream_identity
from dd_prefect.workflow.layout import WorkflowLayout
from dd_prefect.workflow.plan import Action, empty_upstream, plan_workflow
from dd_prefect.workflow.resume import ResumeMode
from dd_prefect.workflow.stage_inputs import resolve_stage


def expr(name: str, template: str) -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder().add_column(
        name=name, column_type="expression", expr=template
    )


def root() -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder().add_column(
        name="x", column_type="sampler", sampler_type="category", params={"values": ["a", "b"]}
    )


def diamond(**judged: Any) -> list[Stage]:
    """seed -> left, right -> both (concat unless `judged` says otherwise)."""
    options = {"depends_on": ["left", "right"], "join": "concat", **judged}
    return [
        Stage.of("seed", root(), num_records=4),
        Stage.of("left", expr("l", "{{ x }}L"), depends_on=["seed"]),
        Stage.of("right", expr("r", "{{ x }}R"), depends_on=["seed"]),
        Stage.of("both", expr("z", "{{ x }}"), **options),
    ]


def test_upstreams_and_sinks() -> None:
    stages = [
        *diamond(),
        Stage.of("other_root", root(), num_records=2, depends_on=[]),
        Stage.of("after", expr("w", "{{ x }}")),  # depends_on None: the stage before
    ]
    assert upstreams_of(stages) == {
        "seed": (),
        "left": ("seed",),
        "right": ("seed",),
        "both": ("left", "right"),
        "other_root": (),
        "after": ("other_root",),
    }
    assert sinks_of(stages) == ["both", "after"]
    assert chain_problems(stages) == []


def _problems(stages: list[Stage]) -> list[tuple[str | None, str | None, str]]:
    return [(i.stage, i.field, i.message) for i in dag_problems(stages)]


@pytest.mark.parametrize(
    ("change", "fragment", "field"),
    [
        ({"depends_on": ["left", "nope"]}, "unknown stage 'nope' (stages: seed,", "depends_on"),
        ({"depends_on": ["left", "both"]}, "cannot depend on itself", "depends_on"),
        ({"depends_on": ["left", "left"]}, "names stage 'left' twice", "depends_on"),
        ({"join": None}, "has 2 upstream stages (left, right) and needs join", "join"),
    ],
)
def test_graph_problems_name_the_stage(change: dict[str, Any], fragment: str, field: str) -> None:
    found = _problems(diamond(**change))
    assert any(s == "both" and f == field and fragment in m for s, f, m in found), found


def test_join_on_one_upstream_and_join_version_without_callable() -> None:
    stages = [
        Stage.of("seed", root(), num_records=4),
        Stage.of("one", expr("y", "{{ x }}"), depends_on=["seed"], join="concat"),
        Stage.of(
            "two", expr("z", "{{ y }}"), depends_on=["seed", "one"], join="concat", join_version="1"
        ),
    ]
    assert _problems(stages) == [
        ("one", "join", "join is only for a stage with several upstream stages"),
        ("two", "join_version", "join_version is only for a callable join"),
    ]


def test_forward_reference_and_cycle() -> None:
    forward = [
        Stage.of("seed", root(), num_records=4),
        Stage.of("a", expr("y", "{{ x }}"), depends_on=["b"]),
        Stage.of("b", expr("z", "{{ x }}"), depends_on=["seed"]),
    ]
    ((stage, _, message),) = _problems(forward)
    assert stage == "a" and "'b', which is added after it" in message
    cycle = [
        Stage.of("seed", root(), num_records=4),
        Stage.of("a", expr("y", "{{ x }}"), depends_on=["b"]),
        Stage.of("b", expr("z", "{{ x }}"), depends_on=["a"]),
    ]
    ((stage, _, message),) = _problems(cycle)
    assert stage == "a" and message == "depends_on makes a cycle: a -> b -> a"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("concat", JoinSpec(mode="concat")),
        ("columns", JoinSpec(mode="columns")),
        (
            {"mode": "concat", "source_column": "_stage"},
            JoinSpec(mode="concat", source_column="_stage"),
        ),
        ("pkg.mod:fn", JoinSpec(mode="pkg.mod:fn")),
    ],
)
def test_join_spec(given: Any, expected: JoinSpec) -> None:
    assert JoinSpec.model_validate(given) == expected


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("outer", "join must be 'concat', 'columns' or 'pkg.module:function'"),
        ({"mode": "columns", "source_column": "_s"}, "only for mode 'concat'"),
        ({"mode": "concat", "how": "x"}, "Extra inputs"),
    ],
)
def test_bad_join_spec_names_the_stage(given: Any, fragment: str) -> None:
    with pytest.raises(ConfigValidationError, match=fragment) as info:
        Stage.of("both", expr("z", "{{ x }}"), depends_on=["a", "b"], join=given)
    assert info.value.issues[0].stage == "both"


def test_unimportable_join_is_reported() -> None:
    with pytest.raises(ConfigValidationError, match="cannot import 'no_such_mod_dd:fn'"):
        Stage.of("both", expr("z", "{{ x }}"), depends_on=["a", "b"], join="no_such_mod_dd:fn")


def test_concat_aligns_columns_and_names_sources() -> None:
    left = pd.DataFrame({"x": ["a", "b"], "l": ["aL", "bL"]})
    right = pd.DataFrame({"x": ["c"], "r": ["cR"]})
    out = join_frames(
        "both", JoinSpec(mode="concat", source_column="_stage"), {"left": left, "right": right}
    )
    assert list(out.columns) == ["x", "l", "_stage", "r"]
    assert list(out["x"]) == ["a", "b", "c"]
    assert list(out["_stage"]) == ["left", "left", "right"]
    assert out["r"].isna().tolist() == [True, True, False]
    assert out["l"].isna().tolist() == [False, False, True]


def test_columns_join_merges_rows_and_checks_shared_columns() -> None:
    a = pd.DataFrame({"x": ["a", "b"], "l": [1, 2]})
    b = pd.DataFrame({"x": ["a", "b"], "r": [3, 4]})
    out = join_frames("both", JoinSpec(mode="columns"), {"a": a, "b": b})
    assert out.to_dict("list") == {"x": ["a", "b"], "l": [1, 2], "r": [3, 4]}
    with pytest.raises(
        WorkflowError, match="column 'x' differs between upstream stages 'a' and 'c'"
    ):
        join_frames("both", JoinSpec(mode="columns"), {"a": a, "c": b.assign(x=["a", "z"])})
    with pytest.raises(WorkflowError, match="equal row counts; got 'a' 2, 'd' 1"):
        join_frames("both", JoinSpec(mode="columns"), {"a": a, "d": b.head(1)})


def test_joined_input_columns_are_checked_before_anything_runs() -> None:
    fine = diamond()
    fine[3] = Stage.of(
        "both", expr("z", "{{ l }}{{ r }}"), depends_on=["left", "right"], join="concat"
    )
    assert chain_problems(fine) == []
    bad = diamond()
    bad[3] = Stage.of("both", expr("z", "{{ nope }}"), depends_on=["left", "right"], join="concat")
    (issue,) = chain_problems(bad)
    assert issue.stage == "both" and "nope" in issue.message
    source = diamond()
    source[3] = Stage.of(
        "both",
        expr("z", "{{ _stage }}"),
        depends_on=["left", "right"],
        join={"mode": "concat", "source_column": "_stage"},
    )
    assert chain_problems(source) == []


def test_later_root_stage_needs_its_own_records_and_no_other_stage_a_seed() -> None:
    stages = [*diamond(), Stage.of("island", expr("q", "{{ 1 }}"), depends_on=[])]
    (issue,) = chain_problems(stages)
    assert (issue.stage, issue.field) == ("island", "num_records")
    assert issue.message.startswith("a root stage (depends_on=[]) needs num_records")


@pytest.mark.parametrize(
    ("join", "statuses", "skipped"),
    [
        (None, {"left": "completed_empty"}, True),
        ("concat", {"left": "completed_empty", "right": "completed"}, False),
        ("concat", {"left": "completed_empty", "right": "skipped_empty_upstream"}, True),
        ("columns", {"left": "completed_empty", "right": "completed"}, True),
        ("columns", {"left": "completed", "right": "completed"}, False),
    ],
)
def test_empty_upstreams(
    tmp_path, join: str | None, statuses: dict[str, str], skipped: bool
) -> None:
    stages = (
        diamond(join=join)
        if join
        else [*diamond()[:2], Stage.of("both", expr("z", "{{ x }}"), depends_on=["left"])]
    )
    plan = plan_workflow(
        "wf", stages, WorkflowLayout(tmp_path / "wf"), dd.RunConfig(), ResumeMode.NEVER
    )
    reason = empty_upstream(plan["both"], statuses)
    assert (reason is not None) == skipped


def test_plan_of_a_fresh_diamond(tmp_path) -> None:
    plan = plan_workflow(
        "wf", diamond(), WorkflowLayout(tmp_path / "wf"), dd.RunConfig(), ResumeMode.IF_POSSIBLE
    )
    assert [(s.name, s.upstreams, s.action) for s in plan.stages] == [
        ("seed", (), Action.RERUN),
        ("left", ("seed",), Action.RERUN),
        ("right", ("seed",), Action.RERUN),
        ("both", ("left", "right"), Action.RERUN),
    ]
    targets = plan_workflow(
        "wf",
        diamond(),
        WorkflowLayout(tmp_path / "wf"),
        dd.RunConfig(),
        ResumeMode.NEVER,
        targets=["right"],
    )
    assert [s.name for s in targets.stages] == ["seed", "right"]


def test_identity_of_a_joining_stage(tmp_path) -> None:
    stage = diamond()[3]
    ident = upstream_identity(stage, ["L", "R"])
    assert ident != upstream_identity(stage, ["R", "L"])  # depends_on order matters
    other = Stage.of("both", expr("z", "{{ x }}"), depends_on=["left", "right"], join="columns")
    assert ident != upstream_identity(other, ["L", "R"])
    assert upstream_identity(diamond()[1], ["S"]) == "S"  # a linear stage: as before joins
    fingerprint, count = resolve_stage(stage, (tmp_path,), ["L", "R"], dd.RunConfig())
    assert count is None  # counted once the joined input exists
    assert fingerprint == resolve_stage(stage, (tmp_path,), ["L", "R"], dd.RunConfig())[0]
    assert fingerprint != resolve_stage(stage, (tmp_path,), ["L", "X"], dd.RunConfig())[0]
