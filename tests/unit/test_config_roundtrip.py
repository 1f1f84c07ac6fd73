"""Configs survive YAML and JSON files losslessly; writes are atomic."""

from __future__ import annotations

import keyword
import os
from pathlib import Path

import faker.config  # noqa: F401  (first import touches `random`; Hypothesis forbids that in strategies)
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import dd_prefect.config as dd
from dd_prefect.config import io as config_io


class Review(BaseModel):
    summary: str
    stars: int
    tags: list[str]


def full_config(seed_path: str = "/data/seeds/*.parquet") -> dd.DataDesignerConfig:
    """A config with every column type, many samplers, a seed, processors and models."""
    builder = dd.DataDesignerConfigBuilder(
        model_configs=[
            dd.ModelConfig(
                alias="writer",
                model="meta/llama-3.1-8b-instruct",
                provider="nim",
                inference_parameters=dd.ChatCompletionInferenceParams(
                    temperature=0.7,
                    top_p=0.95,
                    max_tokens=512,
                    max_parallel_requests=8,
                    timeout=30,
                    extra_body={"guided": {"choice": ["a", "b"]}},
                ),
            ),
            dd.ModelConfig(
                alias="judge",
                model="gpt-4o-mini",
                skip_health_check=True,
                inference_parameters=dd.ChatCompletionInferenceParams(
                    temperature=dd.UniformDistribution(params={"low": 0.2, "high": 0.8}),
                    top_p=dd.ManualDistribution(params={"values": [0.9, 1.0], "weights": [3, 1]}),
                ),
            ),
            dd.ModelConfig(
                alias="embedder",
                model="text-embedding-3-small",
                inference_parameters=dd.EmbeddingInferenceParams(dimensions=256),
            ),
            dd.ModelConfig(
                alias="painter",
                model="dall-e-3",
                inference_parameters=dd.ImageInferenceParams(extra_body={"size": "1024x1024"}),
            ),
        ]
    )
    builder.with_seed_dataset(
        dd.LocalFileSeedSource(path=seed_path),
        sampling_strategy=dd.SamplingStrategy.SHUFFLE,
        selection_strategy=dd.IndexRange(start=10, end=99),
    )
    builder.add_column(dd.SeedDatasetColumnConfig(name="doc"))
    builder.add_column(dd.SeedDatasetColumnConfig(name="internal_id", drop=True))
    builder.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["sports", "science", 3, 2.5, True], "weights": [1, 2, 3, 0.5, 1]},
    )
    builder.add_column(
        dd.SamplerColumnConfig(
            name="subtopic",
            params=dd.SubcategorySamplerParams(
                category="topic",
                values={
                    "sports": ["golf"],
                    "science": ["physics", "bio"],
                    "3": [1, 2],
                    "2.5": ["x"],
                    "True": [False],
                },
            ),
        )
    )
    builder.add_column(
        name="age",
        column_type="sampler",
        sampler_type="uniform",
        params={"low": 18, "high": 80, "decimal_places": 0},
        convert_to="int",
    )
    builder.add_column(
        name="score",
        column_type="sampler",
        sampler_type="gaussian",
        params=dd.GaussianSamplerParams(mean=0.5, stddev=0.125, decimal_places=3),
    )
    builder.add_column(
        name="flag", column_type="sampler", sampler_type="bernoulli", params={"p": 0.3}
    )
    builder.add_column(
        name="trials", column_type="sampler", sampler_type="binomial", params={"n": 12, "p": 0.25}
    )
    builder.add_column(
        name="count", column_type="sampler", sampler_type="poisson", params={"mean": 4.2}
    )
    builder.add_column(
        name="uid",
        column_type="sampler",
        sampler_type="uuid",
        params={"prefix": "doc-", "short_form": True, "uppercase": True},
    )
    builder.add_column(
        name="when",
        column_type="sampler",
        sampler_type="datetime",
        params={"start": "2020-01-01", "end": "2024-12-31T12:00:00", "unit": "m"},
    )
    builder.add_column(
        name="due",
        column_type="sampler",
        sampler_type="timedelta",
        params={"dt_min": 1, "dt_max": 30, "reference_column_name": "when"},
    )
    builder.add_column(
        name="author",
        column_type="sampler",
        sampler_type="person",
        params={
            "locale": "fr_FR",
            "sex": "Female",
            "age_range": [25, 60],
            "city": ["Paris", "Lyon"],
        },
        drop=True,
    )
    builder.add_column(
        name="reviewer",
        column_type="sampler",
        sampler_type="person_from_faker",
        params={"locale": "en_GB", "age_range": [30, 40]},
    )
    builder.add_column(
        name="question",
        column_type="llm_text",
        model_alias="writer",
        system_prompt="You are {{ author.first_name }}, {{ age }} years old.",
        prompt="Ask about {{ subtopic }} in {{ topic }} given:\n{{ doc }}\n  ünïcödé — ✓\n",
    )
    builder.add_column(
        name="snippet",
        column_type="llm-code",
        model_alias="writer",
        prompt="Code answering {{ question }}",
        code_lang="rust",
    )
    builder.add_column(
        name="review",
        column_type="llm-structured",
        model_alias="writer",
        prompt="Review {{ snippet }}",
        output_format=Review,
    )
    builder.add_column(
        name="verdict",
        column_type="llm-judge",
        model_alias="judge",
        prompt="Judge {{ snippet }} for {{ question }}",
        scores=[
            dd.Score(
                name="correctness",
                description="Is it right?",
                options={0: "wrong", 1: "partly", 2: "right"},
            ),
            dd.Score(name="style", description="Style", options={"good": "g", "bad": "b"}),
        ],
    )
    builder.add_column(
        name="length", column_type="expression", expr="{{ snippet | length }}", dtype="int"
    )
    builder.add_column(
        name="custom",
        column_type="custom",
        function="json:dumps",
        params={"indent": 2, "nested": {"k": [1, 2.5, None, True, "s"]}},
        required_columns=["review", "verdict"],
        generation_strategy="full_column",
    )
    builder.add_column(
        name="snippet_check",
        column_type="validation",
        target_columns=["snippet"],
        validator_type="code",
        validator_params={"code_lang": "python"},
        batch_size=4,
    )
    builder.add_column(
        dd.EmbeddingColumnConfig(name="doc_vec", target_column="doc", model_alias="embedder")
    )
    builder.add_column(
        dd.ImageColumnConfig(
            name="cover",
            prompt="A cover for {{ doc }}",
            model_alias="painter",
            multi_modal_context=[dd.ImageContext(column_name="doc", data_type="url")],
        )
    )
    builder.add_column(
        dd.LLMTextColumnConfig(
            name="cover_caption",
            prompt="Caption it",
            model_alias="judge",
            multi_modal_context=[dd.ImageContext(column_name="cover")],
            extract_reasoning_content=True,
        )
    )
    builder.add_processor(
        dd.DropColumnsProcessorConfig(name="drop_internals", column_names=["internal_*", "uid"])
    )
    builder.add_processor(
        processor_type="schema_transform",
        name="chat",
        template={
            "messages": [
                {"role": "user", "content": "{{ question }}"},
                {"role": "assistant", "content": "{{ snippet }}"},
            ],
            "meta": {"stars": "{{ review.stars }}", "fixed": 1},
        },
    )
    return builder.build()


