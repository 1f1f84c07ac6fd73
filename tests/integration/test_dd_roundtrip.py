"""Data Designer reads back what dd_prefect writes (issue 12). Slow: it installs
``data-designer==0.9.7`` into a scratch venv (about a minute; needs the package registry).

Every exported fixture is loaded by dd_prefect and written back with dd_prefect's
``write_config`` (YAML and JSON) and loaded by Data Designer's own
``DataDesignerConfigBuilder.from_config`` (``tests/fixtures/data_designer/check_roundtrip.py``),
next to the original export. Data Designer must load each of our files exactly when it
loads its own original: Data Designer 0.9.7 cannot load its own exports of custom columns
(the file holds a function's name; its loader wants the callable), so those stay
unloadable on both sides and every other file must load.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dd_prefect.config as dd
from tests.unit.test_dd_format import built_here

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "data_designer"
CONFIGS = sorted((FIXTURES / "configs").glob("*.yaml"))
# Data Designer cannot load these exports of its own (custom columns: see above).
DATA_DESIGNER_CANNOT_LOAD = {"docs_custom_columns", "vlm_02_ocr", "vlm_09_frontier_judge"}


@pytest.fixture(scope="module")
def data_designer_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python with data-designer 0.9.7, in a scratch venv (never the project's)."""
    venv = tmp_path_factory.mktemp("data-designer-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = ["install", "--quiet", "--disable-pip-version-check", "data-designer==0.9.7"]
    pip = subprocess.run(
        [str(python), "-m", "pip", *install],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if pip.returncode != 0:
        pytest.fail(
            "could not install data-designer==0.9.7 into a scratch venv (is the package "
            f"registry reachable?):\n{pip.stdout[-2000:]}{pip.stderr[-3000:]}"
        )
    return python


def loads_in_data_designer(python: Path, paths: list[Path]) -> dict[Path, str]:
    """Data Designer's verdict per file: "" when it loads, else its error line."""
    run = subprocess.run(
        [str(python), str(FIXTURES / "check_roundtrip.py"), *map(str, paths)],
        cwd=REPO_ROOT,  # the fixtures' seed paths are relative to the repository root
        capture_output=True,
        text=True,
        timeout=600,
    )
    verdicts = {}
    for line in run.stdout.splitlines():
        status, _, rest = line.partition(" ")
        path, _, error = rest.strip().partition(": ")
        verdicts[Path(path)] = "" if status == "OK" else error or line
    assert set(verdicts) == set(paths), run.stdout + run.stderr
    return verdicts


def test_data_designer_loads_what_we_write(
    data_designer_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.fixtures.data_designer.recipe_functions  # noqa: F401  (custom columns)

    monkeypatch.chdir(REPO_ROOT)
    ours: dict[Path, Path] = {}  # our file -> the original it came from
    for original in CONFIGS:
        builder = dd.DataDesignerConfigBuilder.from_config(original)
        for suffix in (".yaml", ".json"):
            path = tmp_path / f"{original.stem}{suffix}"
            builder.write_config(path)
            ours[path] = original

    verdicts = loads_in_data_designer(data_designer_python, [*CONFIGS, *ours])
    cannot = {p.stem for p in CONFIGS if verdicts[p]}
    assert cannot == DATA_DESIGNER_CANNOT_LOAD, {p.name: verdicts[p] for p in CONFIGS}
    differs = {
        path.name: verdicts[path]
        for path, original in ours.items()
        if bool(verdicts[path]) != bool(verdicts[original])
    }
    assert not differs, differs
    loaded = sum(not verdicts[p] for p in ours)
    assert loaded == 2 * (len(CONFIGS) - len(DATA_DESIGNER_CANNOT_LOAD))


def test_data_designer_loads_a_config_built_here(
    data_designer_python: Path, tmp_path: Path
) -> None:
    """A config built with our API (every column kind and processors), written as YAML and
    JSON, loads in Data Designer."""
    builder = built_here(tmp_path)
    paths = [tmp_path / "ours.yaml", tmp_path / "ours.json"]
    for path in paths:
        builder.write_config(path)
    verdicts = loads_in_data_designer(data_designer_python, paths)
    assert verdicts == dict.fromkeys(paths, ""), verdicts
