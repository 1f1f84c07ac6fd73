"""Run a three-stage workflow in a subprocess (the killed-run test).

    python -m tests.integration.workflow_script ARTIFACTS MOCK_URL [--resume never]

people (10 rows, 1 LLM column) -> dialogs (x6: 60 rows, 2 LLM columns, 6 row groups run
one at a time) -> verdicts (60 rows, 1 LLM column).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dd_prefect.config as dd
from dd_prefect import CompositeWorkflow, DataDesigner
from tests.integration.workflow_callbacks import MODEL, llm_stage, make_designer, model_config

NAME = "dialogs-wf"
PEOPLE = 10
DIALOGS = 6 * PEOPLE
BUFFER = 10
DIALOG_LLM_COLUMNS = 2


def designer(artifacts: str | Path, mock_url: str) -> DataDesigner:
    return make_designer(
        artifacts, mock_url, buffer_size=BUFFER, seed=11, max_concurrent_row_groups=1
    )


def build(d: DataDesigner) -> CompositeWorkflow:
    people = dd.DataDesignerConfigBuilder(model_configs=[model_config(parallel=2)])
    people.add_column(
        name="person", column_type="sampler", sampler_type="person", params={"age_range": [20, 70]}
    )
    people.add_column(
        name="mood",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["calm", "annoyed", "curious"]},
    )
    people.add_column(
        name="persona",
        column_type="llm-text",
        model_alias=MODEL,
        prompt="Describe {{ person.first_name }}, {{ person.age }}, who is {{ mood }}.",
    )
    dialogs = llm_stage(
        ("opener", "Open a support chat as: {{ persona }}"),
        ("reply", "Reply as the agent to: {{ opener }}"),
        parallel=2,
    )
    verdicts = llm_stage(("verdict", "Was this reply good? {{ reply }}"), parallel=2)
    return (
        d.compose_workflow(NAME)
        .add_stage("people", people, num_records=PEOPLE)
        .add_stage("dialogs", dialogs, num_records=DIALOGS, sampling_strategy="shuffle")
        .add_stage("verdicts", verdicts)
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("artifacts")
    p.add_argument("mock_url")
    p.add_argument("--resume", default="never")
    args = p.parse_args()
    results = build(designer(args.artifacts, args.mock_url)).run(resume=args.resume)
    for name, stage in results.items():
        print(name, stage.status, stage.actual_records)


if __name__ == "__main__":
    main()