def assert_same(a: dd.DataDesignerConfig, b: dd.DataDesignerConfig) -> None:
    assert b.model_dump() == a.model_dump()
    assert b.model_dump(mode="json") == a.model_dump(mode="json")
    assert b.fingerprint() == a.fingerprint()
    assert b == a


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_full_config_round_trips(tmp_path: Path, suffix: str) -> None:
    config = full_config()
    column_types = {c.column_type for c in config.columns}
    assert column_types == {t.value for t in dd.ColumnType}
    sampler_types = {c.sampler_type for c in config.columns if c.column_type == "sampler"}
    assert sampler_types == {t.value for t in dd.SamplerType}
    path = config.to_file(tmp_path / f"config{suffix}")
    assert path == tmp_path / f"config{suffix}"
    loaded = dd.DataDesignerConfig.from_file(path)
    assert_same(config, loaded)
    # types survive, not just values
    assert isinstance(loaded.column("subtopic").params, dd.SubcategorySamplerParams)
    assert loaded.column("verdict").scores[0].options == {0: "wrong", 1: "partly", 2: "right"}
    assert loaded.seed_config.selection_strategy == dd.IndexRange(start=10, end=99)
    assert loaded.seed_config.sampling_strategy == "shuffle"
    assert loaded.column("custom").required_columns() == {"review", "verdict"}
    # and a second trip is byte-identical
    again = loaded.to_file(tmp_path / f"again{suffix}")
    assert again.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


