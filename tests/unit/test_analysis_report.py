"""``dd-prefect report`` and the HTML reports (issue 16), without Prefect: a dataset's
page and a workflow's (a diamond of stages), self-contained, with their plots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dd_prefect.cli import main as cli
from dd_prefect.workflow.layout import WorkflowLayout
from dd_prefect.workflow.metadata import StageMetadata, WorkflowMetadata
from dd_prefect.workflow.report import REPORT_FILE, write_workflow_report
from tests.unit.test_analysis_profiles import _dataset


def test_cli_writes_a_dataset_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "reviews"
    _dataset(base, rows=200, files=2)
    assert cli(["report", str(base)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {base / REPORT_FILE}"
    page = (base / REPORT_FILE).read_text()
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js inlined: opens offline
    assert "Plotly.newPlot" in page
    for title in ("judge 'judge': score 'quality'", "category frequencies: 'topic'"):
        assert title in page, title


def test_cli_refuses_a_directory_without_metadata(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "neither a workflow directory" in err


def test_workflow_report_has_the_stage_graph_and_every_stage(tmp_path: Path) -> None:
    stages = []
    for i, (name, ups) in enumerate([("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])]):
        _dataset(tmp_path / f"stage-{i}-{name}", rows=50, files=1)
        stages.append(
            StageMetadata(
                index=i,
                name=name,
                stage_dir=f"stage-{i}-{name}",
                depends_on=ups,
                status="completed",
                actual_records=50,
            )
        )
    stages.append(StageMetadata(index=4, name="e", stage_dir="stage-4-e", depends_on=["d"]))
    WorkflowLayout(tmp_path).write(WorkflowMetadata(name="diamond", stages=stages))
    page = write_workflow_report(tmp_path).read_text()
    assert "stage graph" in page
    usage = page.split("LLM usage of the workflow")[1].split("</table>")[0]
    assert "<td>mock/x</td><td>40</td>" in usage  # 4 finished stages x 10 requests
    for name in "abcd":
        assert f"stage &#x27;{name}&#x27; (completed)" in page
    assert "stage &#x27;e&#x27; (running)" in page and "still running" in page
    assert page.count("judge 'judge': score 'quality'") == 4  # a plot per finished stage


def test_to_report_saves_html_or_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dd_prefect.workflow.results import DatasetCreationResults

    base = tmp_path / "reviews"
    _dataset(base, rows=100, files=1)
    analysis = DatasetCreationResults(base).load_analysis()
    analysis.to_report(save_path=tmp_path / "analysis.html")
    analysis.to_report(save_path=tmp_path / "analysis.svg")
    assert "judge score distributions" in capsys.readouterr().out
    assert "category frequencies" in (tmp_path / "analysis.html").read_text()
    assert (tmp_path / "analysis.svg").read_text().startswith("<svg")
    with pytest.raises(ValueError, match=r"\.html or \.svg"):
        analysis.to_report(save_path=tmp_path / "analysis.txt")
