"""Resume planning (dd_prefect/workflow/plan.py): every rule of README "Resume", one table each.

No Prefect and no LLM: stages are sampler/expression columns only, and "the earlier run" is
a workflow directory written by hand (parquet outputs plus workflow-metadata.json), with
fingerprints computed by `resolve_stage`, as the planner computes them.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import dd_prefect.config as dd
from dd_prefect.config.stage import Stage
from dd_prefect.engine.seed_reader import SeedReader
from dd_prefect.errors import ResumeError, WorkflowError
from dd_prefect.workflow.keys import handoff_fingerprint
from dd_prefect.workflow.layout import DatasetLayout, WorkflowLayout, content_digest
from dd_prefect.workflow.metadata import DatasetMetadata, StageMetadata, WorkflowMetadata
from dd_prefect.workflow.plan import (
    Action,
    StagePlan,
    decide,
    effective_mode,
    empty_upstream,
    plan_dataset,
    plan_workflow,
)
from dd_prefect.workflow.resume import ResumeMode
from dd_prefect.workflow.stage_graph import descendants, selected_stages, upstreams_of
from dd_prefect.workflow.stage_inputs import input_seed, resolve_stage

NEVER, IF_POSSIBLE, ALWAYS = ResumeMode.NEVER, ResumeMode.IF_POSSIBLE, ResumeMode.ALWAYS
REUSE, RESUME, RERUN, SKIP = Action.REUSE, Action.RESUME, Action.RERUN, Action.SKIP
RUN = dd.RunConfig(seed=7)
CALLBACK = "dd_prefect.examples.callbacks:keep_helpful"


# --- 1. decide: one stage whose upstreams are all reused -------------------------------


@pytest.mark.parametrize(
    ("status", "given", "action", "reason"),
    [
        pytest.param("completed", {"forced": True}, RERUN, "must rerun (rerun_from)", id="forced"),
        pytest.param(None, {}, RERUN, "has no record in the earlier run", id="no-prior"),
        pytest.param(
            "completed", {"fingerprint": "new"}, RERUN, "fingerprint differs", id="changed"
        ),
        pytest.param(
            "failed", {"fingerprint": "new"}, RERUN, "fingerprint differs", id="changed-failed"
        ),
        pytest.param(
            "running", {}, RESUME, "did not finish in the earlier run", id="prior-running"
        ),
        pytest.param("failed", {}, RESUME, "did not finish in the earlier run", id="prior-failed"),
        pytest.param(
            "failed",
            {"output_intact": False, "unversioned_callback": True},
            RESUME,
            "did not finish",
            id="failed-resumes-without-output-or-callback-version",
        ),
        pytest.param(
            "completed",
            {"unversioned_callback": True},
            RERUN,
            "has an on_success callback without on_success_version",
            id="unversioned-callback",
        ),
        pytest.param(
            "completed_empty",
            {"unversioned_callback": True},
            RERUN,
            "without on_success_version",
            id="unversioned-callback-even-if-empty",
        ),
        pytest.param(
            "completed_empty",
            {"output_intact": False},
            REUSE,
            "completed (empty) in the earlier run",
            id="completed-empty-needs-no-output",
        ),
        pytest.param(
            "completed",
            {"output_intact": False},
            RESUME,
            "lost or damaged part of its output (regenerating only that)",
            id="output-lost-or-damaged",
        ),
        pytest.param(
            "completed",
            {"callback_output_intact": False},
            RESUME,
            "lost its callback output (running the callback again)",
            id="callback-output-lost",
        ),
        pytest.param(
            "skipped_empty_upstream",
            {"output_intact": False},
            RERUN,
            "did not run in the earlier run",
            id="skipped-earlier",
        ),
        pytest.param("completed", {}, REUSE, "completed in the earlier run", id="reuse"),
    ],
)
def test_decide(status: str | None, given: dict[str, Any], action: Action, reason: str) -> None:
    prior = None
    if status is not None:
        prior = StageMetadata(
            index=0, name="s", stage_dir="stage-0-s", status=status, fingerprint="fp"
        )
    args: dict[str, Any] = {
        "prior": prior,
        "fingerprint": "fp",
        "forced": False,
        "output_intact": True,
        "callback_output_intact": True,
        "unversioned_callback": False,
    }
    got = decide(**{**args, **given})
    assert got[0] is action
    assert reason in got[1]


# --- 2. effective_mode: a Prefect retry keeps what the failed attempt made --------------


@pytest.mark.parametrize(
    ("mode", "attempt", "expected"),
    [
        pytest.param(NEVER, 1, NEVER, id="never-first-attempt"),
        pytest.param(NEVER, 2, IF_POSSIBLE, id="never-retry-keeps-work"),
        pytest.param(NEVER, 5, IF_POSSIBLE, id="never-later-retry"),
        pytest.param(IF_POSSIBLE, 1, IF_POSSIBLE, id="if-possible-first"),
        pytest.param(IF_POSSIBLE, 3, IF_POSSIBLE, id="if-possible-retry"),
        pytest.param(ALWAYS, 1, ALWAYS, id="always-first"),
        pytest.param(ALWAYS, 2, ALWAYS, id="always-retry-stays-strict"),
    ],
)
def test_effective_mode(mode: ResumeMode, attempt: int, expected: ResumeMode) -> None:
    assert effective_mode(mode, attempt) is expected


# --- 3. plan_dataset: keep a dataset directory's row groups or start clean --------------


def _dataset_meta(key: str) -> DatasetMetadata:
    return DatasetMetadata(
        dataset_name="d",
        dataset_key=key,
        config_fingerprint="c",
        target_records=10,
        buffer_size=5,
        num_batches=2,
    )


@pytest.mark.parametrize(
    ("mode", "prior_key", "exists", "expected"),
    [
        pytest.param(NEVER, "key", True, False, id="never-even-if-matching"),
        pytest.param(NEVER, None, False, False, id="never-no-metadata"),
        pytest.param(NEVER, "other", True, False, id="never-different-key"),
        pytest.param(IF_POSSIBLE, None, False, False, id="if-possible-no-metadata"),
        pytest.param(IF_POSSIBLE, None, True, True, id="if-possible-unreadable-is-rewritten"),
        pytest.param(IF_POSSIBLE, "other", True, False, id="if-possible-different-key"),
        pytest.param(IF_POSSIBLE, "key", True, True, id="if-possible-matching"),
        pytest.param(ALWAYS, None, False, "no metadata.json", id="always-no-metadata"),
        pytest.param(ALWAYS, None, True, True, id="always-unreadable-is-rewritten"),
        pytest.param(ALWAYS, "other", True, "different config", id="always-different-key"),
        pytest.param(ALWAYS, "key", True, True, id="always-matching"),
    ],
)
def test_plan_dataset(
    tmp_path: Path, mode: ResumeMode, prior_key: str | None, exists: bool, expected: bool | str
) -> None:
    prior = _dataset_meta(prior_key) if prior_key else None
    if isinstance(expected, str):
        with pytest.raises(ResumeError, match=f"dataset at {tmp_path}.*{expected}"):
            plan_dataset(prior, "key", mode, where=tmp_path, exists=exists)
    else:
        assert plan_dataset(prior, "key", mode, where=tmp_path, exists=exists) is expected


# --- 4. plan_workflow on a hand-written workflow directory ------------------------------
#
# The chain: seed (10 sampled rows) -> double (num_records None: 10) -> pick (IndexRange
# rows 2..7 of double's: 6) -> part (PartitionBlock 1 of 4 of pick's 6: rows 2..3, so 2).

NAMES = ["seed", "double", "pick", "part"]
COUNTS = [10, 10, 6, 2]


def _expr(expr: str) -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder().add_column(name="y", column_type="expression", expr=expr)


def chain(changed: str = "", **options: dict[str, Any]) -> list[Stage]:
    """The four stages; `changed` gets another config, `options` add stage options."""
    builders = {
        "seed": dd.DataDesignerConfigBuilder().add_column(
            name="x", column_type="sampler", sampler_type="category", params={"values": ["a", "b"]}
        ),
        "double": _expr("{{ x }}{{ x }}"),
        "pick": _expr("{{ y }}!"),
        "part": _expr("{{ y }}?"),
    }
    defaults: dict[str, dict[str, Any]] = {
        "seed": {"num_records": 10},
        "double": {},
        "pick": {"selection_strategy": dd.IndexRange(start=2, end=7)},
        "part": {"selection_strategy": dd.PartitionBlock(index=1, num_partitions=4)},
    }
    return [
        Stage.of(
            name,
            _expr("{{ x }} changed") if name == changed else builder,
            **defaults[name],
            **options.get(name, {}),
        )
        for name, builder in builders.items()
    ]


def out_dir(layout: WorkflowLayout, index: int) -> Path:
    return layout.dir / f"stage-{index}-{NAMES[index]}" / "parquet-files"


def write_run(
    layout: WorkflowLayout, stages: list[Stage], statuses: dict[str, str] | None = None
) -> list[str]:
    """Write an earlier run of `stages`; return the recorded fingerprints.

    `statuses`: stage -> status (default "completed"; "absent": no record). A completed
    stage gets its resolved row count, completed_empty zero rows, the others no output.
    """
    statuses = statuses or {}
    records, fingerprints = [], []
    inputs: tuple[Path, ...] = ()
    handoffs: list[str] = []
    for index, stage in enumerate(stages):
        fingerprint, count = resolve_stage(stage, inputs, handoffs, RUN)
        out = out_dir(layout, index)
        fingerprints.append(fingerprint)
        status = statuses.get(stage.name, "completed")
        rows = {"completed": count, "completed_empty": 0}.get(status)
        if status != "absent" and rows is not None:
            out.mkdir(parents=True)
            pd.DataFrame({"v": range(rows)}).to_parquet(out / "batch_00000.parquet")
            write_dataset_metadata(layout.dir / stage.dir_name(index), stage.name, rows)
        content = content_digest(out)
        inputs, handoffs = (out,), [handoff_fingerprint(fingerprint, content)]
        if status == "absent":
            continue
        callback = None
        if stage.callback_name:
            callback = out.parent / "callback-outputs" / stage.callback_name
            callback.mkdir(parents=True)
            pd.DataFrame({"v": [1]}).to_parquet(callback / "kept.parquet")
        records.append(
            StageMetadata(
                index=index,
                name=stage.name,
                stage_dir=stage.dir_name(index),
                depends_on=[stages[index - 1].name] if index else [],
                status=status,
                fingerprint=fingerprint,
                requested_records=count,
                actual_records=rows,
                output_path=layout.rel(out) if rows is not None else None,
                output_digest=content if rows is not None else None,
                callback_output_path=layout.rel(callback),
            )
        )
    layout.write(WorkflowMetadata(name="wf", stages=records))
    return fingerprints


def write_dataset_metadata(stage_dir: Path, name: str, rows: int) -> None:
    """The stage's own metadata.json, as its dataset run writes it."""
    DatasetLayout(stage_dir).write_metadata(
        DatasetMetadata(
            dataset_name=name,
            dataset_key="k",
            config_fingerprint="c",
            target_records=rows,
            actual_records=rows,
            buffer_size=1000,
            num_batches=1,
            status="completed",
        )
    )


