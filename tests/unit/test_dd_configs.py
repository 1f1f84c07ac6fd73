"""Real Data Designer configs, as Data Designer 0.9.7 exported them, load and preview
(issue 12).

The fixtures (``tests/fixtures/data_designer/configs/``) were written by Data Designer's
own ``write_config`` from its tutorial notebooks, recipes and concept pages
(``export_configs.py`` there says how and from which file). Each is loaded with
``DataDesignerConfigBuilder.from_config`` exactly as exported and previewed on the
in-process mock, which stands in for every model provider the config names
(``nvidia``, ``openai``, ``openrouter``, ``vllm``...). MCP tool providers are local stdio
servers with the recipes' tools; custom-column functions are defined the way a Data
Designer program defines them before loading (``recipe_functions.py``).

``EXPECTED`` states each file's outcome: it previews (every column it keeps is in the
rows), or it is refused before any LLM call with a ConfigValidationError naming what is
missing. ``python tests/unit/test_dd_configs.py`` prints the tally.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import dd_prefect.config as dd
from dd_prefect import ConfigValidationError, DataDesigner
from dd_prefect.config.dag import dependency_graph

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "data_designer"
CONFIGS = sorted((FIXTURES / "configs").glob("*.yaml"))
NUM_RECORDS = 2


@dataclass(frozen=True)
class Outcome:
    previews: bool
    match: str = ""  # for a refusal: what the error must say
    why: str = ""
    template_null: str = "error"  # RunConfig.template_null for its preview


PREVIEWS = Outcome(previews=True)


def refused(match: str, why: str) -> Outcome:
    return Outcome(previews=False, match=match, why=why)


EXPECTED: dict[str, Outcome] = {
    "nb1_the_basics": PREVIEWS,
    "nb2_structured_outputs_jinja": PREVIEWS,
    "nb3_seeding_with_a_dataset": PREVIEWS,
    "nb4_images_as_context": PREVIEWS,
    "nb5_generating_images": PREVIEWS,
    "nb6_editing_images": PREVIEWS,
    "recipe_text_to_python": PREVIEWS,
    "recipe_text_to_sql": PREVIEWS,
    "recipe_enterprise_text_to_sql": PREVIEWS,
    "recipe_multi_turn_chat": PREVIEWS,
    "recipe_product_info_qa": PREVIEWS,
    "recipe_basic_mcp": PREVIEWS,
    "recipe_pdf_qa": PREVIEWS,
    "recipe_search_agent": PREVIEWS,
    "recipe_markdown_seed_reader": refused(
        "references unknown column 'section_header'",
        "its rows come from the recipe's plugin seed reader (DataDesigner(seed_readers=...)); "
        "dd_prefect has no seed-reader plugins, so the directory seed has no such column",
    ),
    "recipe_agent_rollout_distillation": Outcome(
        previews=True,
        template_null="empty",
        why="its prompts print agent_id and git_branch, null in a main session's trace: Data "
        "Designer prints None, dd_prefect refuses to print a null unless "
        "RunConfig(template_null='empty')",
    ),
    "vlm_02_ocr": PREVIEWS,
    "vlm_03_text_qa": PREVIEWS,
    "vlm_04_page_classification": PREVIEWS,
    "vlm_05_visual_qa": PREVIEWS,
    "vlm_06_single_page_qa": PREVIEWS,
    "vlm_07_windowed_qa": PREVIEWS,
    "vlm_08_whole_document_qa": PREVIEWS,
    "vlm_09_frontier_judge": PREVIEWS,
    "img_funny_pet_image_edits": PREVIEWS,
    "img_product_image_variations": PREVIEWS,
    "img_traffic_scenarios": PREVIEWS,
    "docs_processors": PREVIEWS,
    "docs_file_contents_seed": PREVIEWS,
    "docs_embeddings": PREVIEWS,
    "docs_custom_columns": PREVIEWS,
    "docs_person_and_skip": PREVIEWS,
}


def mcp_providers() -> list[object]:
    """The recipes' MCP servers, as local stdio processes."""
    from dd_prefect.config.mcp import LocalStdioMCPProvider

    def stdio(name: str, script: Path) -> LocalStdioMCPProvider:
        return LocalStdioMCPProvider(name=name, command=sys.executable, args=[str(script)])

    recipe_tools = FIXTURES / "recipe_tools_mcp.py"
    return [
        stdio("basic-tools", REPO_ROOT / "tests" / "fixtures" / "mcp_server.py"),
        stdio("doc-bm25-search", recipe_tools),
        stdio("tavily", recipe_tools),
    ]


