"""A 3-stage judged workflow on a real Prefect server and the mock LLM (issue 16): each
stage's analysis is stored beside its data and shown as table artifacts, and the
workflow's report.html (stage graph, judge-score histograms, category frequencies against
their weights) renders offline in headless Chromium with every plot drawn."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

import dd_prefect.config as dd
from dd_prefect.cli import main as cli
from dd_prefect.workflow.analysis_store import ANALYSIS_FILE
from dd_prefect.workflow.report import REPORT_FILE
from dd_prefect.workflow.results import StageResult
from tests.integration.test_workflow import conversations, judge
from tests.integration.workflow_callbacks import MODEL, make_designer, model_config

CHROMIUM = shutil.which("chromium")


def domains() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=[model_config()])
    b.add_column(
        name="domain",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["billing", "shipping", "returns"], "weights": [3, 2, 1]},
    )
    b.add_column(
        name="persona",
        column_type="llm-text",
        model_alias=MODEL,
        prompt="Describe a customer with a {{ domain }} problem.",
    )
    return b


def rendered_dom(page: Path) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
async def test_judged_workflow_report(prefect_server, mock_llm, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    name = f"judged-{uuid.uuid4().hex[:8]}"
    designer = make_designer(tmp_path / "artifacts", mock_llm.url)
    workflow = (
        designer.compose_workflow(name)
        .add_stage("personas", domains(), num_records=24)
        .add_stage("conversations", conversations())
        .add_stage("judged", judge())
    )
    results = await workflow.arun()
    workflow_dir = tmp_path / "artifacts" / name

    # Each stage's analysis is beside its data, and equals pandas on the loaded dataset.
    judged = results["judged"]
    assert isinstance(judged, StageResult)
    assert (judged.base_dataset_path / ANALYSIS_FILE).exists()
    analysis = judged.load_analysis()
    frame = judged.load_dataset()
    (profile,) = analysis.column_profiles
    for score in ("helpfulness", "tone"):
        hist = profile["score_distributions"]["histograms"][score]
        expected = frame["quality"].map(lambda q, s=score: q[s]["score"]).value_counts()
        assert dict(zip(hist["categories"], hist["counts"], strict=True)) == expected.to_dict()
    domain = results["personas"].load_analysis()
    (stats,) = [s for s in domain.column_statistics if s.column_name == "domain"]
    assert stats.category_weights == {
        "categories": ["billing", "shipping", "returns"],
        "weights": [0.5, 2 / 6, 1 / 6],
    }

    # Resumed with every stage reused: each stored analysis is read back, not redone.
    stored = {
        stage: (results[stage].base_dataset_path / ANALYSIS_FILE).stat().st_mtime_ns
        for stage in ("personas", "conversations", "judged")
    }
    requests = mock_llm.stats()["requests"]
    again = await workflow.arun(resume="if_possible")
    assert mock_llm.stats()["requests"] == requests
    assert {
        stage: (again[stage].base_dataset_path / ANALYSIS_FILE).stat().st_mtime_ns
        for stage in stored
    } == stored

    # The Prefect UI: the stage's and the workflow's analysis tables.
    async with get_client() as client:
        for key in (f"{name}-judge-scores", f"{name}-categories"):
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            )
            assert artifacts and artifacts[0].type == "table", key
        scores = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"{name}-judge-scores"]))
        )
        assert all('"score": "helpfulness"' in str(a.data) for a in scores)

    # The report: self-contained (no script from the network), every plot drawn as SVG.
    assert cli(["report", str(workflow_dir)]) == 0
    page = workflow_dir / REPORT_FILE
    html = page.read_text()
    assert not re.search(r"<script[^>]+src=", html)
    for stage in ("personas", "conversations", "judged"):
        assert (workflow_dir / f"stage-{['personas', 'conversations', 'judged'].index(stage)}-"
                f"{stage}" / REPORT_FILE).exists()  # fmt: skip
    dom = rendered_dom(page)
    plots = dom.count('class="plotly-graph-div')
    assert plots >= 8  # graph, 2 judge scores, categories, lengths, tokens...
    assert dom.count('class="main-svg"') >= plots  # each plot rendered (plotly draws SVG)
    for title in (
        "stage graph",
        "judge 'quality': score 'helpfulness'",
        "judge 'quality': score 'tone'",
        "category frequencies: 'domain'",
        "configured weight",
    ):
        assert title in dom, title