@pytest.fixture
def layout(tmp_path: Path) -> WorkflowLayout:
    return WorkflowLayout(tmp_path / "wf")


REUSED = (REUSE, "completed in the earlier run")


def after(upstream: str) -> tuple[Action, str]:
    return RERUN, f"upstream stage '{upstream}' runs"


def cascade(first: tuple[Action, str]) -> dict[str, tuple[Action, str]]:
    """The first stage `first`, then each later one reruns because the one before it runs."""
    return {"seed": first, **{name: after(up) for up, name in itertools.pairwise(NAMES)}}


def skipped(upstream: str) -> tuple[Action, str]:
    return SKIP, f"upstream stage '{upstream}' produced an empty output"


def case(
    id: str,
    expected: dict[str, tuple[Action, str]],
    *,
    mode: ResumeMode = IF_POSSIBLE,
    statuses: dict[str, str] | None = None,
    changed: str = "",
    lost: str = "",
    options: dict[str, dict[str, Any]] | None = None,
    **run: Any,
) -> Any:
    return pytest.param(mode, statuses, changed, lost, options or {}, run, expected, id=id)


UNVERSIONED = {"double": {"on_success": CALLBACK}}
VERSIONED = {"double": {"on_success": CALLBACK, "on_success_version": "1"}}
ALL_REUSED = dict.fromkeys(NAMES, REUSED)