def test_yaml_and_json_files_load_to_the_same_config(tmp_path: Path) -> None:
    config = full_config()
    from_yaml = dd.DataDesignerConfig.from_file(config.to_file(tmp_path / "c.yaml"))
    from_json = dd.DataDesignerConfig.from_file(config.to_file(tmp_path / "c.json"))
    assert_same(from_yaml, from_json)


def test_canonical_column_type_spelling_written(tmp_path: Path) -> None:
    text = full_config().to_file(tmp_path / "c.yaml").read_text(encoding="utf-8")
    assert "column_type: llm-text" in text
    assert "llm_text" not in text


def test_partition_block_and_ordered_round_trip(tmp_path: Path) -> None:
    builder = dd.DataDesignerConfigBuilder()
    builder.with_seed_dataset(
        dd.LocalFileSeedSource(path="s.csv"),
        selection_strategy=dd.PartitionBlock(index=2, num_partitions=5),
    )
    config = builder.build()
    for suffix in (".yaml", ".json"):
        assert_same(
            config, dd.DataDesignerConfig.from_file(config.to_file(tmp_path / f"c{suffix}"))
        )


def test_validation_results_unchanged_by_round_trip(tmp_path: Path) -> None:
    config = full_config(seed_path=str(tmp_path / "missing.parquet"))
    before = [str(i) for i in dd.validate_config(config, raise_on_error=False)]
    loaded = dd.DataDesignerConfig.from_file(config.to_file(tmp_path / "c.yaml"))
    assert [str(i) for i in dd.validate_config(loaded, raise_on_error=False)] == before


# --- property-based round trips ---------------------------------------------------------