def designer_for(
    config: dd.DataDesignerConfig, artifacts: Path, template_null: str = "error"
) -> DataDesigner:
    """A designer whose every model provider (the config's and Data Designer's default
    three) is the in-process mock."""
    names = {m.provider for m in config.model_configs if m.provider}
    names |= {"nvidia", "openai", "openrouter"}
    return DataDesigner(
        artifact_path=artifacts,
        model_providers=[dd.ModelProvider(name=n, provider_type="mock") for n in sorted(names)],
        mcp_providers=mcp_providers(),
        run_config=dd.RunConfig(seed=1, template_null=template_null),
    )


@pytest.fixture
def in_repo_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Seed paths in the fixtures are relative to the repository root; Data Designer's
    home is empty (the built-in defaults apply)."""
    import tests.fixtures.data_designer.recipe_functions  # noqa: F401  (defines the functions)

    monkeypatch.chdir(REPO_ROOT)
    home = tmp_path / "dd-home"
    home.mkdir()
    monkeypatch.setenv("DATA_DESIGNER_HOME", str(home))
    return tmp_path


def test_every_fixture_has_an_expected_outcome() -> None:
    assert {p.stem for p in CONFIGS} == set(EXPECTED)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_exported_config_loads_and_previews(path: Path, in_repo_root: Path) -> None:
    expected = EXPECTED[path.stem]
    if not expected.previews:
        with pytest.raises(ConfigValidationError) as caught:
            builder = dd.DataDesignerConfigBuilder.from_config(path)
            designer_for(builder.build(), in_repo_root).preview(builder, NUM_RECORDS)
        assert expected.match in str(caught.value)
        return
    builder = dd.DataDesignerConfigBuilder.from_config(path)
    config = builder.build()
    designer = designer_for(config, in_repo_root, expected.template_null)
    preview = designer.preview(builder, num_records=NUM_RECORDS)
    kept = [c.name for c in config.columns if not c.drop]
    assert len(preview.dataset) == NUM_RECORDS
    assert set(kept) <= set(preview.dataset.columns)
    for name in set(kept) - may_be_skipped(config):  # no value at all: a silent failure
        assert preview.dataset[name].notna().any(), f"column {name!r} is all null"


def may_be_skipped(config: dd.DataDesignerConfig) -> set[str]:
    """Columns with a ``skip`` condition and those a skip propagates to (null when skipped)."""
    graph = dependency_graph(config.columns)
    skipped = {c.name for c in config.columns if getattr(c, "skip", None) is not None}
    propagating = {c.name for c in config.columns if getattr(c, "propagate_skip", True)}
    while new := {n for n in propagating - skipped if graph[n] & skipped}:
        skipped |= new
    return skipped


def tally() -> tuple[int, int]:
    previewed = sum(o.previews for o in EXPECTED.values())
    return previewed, len(EXPECTED) - previewed


def test_at_least_20_of_the_real_configs_preview() -> None:
    previewed, _ = tally()
    assert previewed >= 20


if __name__ == "__main__":
    previewed, refused_count = tally()
    for name, outcome in EXPECTED.items():
        print(f"{'preview' if outcome.previews else 'refused'}  {name}  {outcome.why}")
    print(f"{previewed} load+preview / {refused_count} refused, of {len(EXPECTED)}")