@pytest.mark.parametrize(
    ("mode", "statuses", "changed", "lost", "options", "run", "expected"),
    [
        case(
            "never-reruns-everything",
            cascade((RERUN, "resume is NEVER")),
            mode=NEVER,
        ),
        case("if-possible-all-intact", ALL_REUSED),
        case("always-all-intact", ALL_REUSED, mode=ALWAYS),
        case(
            "changed-middle-stage",
            {
                "seed": REUSED,
                "double": (RERUN, "changed since the earlier run (fingerprint differs)"),
                "pick": after("double"),
                "part": after("pick"),
            },
            changed="double",
        ),
        case(
            "changed-last-stage",
            {**ALL_REUSED, "part": (RERUN, "fingerprint differs")},
            changed="part",
        ),
        case(
            "failed-middle-stage-resumes",
            {
                "seed": REUSED,
                "double": (RESUME, "did not finish"),
                "pick": after("double"),
                "part": after("pick"),
            },
            statuses={"double": "failed", "pick": "absent", "part": "absent"},
        ),
        case(
            "always-failed-middle-stage-resumes-and-downstream-may-run",
            {
                "seed": REUSED,
                "double": (RESUME, "did not finish"),
                "pick": after("double"),
                "part": after("pick"),
            },
            mode=ALWAYS,
            statuses={"double": "running", "pick": "absent", "part": "absent"},
        ),
        case(
            "stage-added-since",
            {**ALL_REUSED, "part": (RERUN, "has no record in the earlier run")},
            statuses={"part": "absent"},
        ),
        case(
            "lost-output",
            {"seed": REUSED, "double": REUSED, "pick": (RESUME, "lost or damaged part")}
            | {"part": after("pick")},
            lost="stage-2-pick/parquet-files",
        ),
        case(
            "rerun-from-middle",
            {
                "seed": REUSED,
                "double": REUSED,
                "pick": (RERUN, "rerun_from"),
                "part": after("pick"),
            },
            rerun_from="pick",
        ),
        case(
            "always-rerun-from-is-allowed",
            {
                "seed": REUSED,
                "double": REUSED,
                "pick": (RERUN, "rerun_from"),
                "part": after("pick"),
            },
            mode=ALWAYS,
            rerun_from="pick",
        ),
        case(
            "rerun-from-first",
            cascade((RERUN, "must rerun (rerun_from)")),
            rerun_from="seed",
        ),
        case("targets-plan-only-ancestors", {"seed": REUSED, "double": REUSED}, targets=["double"]),
        case(
            "always-targets-ignore-a-changed-later-stage",
            {"seed": REUSED, "double": REUSED},
            mode=ALWAYS,
            changed="pick",
            targets=["double"],
        ),
        case(
            "rerun-from-outside-targets",
            {"seed": REUSED, "double": REUSED},
            targets=["double"],
            rerun_from="pick",
        ),
        case(
            "unversioned-callback-reruns",
            {
                "seed": REUSED,
                "double": (RERUN, "on_success callback without on_success_version"),
                "pick": after("double"),
                "part": after("pick"),
            },
            options=UNVERSIONED,
        ),
        case("versioned-callback-reused", ALL_REUSED, options=VERSIONED),
        case(
            "lost-callback-output",
            {
                "seed": REUSED,
                "double": (RESUME, "lost its callback output"),
                "pick": after("double"),
                "part": after("pick"),
            },
            options=VERSIONED,
            lost="stage-1-double/callback-outputs",
        ),
        case(
            "completed-empty-skips-downstream",
            {
                "seed": REUSED,
                "double": (REUSE, "completed (empty)"),
                "pick": skipped("double"),
                "part": skipped("pick"),
            },
            statuses={
                "double": "completed_empty",
                "pick": "skipped_empty_upstream",
                "part": "skipped_empty_upstream",
            },
            options={"double": {"allow_empty": True}},
        ),
        case(
            "always-completed-empty-skips-downstream",
            {"seed": REUSED, "double": (REUSE, "completed (empty)")}
            | {"pick": skipped("double"), "part": skipped("pick")},
            mode=ALWAYS,
            statuses={"double": "completed_empty", "pick": "absent", "part": "absent"},
            options={"double": {"allow_empty": True}},
        ),
    ],
)
def test_plan_workflow(
    layout: WorkflowLayout,
    mode: ResumeMode,
    statuses: dict[str, str] | None,
    changed: str,
    lost: str,
    options: dict[str, dict[str, Any]],
    run: dict[str, Any],
    expected: dict[str, tuple[Action, str]],
) -> None:
    write_run(layout, chain(**options), statuses)
    if lost:
        shutil.rmtree(layout.dir / lost)
    plan = plan_workflow("wf", chain(changed, **options), layout, RUN, mode, **run)
    assert [s.name for s in plan.stages] == list(expected)
    for stage in plan.stages:
        action, reason = expected[stage.name]
        assert stage.action is action, stage.name
        assert reason in stage.reason, stage.name
    assert plan.fresh is (mode is NEVER)
    assert plan.warning is None