_RESERVED = set(keyword.kwlist) | {
    "true",
    "false",
    "none",
    "and",
    "or",
    "not",
    "in",
    "is",
    "if",
    "else",
    "loop",
    "self",
    "range",
    "lipsum",
    "dict",
    "cycler",
    "joiner",
    "namespace",
    "varargs",
    "kwargs",
    "caller",
}
names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(lambda s: s not in _RESERVED)
texts = st.text(max_size=40)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
scalars = st.one_of(st.text(max_size=10), st.integers(-(10**6), 10**6), finite, st.booleans())
# sets are not JSON: configs store the sets they are given as sorted lists
json_values = st.recursive(
    st.one_of(st.none(), scalars, st.frozensets(st.text(max_size=5), max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def sampler_params(draw, sampler_type: str, earlier: list[str]) -> dict:
    if sampler_type == "category":
        values = draw(st.lists(scalars, min_size=1, max_size=4))
        weights = draw(st.none() | st.lists(finite, min_size=len(values), max_size=len(values)))
        return {"values": values, "weights": weights}
    if sampler_type == "subcategory":
        return {
            "category": draw(st.sampled_from(earlier) if earlier else names),
            "values": draw(st.dictionaries(texts, st.lists(scalars, max_size=3), max_size=3)),
        }
    if sampler_type in ("uniform", "gaussian"):
        key = "high" if sampler_type == "uniform" else "stddev"
        first = "low" if sampler_type == "uniform" else "mean"
        return {
            first: draw(finite),
            key: draw(finite),
            "decimal_places": draw(st.none() | st.integers(0, 6)),
        }
    if sampler_type == "bernoulli":
        return {"p": draw(finite)}
    if sampler_type == "binomial":
        return {"n": draw(st.integers(-5, 10**6)), "p": draw(finite)}
    if sampler_type == "poisson":
        return {"mean": draw(finite)}
    if sampler_type == "uuid":
        return {
            "prefix": draw(st.none() | texts),
            "short_form": draw(st.booleans()),
            "uppercase": draw(st.booleans()),
        }
    if sampler_type == "datetime":
        dates = st.dates().map(lambda d: d.isoformat())
        return {"start": draw(dates), "end": draw(dates), "unit": draw(st.sampled_from("YMDhms"))}
    if sampler_type == "timedelta":
        return {
            "dt_min": draw(st.integers(-1000, 1000)),
            "dt_max": draw(st.integers(-1000, 1000)),
            "reference_column_name": draw(st.sampled_from(earlier) if earlier else names),
            "unit": draw(st.sampled_from("Dhms")),
        }
    assert sampler_type in ("person", "person_from_faker")
    return {
        "locale": draw(st.sampled_from(["en_US", "de_DE", "ja_JP"])),
        "sex": draw(st.sampled_from([None, "Male", "Female"])),
        "age_range": draw(st.lists(st.integers(0, 120), min_size=2, max_size=2)),
        "city": draw(st.none() | texts | st.lists(texts, max_size=2)),
    }


@st.composite
def prompts(draw, earlier: list[str]) -> str:
    parts = draw(st.lists(texts.map(lambda t: t.replace("{", "(").replace("}", ")")), max_size=3))
    refs = draw(st.lists(st.sampled_from(earlier), max_size=3)) if earlier else []
    pieces = parts + [f"{{{{ {ref} }}}}" for ref in refs]
    return "".join(draw(st.permutations(pieces))) if pieces else "plain"


@st.composite
def column_dicts(draw, name: str, earlier: list[str], aliases: list[str]) -> dict:
    kind = draw(
        st.sampled_from(
            [
                "sampler",
                "expression",
                "llm-text",
                "llm_code",
                "llm-structured",
                "llm_judge",
                "seed_dataset",
                "custom",
            ]
        )
    )
    column: dict = {"name": name, "column_type": kind, "drop": draw(st.booleans())}
    if kind == "sampler":
        sampler_type = draw(st.sampled_from([t.value for t in dd.SamplerType]))
        column["sampler_type"] = sampler_type
        column["params"] = sampler_params(draw, sampler_type, earlier)
        column["convert_to"] = draw(st.sampled_from([None, "int", "float", "str"]))
    elif kind == "expression":
        column["expr"] = draw(prompts(earlier))
        column["dtype"] = draw(st.sampled_from(["int", "float", "str", "bool"]))
    elif kind.startswith("llm"):
        column["prompt"] = draw(prompts(earlier))
        column["model_alias"] = draw(st.sampled_from(aliases))
        column["system_prompt"] = draw(st.none() | prompts(earlier))
        if kind == "llm_code":
            column["code_lang"] = draw(st.sampled_from(["python", "sql:postgres", "go"]))
        if kind == "llm-structured":
            column["output_format"] = draw(
                st.dictionaries(st.text(max_size=8), json_values, min_size=1, max_size=4)
            )
        if kind == "llm_judge":
            options = st.dictionaries(
                st.integers(-5, 10) | st.from_regex(r"[a-z]{1,6}", fullmatch=True),
                texts,
                min_size=1,
                max_size=4,
            )
            column["scores"] = [
                {"name": draw(names), "description": draw(texts), "options": draw(options)}
                for _ in range(draw(st.integers(1, 3)))
            ]
    elif kind == "custom":
        column["function"] = draw(st.sampled_from(["json:dumps", "pkg.mod:fn"]))
        column["params"] = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3))
        refs = (
            st.lists(st.sampled_from(earlier), max_size=2) | st.sets(st.sampled_from(earlier))
            if earlier
            else st.just([])
        )
        column["required_columns"] = draw(refs)
        column["generation_strategy"] = draw(st.sampled_from(["cell_by_cell", "full_column"]))
    return column


@st.composite
def configs(draw) -> dd.DataDesignerConfig:
    column_names = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    aliases = draw(st.lists(names, min_size=1, max_size=2, unique=True))
    models = [
        dd.ModelConfig(
            alias=alias,
            model=draw(texts.filter(bool)),
            provider=draw(st.none() | names),
            inference_parameters=dd.ChatCompletionInferenceParams(
                temperature=draw(st.none() | st.floats(0, 2)),
                top_p=draw(st.none() | st.floats(0, 1)),
                max_tokens=draw(st.none() | st.integers(1, 10**5)),
                max_parallel_requests=draw(st.integers(1, 64)),
                timeout=draw(st.none() | st.floats(0.5, 600)),
                extra_body=draw(st.none() | st.dictionaries(st.text(max_size=8), json_values)),
            ),
        )
        for alias in aliases
    ]
    builder = dd.DataDesignerConfigBuilder(model_configs=models)
    for index, name in enumerate(column_names):
        builder.add_column(**draw(column_dicts(name, column_names[:index], aliases)))
    if draw(st.booleans()):
        start = draw(st.integers(0, 1000))
        selection = draw(
            st.sampled_from(
                [
                    None,
                    dd.IndexRange(start=start, end=start + draw(st.integers(0, 1000))),
                    dd.PartitionBlock(index=start % 7, num_partitions=7),
                ]
            )
        )
        builder.with_seed_dataset(
            dd.LocalFileSeedSource(path=draw(st.text(min_size=1, max_size=30))),
            sampling_strategy=draw(st.sampled_from(list(dd.SamplingStrategy))),
            selection_strategy=selection,
        )
    if draw(st.booleans()):
        builder.add_processor(
            processor_type="drop_columns",
            name=draw(names),
            column_names=draw(st.lists(st.sampled_from(column_names), min_size=1, max_size=3)),
        )
    if draw(st.booleans()):
        builder.add_processor(
            processor_type="schema_transform",
            name="transform_" + draw(names),
            template=draw(
                st.dictionaries(
                    names,
                    prompts(column_names) | json_values,
                    min_size=1,
                    max_size=4,
                )
            ),
        )
    return builder.build()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(config=configs())
def test_random_configs_round_trip(tmp_path: Path, config: dd.DataDesignerConfig) -> None:
    for suffix in (".yaml", ".json"):
        path = config.to_file(tmp_path / f"config{suffix}")
        loaded = dd.DataDesignerConfig.from_file(path)
        assert_same(config, loaded)
        # and what validation says is unchanged by the trip
        before = [str(i) for i in dd.validate_config(config, raise_on_error=False)]
        after = [str(i) for i in dd.validate_config(loaded, raise_on_error=False)]
        assert after == before


# --- atomic writes ----------------------------------------------------------------------


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_to_file_replaces_existing_file_and_leaves_no_temp(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"config{suffix}"
    path.write_text("old content that is much longer than nothing " * 1000, encoding="utf-8")
    config = full_config()
    config.to_file(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert dd.DataDesignerConfig.from_file(path) == config
    assert "old content" not in path.read_text(encoding="utf-8")


def test_to_file_creates_parent_directories(tmp_path: Path) -> None:
    path = full_config().to_file(tmp_path / "a" / "b" / "config.yaml")
    assert path.is_file()
    assert leftovers(path.parent) == []


def test_failed_write_keeps_old_file_and_removes_temp(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("original\n", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(config_io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        full_config().to_file(path)
    assert path.read_text(encoding="utf-8") == "original\n"
    assert leftovers(tmp_path) == []


def test_to_file_writes_via_rename(tmp_path: Path, monkeypatch) -> None:
    seen: list[tuple[str, str]] = []
    real_replace = os.replace

    def spying_replace(src, dst):
        seen.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(config_io.os, "replace", spying_replace)
    path = full_config().to_file(tmp_path / "config.json")
    ((src, dst),) = seen
    assert Path(dst) == path
    assert Path(src).parent == tmp_path and Path(src).name != path.name
