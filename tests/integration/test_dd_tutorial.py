"""Data Designer's tutorials run on dd_prefect with only their imports changed (issue 12).

``tests/fixtures/data_designer/tutorial_basics.py`` and ``tutorial_structured_outputs.py``
are ``docs/notebook_source/1-the-basics.py`` and ``2-structured-outputs-and-jinja-
expressions.py`` of NVIDIA-NeMo/DataDesigner (at 99517abc, its 0.9.7 docs) with
``data_designer.config`` -> ``dd_prefect.config`` and ``data_designer.interface`` ->
``dd_prefect``: ``DataDesigner()`` with no arguments, a model on the default ``nvidia``
provider, ``info.display``, ``validate``, ``preview`` (sample records, analysis report),
``create`` on Prefect, ``load_dataset`` and ``load_analysis``; the second adds structured
outputs, Jinja expressions, ``conditional_params`` and ``skip``. (Tutorial 3 downloads its
seed from GitHub, 4-6 need IPython and Hugging Face datasets.)

Each runs as a script in a fresh process, pointed where a Data Designer user points it: the
``nvidia`` provider's endpoint is set in ``$DATA_DESIGNER_HOME/model_providers.yaml`` (what
``data-designer config providers`` writes) and the key comes from ``NVIDIA_API_KEY``. The
endpoint is the mock LLM server over HTTP; Prefect is the session's test server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data_designer"
KEY = "nvapi-test-key-never-stored"


@pytest.mark.parametrize(
    ("script", "dataset", "requests"),
    [
        # preview: 2 records x 2 LLM columns; create: 10 x 2
        ("tutorial_basics.py", "tutorial-1", 2 * 2 + 10 * 2),
        # rows whose review is skipped make fewer requests
        ("tutorial_structured_outputs.py", "tutorial-2", None),
    ],
)
def test_data_designer_tutorial_runs_with_only_imports_changed(
    prefect_server, mock_llm, tmp_path, script, dataset, requests
):
    tutorial = FIXTURES / script
    original = tutorial.read_text()
    assert "import dd_prefect.config as dd\nfrom dd_prefect import DataDesigner\n" in original
    assert not re.search(r"^\s*(import|from) data_designer\b", original, re.MULTILINE)

    home = tmp_path / "dd-home"
    home.mkdir()
    (home / "model_providers.yaml").write_text(
        "providers:\n"
        "- name: nvidia\n"
        f"  endpoint: {mock_llm.url}\n"
        "  provider_type: openai\n"
        "  api_key: NVIDIA_API_KEY\n"
    )
    env = {
        **os.environ,
        **prefect_server.env,
        "DATA_DESIGNER_HOME": str(home),
        "NVIDIA_API_KEY": KEY,
        "COLUMNS": "120",
    }
    run = subprocess.run(
        [sys.executable, str(tutorial)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    if requests is not None:
        assert mock_llm.stats()["requests"] == requests
    if "info.display" in original:
        assert "sampler_type" in run.stdout and "person_from_faker" in run.stdout
    assert "record 0" in run.stdout  # preview.display_sample_record()
    assert "2 records (target 2)" in run.stdout  # preview.analysis.to_report()
    assert "10 records (target 10)" in run.stdout  # results.load_analysis().to_report()

    base = tmp_path / "artifacts" / dataset
    meta = json.loads((base / "metadata.json").read_text())
    assert meta["status"] == "completed" and meta["actual_records"] == 10
    frame = pd.concat(pd.read_parquet(p) for p in sorted((base / "parquet-files").iterdir()))
    assert len(frame) == 10
    assert frame["product_subcategory"].notna().all()

    # the key was read from the environment at run time, never written anywhere
    for path in base.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