def test_reuse_resolves_fingerprints_num_records_and_inputs(layout: WorkflowLayout) -> None:
    recorded = write_run(layout, chain())
    plan = plan_workflow("wf", chain(), layout, RUN, IF_POSSIBLE)
    assert [s.fingerprint for s in plan.stages] == recorded
    assert [s.num_records for s in plan.stages] == COUNTS  # IndexRange 2..7, PartitionBlock 1/4
    assert [s.inputs for s in plan.stages] == [(), *((out_dir(layout, i),) for i in range(3))]
    assert [s.dir_name for s in plan.stages] == [f"stage-{i}-{n}" for i, n in enumerate(NAMES)]
    assert plan["pick"].prior is not None and plan["pick"].prior.actual_records == 6
    assert plan.prior is not None and not plan.fresh


def test_changed_middle_stage_leaves_later_ones_unresolved(layout: WorkflowLayout) -> None:
    recorded = write_run(layout, chain())
    plan = plan_workflow("wf", chain("double"), layout, RUN, IF_POSSIBLE)
    seed, double, pick, part = plan.stages
    assert seed.fingerprint == recorded[0]
    assert double.fingerprint not in (None, recorded[1])
    assert (double.num_records, double.inputs) == (10, (out_dir(layout, 0),))
    for later in (pick, part):
        assert (later.fingerprint, later.num_records, later.inputs) == (None, None, None)


