"""Data Designer's tutorials and recipes run on dd_prefect with only their imports changed
(issue 12).

The programs are files of NVIDIA-NeMo/DataDesigner at 99517abc (its 0.9.7 docs) with
``data_designer.config`` -> ``dd_prefect.config`` and ``data_designer.interface`` ->
``dd_prefect`` in their import lines, nothing else:

- ``tests/fixtures/data_designer/tutorial_basics.py`` and ``tutorial_structured_outputs.py``:
  ``docs/notebook_source/1-the-basics.py`` and ``2-structured-outputs-and-jinja-
  expressions.py``. ``DataDesigner()`` with no arguments, a model on the default ``nvidia``
  provider, ``info.display``, ``validate``, ``preview`` (sample records, analysis report),
  ``create`` on Prefect, ``load_dataset`` and ``load_analysis``; the second adds structured
  outputs, Jinja expressions, ``conditional_params`` and ``skip``.
- ``tutorial_generating_images.py`` and ``tutorial_editing_images.py``: ``5-generating-
  images.py`` and ``6-editing-images-with-image-context.py``, image columns on the default
  ``openrouter`` provider, the second editing the first image with it as context. They
  show images with ``IPython.display``; ``notebook_display/`` stands in for it (it prints,
  and checks each image file exists). (Tutorial 3 downloads its seed from GitHub, 4 a
  Hugging Face dataset.)
- ``tests/fixtures/data_designer/programs/``: the recipes of ``docs/assets/recipes/
  code_generation`` and ``qa_and_chat`` (Data Designer's default alias ``openai-text``,
  code and judge columns, code validation), four of ``vlm_long_doc`` (their own vLLM
  provider, page images as context, custom columns, ``set_run_config``) and three of
  ``fern/assets/recipes/image_generation`` (image models on the default ``openrouter``
  provider, image edits), run as their docstrings say; ``DataDesigner(artifact_path=
  None)``, ``results.artifact_storage``. And ``mcp_and_tooluse/basic_mcp.py``: tools from
  its own MCP server.

Each runs as a script in a fresh process, pointed where a Data Designer user points it:
the default providers' endpoints are set in ``$DATA_DESIGNER_HOME/model_providers.yaml``
(what ``data-designer config providers`` writes) and the keys come from ``NVIDIA_API_KEY``
and ``OPENAI_API_KEY``. The endpoint is the mock LLM server over HTTP; Prefect is the
session's test server.
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
IMPORTS = re.compile(r"^\s*(import|from) data_designer\b", re.MULTILINE)


def run_program(
    program: Path, args: list[str], cwd: Path, prefect_server, mock_llm
) -> subprocess.CompletedProcess[str]:
    """Run a ported Data Designer program with the default providers on the mock."""
    source = program.read_text()
    assert "import dd_prefect.config as dd\n" in source
    assert not IMPORTS.search(source), "a data_designer import is left"
    home = cwd / "dd-home"
    home.mkdir()
    (home / "model_providers.yaml").write_text(
        "providers:\n"
        + "".join(
            f"- name: {name}\n  endpoint: {mock_llm.url}\n  provider_type: openai\n"
            f"  api_key: {name.upper()}_API_KEY\n"
            for name in ("nvidia", "openai", "openrouter")
        )
    )
    env = {
        **os.environ,
        **prefect_server.env,
        # notebooks import IPython.display to show images: a stand-in that prints
        "PYTHONPATH": str(FIXTURES / "notebook_display"),
        "DATA_DESIGNER_HOME": str(home),
        "NVIDIA_API_KEY": KEY,
        "OPENAI_API_KEY": KEY,
        "OPENROUTER_API_KEY": KEY,
        "COLUMNS": "120",
    }
    run = subprocess.run(
        [sys.executable, str(program), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def check_dataset(base: Path, records: int) -> pd.DataFrame:
    """The dataset is complete, and the key (read from the environment when the run
    started) was never written anywhere in it."""
    meta = json.loads((base / "metadata.json").read_text())
    assert meta["status"] == "completed" and meta["actual_records"] == records
    frame = pd.concat(pd.read_parquet(p) for p in sorted((base / "parquet-files").iterdir()))
    assert len(frame) == records
    for path in base.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    return frame


@pytest.mark.parametrize(
    ("script", "dataset", "records", "requests"),
    [
        # preview: 2 records x 2 LLM columns; create: 10 x 2
        ("tutorial_basics.py", "tutorial-1", 10, 2 * 2 + 10 * 2),
        # rows whose review is skipped make fewer requests
        ("tutorial_structured_outputs.py", "tutorial-2", 10, None),
        # an image per record (preview 2, create 2)
        ("tutorial_generating_images.py", "tutorial-5-images", 2, 2 + 2),
        # a portrait, then an edit of it with the portrait as context (preview 2, create 5)
        ("tutorial_editing_images.py", "tutorial-6-edited-images", 5, 2 * (2 + 5)),
    ],
)
def test_data_designer_tutorial_runs_with_only_imports_changed(
    prefect_server, mock_llm, tmp_path, script, dataset, records, requests
):
    source = (FIXTURES / script).read_text()
    run = run_program(FIXTURES / script, [], tmp_path, prefect_server, mock_llm)
    if requests is not None:
        assert mock_llm.stats()["requests"] == requests
    if "info.display" in source:
        assert "sampler_type" in run.stdout and "person_from_faker" in run.stdout
    assert "record 0" in run.stdout  # preview.display_sample_record()
    if "preview.analysis.to_report()" in source:
        assert "2 records (target 2)" in run.stdout
    if "results.load_analysis()" in source:
        assert f"{records} records (target {records})" in run.stdout
    if "IPImage(filename=" in source:  # the notebook shows the image files it wrote
        assert run.stdout.count(f"[display] Image('{Path('artifacts', dataset, 'images')}") >= 2
    check_dataset(tmp_path / "artifacts" / dataset, records)


SEEDS = FIXTURES / "seeds"
VLM = "--vllm-endpoint {mock} --num-records 2 --seed-path"


@pytest.mark.parametrize(
    ("program", "command_line", "dataset", "records"),
    [
        ("text_to_python", "--num-records 3", "dataset", 3),
        ("text_to_sql", "--num-records 3", "dataset", 3),
        ("enterprise_text_to_sql", "--num-records 3", "dataset", 3),
        ("multi_turn_chat", "--num-records 3", "dataset", 3),
        ("product_info_qa", "--num-records 3", "dataset", 3),
        (
            "vlm_02_nemotron_parse_ocr",
            f"{VLM} {SEEDS}/seed_per_page.parquet",
            "nemotron_parse_ocr",
            2,
        ),
        ("vlm_03_text_qa", f"{VLM} {SEEDS}/seed_transcribed.parquet", "text_qa", 2),
        (
            "vlm_04_page_classification",
            f"{VLM} {SEEDS}/seed_per_page.parquet",
            "page_classification",
            2,
        ),
        (
            "vlm_09_frontier_judge",
            f"--endpoint {{mock}} --api-key-env OPENAI_API_KEY --model-id gpt-5 --num-records 2 "
            f"--seed-path {SEEDS}/seed_qa_pairs.parquet",
            "frontier_judge",
            2,
        ),
        ("img_funny_pet_image_edits", "--num-records 2", "funny-pet-image-edits", 2),
        ("img_product_image_variations", "--num-records 2", "product-image-variations", 2),
        ("img_traffic_scenarios", "--num-records 2", "synthetic-traffic-scenarios", 2),
    ],
)
def test_data_designer_recipe_runs_with_only_imports_changed(
    prefect_server, mock_llm, tmp_path, program, command_line, dataset, records
):
    """A recipe run as its docstring says (the vLLM / judge endpoint is the mock)."""
    args = command_line.format(mock=mock_llm.url).split()
    path = FIXTURES / "programs" / f"{program}.py"
    run = run_program(path, args, tmp_path, prefect_server, mock_llm)
    # DataDesigner(artifact_path=None): ./artifacts, as in Data Designer
    if program.startswith("img_"):  # they print the dataset directory and a count
        assert f"Dataset artifacts: {Path('artifacts', dataset)}" in run.stdout
        assert f"Generated {records} " in run.stdout
    else:  # they print results.artifact_storage.final_dataset_path and the analysis
        assert f"Dataset saved to: {Path('artifacts', dataset, 'parquet-files')}" in run.stdout
        assert f"{records} records (target {records})" in run.stdout
    check_dataset(tmp_path / "artifacts" / dataset, records)


def test_data_designer_mcp_recipe_runs_with_only_imports_changed(
    prefect_server, mock_llm_factory, tmp_path
):
    """``mcp_and_tooluse/basic_mcp.py``: its own MCP server (the recipe file itself, over
    stdio) serves the tools; the model (the mock, calling one tool per generation) gets
    their results back. A preview, on the default ``nvidia-text`` alias."""
    mock = mock_llm_factory(tool_call_turns=1)
    program = FIXTURES / "programs" / "mcp_basic_mcp.py"
    run = run_program(program, ["--num-records", "2"], tmp_path, prefect_server, mock)
    assert "Tool said:" in run.stdout  # a tool result reached the model's answer
    assert mock.stats()["tool_calls"] >= 2  # at least one per record