def test_a_stage_at_another_position_has_no_record(layout: WorkflowLayout) -> None:
    """Earlier records match by position and name (the directory is stage-<i>-<name>)."""
    write_run(layout, chain())
    seed, _, pick, part = chain()
    plan = plan_workflow("wf", [seed, pick, part], layout, RUN, IF_POSSIBLE)
    assert [(s.action, s.reason) for s in plan.stages] == [
        REUSED,
        (RERUN, "has no record in the earlier run"),
        after("pick"),
    ]


def test_moved_tree_still_resumes(tmp_path: Path) -> None:
    write_run(WorkflowLayout(tmp_path / "wf"), chain())
    (tmp_path / "wf").rename(tmp_path / "moved")
    plan = plan_workflow("wf", chain(), WorkflowLayout(tmp_path / "moved"), RUN, ALWAYS)
    assert {s.action for s in plan.stages} == {REUSE}


@pytest.mark.parametrize(
    ("action_of", "mode", "expected"),
    [
        pytest.param("double", IF_POSSIBLE, IF_POSSIBLE, id="resume-if-possible"),
        pytest.param("double", ALWAYS, ALWAYS, id="resume-always"),
        pytest.param("pick", IF_POSSIBLE, NEVER, id="rerun-if-possible"),
        pytest.param("pick", ALWAYS, NEVER, id="rerun-always"),
        pytest.param("seed", IF_POSSIBLE, NEVER, id="reuse"),
    ],
)
def test_dataset_mode(
    layout: WorkflowLayout, action_of: str, mode: ResumeMode, expected: ResumeMode
) -> None:
    write_run(layout, chain(), {"double": "failed", "pick": "absent", "part": "absent"})
    plan = plan_workflow("wf", chain(), layout, RUN, IF_POSSIBLE)
    assert [s.action for s in plan.stages] == [REUSE, RESUME, RERUN, RERUN]
    assert plan[action_of].dataset_mode(mode) is expected


@pytest.mark.parametrize(
    ("metadata", "mode", "warning"),
    [
        pytest.param(None, NEVER, None, id="never-nothing-on-disk"),
        pytest.param("{not json", NEVER, None, id="never-does-not-read-metadata"),
        pytest.param(None, IF_POSSIBLE, None, id="if-possible-nothing-on-disk"),
        pytest.param("{not json", IF_POSSIBLE, "unreadable", id="if-possible-garbled"),
        pytest.param('{"stages": 3}', IF_POSSIBLE, "unreadable", id="if-possible-invalid"),
    ],
)
def test_fresh_start(
    layout: WorkflowLayout, metadata: str | None, mode: ResumeMode, warning: str | None
) -> None:
    if metadata is not None:
        layout.dir.mkdir()
        layout.metadata_path.write_text(metadata)
    plan = plan_workflow("wf", chain(), layout, RUN, mode)
    assert plan.fresh and plan.prior is None
    assert [s.action for s in plan.stages] == [RERUN] * 4
    first = "resume is NEVER" if mode is NEVER else "has no record in the earlier run"
    assert [s.reason for s in plan.stages] == [first] + [after(n)[1] for n in NAMES[:3]]
    if warning is None:
        assert plan.warning is None
    else:
        assert plan.warning is not None
        assert "workflow 'wf'" in plan.warning and warning in plan.warning
        assert plan.warning.endswith("starting fresh")


@pytest.mark.parametrize(
    ("metadata", "changed", "lost", "options", "statuses", "message"),
    [
        pytest.param(None, "", "", {}, None, "no workflow-metadata.json", id="no-metadata"),
        pytest.param("{oops", "", "", {}, None, "metadata.json is unreadable", id="garbled"),
        pytest.param(
            "run", "double", "", {}, None, "stage 'double' changed since", id="changed-stage"
        ),
        pytest.param(
            "run",
            "",
            "",
            UNVERSIONED,
            None,
            "stage 'double' has an on_success callback without",
            id="unversioned-callback",
        ),
        pytest.param(
            "run",
            "",
            "",
            {},
            {"part": "absent"},
            "stage 'part' has no record",
            id="stage-added-since",
        ),
    ],
)
def test_always_raises_instead_of_starting_fresh(
    layout: WorkflowLayout,
    metadata: str | None,
    changed: str,
    lost: str,
    options: dict[str, dict[str, Any]],
    statuses: dict[str, str] | None,
    message: str,
) -> None:
    if metadata == "run":
        write_run(layout, chain(**options), statuses)
    elif metadata is not None:
        layout.dir.mkdir()
        layout.metadata_path.write_text(metadata)
    if lost:
        shutil.rmtree(layout.dir / lost)
    with pytest.raises(ResumeError, match=f"cannot resume workflow 'wf': .*{message}"):
        plan_workflow("wf", chain(changed, **options), layout, RUN, ALWAYS)


DAMAGE = {
    "dir-deleted": lambda out: shutil.rmtree(out),
    "file-deleted": lambda out: (out / "batch_00000.parquet").unlink(),
    "fewer-rows": lambda out: pd.DataFrame({"v": range(3)}).to_parquet(out / "batch_00000.parquet"),
    "extra-row-group": lambda out: pd.DataFrame({"v": [1]}).to_parquet(out / "batch_00001.parquet"),
    "not-parquet": lambda out: (out / "batch_00000.parquet").write_bytes(b"garbage"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("mode", [IF_POSSIBLE, ALWAYS])
def test_damaged_output_resumes_the_stage(
    layout: WorkflowLayout, damage: str, mode: ResumeMode
) -> None:
    """Reused only if the selected output still holds the recorded rows and content; else
    the stage resumes (its row groups that still verify are kept), also under ALWAYS."""
    write_run(layout, chain())
    DAMAGE[damage](out_dir(layout, 2))
    plan = plan_workflow("wf", chain(), layout, RUN, mode)
    assert [s.action for s in plan.stages] == [REUSE, REUSE, RESUME, RERUN]
    assert plan["pick"].reason == "lost or damaged part of its output (regenerating only that)"


def test_output_edited_with_the_same_row_count_is_not_trusted(layout: WorkflowLayout) -> None:
    write_run(layout, chain())
    pd.DataFrame({"v": [-1] * 6}).to_parquet(out_dir(layout, 2) / "batch_00000.parquet")
    plan = plan_workflow("wf", chain(), layout, RUN, IF_POSSIBLE)
    assert [s.action for s in plan.stages] == [REUSE, REUSE, RESUME, RERUN]


def test_garbled_stage_metadata_resumes_the_stage_to_rewrite_it(layout: WorkflowLayout) -> None:
    write_run(layout, chain())
    (layout.dir / "stage-1-double" / "metadata.json").write_text("{garbled")
    plan = plan_workflow("wf", chain(), layout, RUN, IF_POSSIBLE)
    assert [s.action for s in plan.stages] == [REUSE, RESUME, RERUN, RERUN]


def test_reused_stage_hands_on_its_content(layout: WorkflowLayout) -> None:
    fingerprints = write_run(layout, chain())
    plan = plan_workflow("wf", chain(), layout, RUN, IF_POSSIBLE)
    double = plan["double"]
    assert double.handed == out_dir(layout, 1)
    assert double.handoff == handoff_fingerprint(fingerprints[1], content_digest(double.handed))


def _override(path: Path, rows: int, text: str = "edited") -> Path:
    pd.DataFrame({"x": [text] * rows}).to_parquet(path)
    return path


def test_override_changes_the_downstream_fingerprint(
    layout: WorkflowLayout, tmp_path: Path
) -> None:
    """Same row count as seed's own output: only the handed-on content differs."""
    recorded = write_run(layout, chain())
    edited = _override(tmp_path / "edited.parquet", 10)
    plan = plan_workflow("wf", chain(), layout, RUN, IF_POSSIBLE, overrides={"seed": edited})
    assert plan.overrides == {"seed": edited}
    assert plan["seed"].action is REUSE and plan["seed"].fingerprint == recorded[0]
    double = plan["double"]
    assert (double.action, double.inputs, double.num_records) == (RERUN, (edited,), 10)
    assert "fingerprint differs" in double.reason
    assert double.fingerprint not in (None, recorded[1])
    assert [plan["pick"].reason, plan["part"].reason] == [after("double")[1], after("pick")[1]]


@pytest.mark.parametrize(
    ("rows", "text", "same_key"),
    [
        pytest.param(10, "edited", True, id="same-file-same-key"),
        pytest.param(10, "edited again", False, id="edited-file-new-key"),
        pytest.param(4, "edited", False, id="fewer-rows-new-key"),
    ],
)
def test_override_key_follows_the_file(
    layout: WorkflowLayout, tmp_path: Path, rows: int, text: str, same_key: bool
) -> None:
    write_run(layout, chain())
    path = _override(tmp_path / "edited.parquet", 10)
    first = plan_workflow("wf", chain(), layout, RUN, IF_POSSIBLE, overrides={"seed": path})
    if not same_key:
        _override(path, rows, text)
    second = plan_workflow("wf", chain(), layout, RUN, IF_POSSIBLE, overrides={"seed": path})
    assert second["double"].num_records == rows
    assert (second["double"].fingerprint == first["double"].fingerprint) is same_key


@pytest.mark.parametrize(
    ("stages", "mode", "run", "message"),
    [
        pytest.param([], IF_POSSIBLE, {}, "workflow 'wf' has no stages", id="no-stages"),
        pytest.param(
            NAMES,
            ALWAYS,
            {"targets": ["nope", "x"]},
            "unknown target stage(s): nope, x",
            id="unknown-target",
        ),
        pytest.param(
            NAMES,
            NEVER,
            {"rerun_from": "pick"},
            "rerun_from needs resume=IF_POSSIBLE or ALWAYS",
            id="rerun-from-with-never",
        ),
        pytest.param(
            NAMES,
            IF_POSSIBLE,
            {"rerun_from": "nope"},
            "rerun_from names unknown stage 'nope'",
            id="unknown-rerun-from",
        ),
        pytest.param(
            NAMES,
            ALWAYS,
            {"overrides": {"nope": Path("x.parquet")}},
            "stage_output_overrides names unknown stage 'nope'",
            id="unknown-override-stage",
        ),
    ],
)
def test_bad_run_options(
    layout: WorkflowLayout, stages: list[str], mode: ResumeMode, run: dict[str, Any], message: str
) -> None:
    """Checked before any metadata is read: ALWAYS without metadata still says this."""
    with pytest.raises(WorkflowError) as caught:
        plan_workflow("wf", chain() if stages else [], layout, RUN, mode, **run)
    assert message in str(caught.value)


# --- resolve_stage: num_records defaults to the input's selected row count -------------


@pytest.mark.parametrize(
    ("options", "rows"),
    [
        pytest.param({}, 10, id="all-input-rows"),
        pytest.param({"num_records": 25}, 25, id="explicit-explodes"),
        pytest.param({"num_records": 3}, 3, id="explicit-shrinks"),
        pytest.param({"selection_strategy": dd.IndexRange(start=2, end=4)}, 3, id="index-range"),
        pytest.param(
            {"selection_strategy": dd.IndexRange(start=8, end=20)}, 2, id="range-past-end"
        ),
        pytest.param({"selection_strategy": dd.IndexRange(start=12, end=20)}, 0, id="range-beyond"),
        pytest.param(
            {"selection_strategy": dd.PartitionBlock(index=0, num_partitions=3)},
            4,
            id="block-0-of-3",
        ),
        pytest.param(
            {"selection_strategy": dd.PartitionBlock(index=2, num_partitions=3)},
            3,
            id="block-2-of-3",
        ),
    ],
)
def test_resolve_stage_num_records(tmp_path: Path, options: dict[str, Any], rows: int) -> None:
    source = _override(tmp_path / "in.parquet", 10)
    stage = Stage.of("s", _expr("{{ x }}"), **options)
    fingerprint, count = resolve_stage(stage, (source,), ["up"], RUN)
    assert count == rows
    assert fingerprint != resolve_stage(stage, (source,), ["other-up"], RUN)[0]
    if rows and "num_records" not in options:  # the same rows the stage's seed reader sees
        reader = SeedReader(input_seed(stage, (source,)), seed=None, fingerprint="count")
        assert reader.num_rows == rows


@pytest.mark.parametrize(
    ("selection", "rows"),
    [
        pytest.param(None, 10, id="seed-rows"),
        pytest.param(dd.IndexRange(start=2, end=4), 3, id="seed-index-range"),
    ],
)
def test_resolve_root_stage_counts_its_own_seed(
    tmp_path: Path, selection: dd.IndexRange | None, rows: int
) -> None:
    seed = dd.LocalFileSeedSource(path=str(_override(tmp_path / "seed.parquet", 10)))
    builder = dd.DataDesignerConfigBuilder().with_seed_dataset(seed, selection_strategy=selection)
    assert resolve_stage(Stage.of("root", builder), (), [], RUN)[1] == rows


# --- 5. small helpers -------------------------------------------------------------------


def _stage(name: str) -> Stage:
    return Stage.of(name, dd.DataDesignerConfigBuilder())


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        pytest.param(
            {"a": "completed_empty"}, "upstream stage 'a' produced an empty output", id="empty"
        ),
        pytest.param(
            {"a": "skipped_empty_upstream"},
            "upstream stage 'a' produced an empty output",
            id="skipped-upstream-counts-as-empty",
        ),
        pytest.param({"a": "completed"}, None, id="completed"),
        pytest.param({"a": "failed"}, None, id="failed"),
        pytest.param({}, None, id="unknown"),
        pytest.param({"b": "completed_empty"}, None, id="not-an-upstream"),
    ],
)
def test_empty_upstream(statuses: dict[str, str], expected: str | None) -> None:
    plan = StagePlan(_stage("b"), 1, ("a",), RERUN, "why")
    assert empty_upstream(plan, statuses) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("a", {"b", "c"}, id="root"),
        pytest.param("b", {"c"}, id="middle"),
        pytest.param("c", set(), id="last"),
        pytest.param("x", set(), id="unknown"),
    ],
)
def test_descendants(name: str, expected: set[str]) -> None:
    assert descendants({"a": (), "b": ("a",), "c": ("b",)}, name) == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param([], {}, id="none"),
        pytest.param(["a"], {"a": ()}, id="one"),
        pytest.param(["a", "b", "c"], {"a": (), "b": ("a",), "c": ("b",)}, id="chain"),
    ],
)
def test_upstreams_of(names: list[str], expected: dict[str, tuple[str, ...]]) -> None:
    assert upstreams_of([_stage(n) for n in names]) == expected


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        pytest.param(None, ["a", "b", "c"], id="none-means-all"),
        pytest.param([], ["a", "b", "c"], id="empty-means-all"),
        pytest.param(["a"], ["a"], id="root"),
        pytest.param(["b"], ["a", "b"], id="middle-and-ancestors"),
        pytest.param(["c", "a"], ["a", "b", "c"], id="in-add-order"),
    ],
)
def test_selected_stages(targets: list[str] | None, expected: list[str]) -> None:
    stages = [_stage(n) for n in "abc"]
    assert [s.name for s in selected_stages(stages, targets)] == expected
