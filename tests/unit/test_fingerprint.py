"""Config fingerprints: what changes them, what doesn't, and stability across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import dd_prefect.config as dd

Config = dd.DataDesignerConfig


def rich_config() -> Config:
    """A config full of dicts and sets, whose iteration order could vary between processes."""
    builder = dd.DataDesignerConfigBuilder(
        model_configs=[
            dd.ModelConfig(
                alias="m",
                model="model-a",
                inference_parameters=dd.ChatCompletionInferenceParams(
                    temperature=0.5,
                    max_parallel_requests=4,
                    timeout=60,
                    extra_body={
                        "z": 1,
                        "a": {"y": [3, 2, 1], "b": None},
                        "stop": {"END", "STOP", "##"},
                    },
                ),
            )
        ]
    )
    builder.with_seed_dataset(
        dd.LocalFileSeedSource(path="/data/seed-*.parquet"),
        sampling_strategy="ordered",
        selection_strategy=dd.IndexRange(start=0, end=9),
    )
    builder.add_column(dd.SeedDatasetColumnConfig(name="doc"))
    builder.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["zeta", "alpha", "mu", "beta"], "weights": [4, 3, 2, 1]},
    )
    builder.add_column(
        name="sub",
        column_type="sampler",
        sampler_type="subcategory",
        params={
            "category": "topic",
            "values": {"zeta": {"z1", "z2", "z3"}, "alpha": ["a1"], "mu": ["m1"], "beta": ["b1"]},
        },
    )
    builder.add_column(
        name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1}
    )
    builder.add_column(
        name="q", column_type="llm-text", model_alias="m", prompt="About {{ topic }}: {{ doc }}"
    )
    builder.add_column(
        name="s",
        column_type="llm-structured",
        model_alias="m",
        prompt="{{ q }}",
        output_format={
            "type": "object",
            "properties": {"zz": {"type": "string"}, "aa": {"type": "integer"}},
            "required": ["zz", "aa"],
        },
    )
    builder.add_column(
        name="j",
        column_type="llm-judge",
        model_alias="m",
        prompt="{{ q }}",
        scores=[{"name": "x", "description": "d", "options": {3: "c", 1: "a", "mid": "b"}}],
    )
    builder.add_column(
        name="c",
        column_type="custom",
        function="json:dumps",
        params={"tags": {"yy", "xx", "ww", "vv"}, "a": 1, "nested": [frozenset({"p", "q", "r"})]},
        required_columns={"s", "j", "q"},
    )
    builder.add_processor(
        processor_type="schema_transform",
        name="t",
        template={"out": "{{ q }}", "meta": {"k2": "{{ s }}", "k1": "{{ j }}"}},
    )
    builder.add_processor(processor_type="drop_columns", name="d", column_names={"doc", "d*c"})
    return builder.build()


def edit(config: Config, path: str, value) -> Config:
    """A copy of `config` with the dotted `path` (through dicts and lists) set to `value`."""
    data = config.model_dump(mode="json")
    node = data
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return Config.model_validate(data)


def test_fingerprint_is_sha256_hex_and_deterministic() -> None:
    fp = rich_config().fingerprint()
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert rich_config().fingerprint() == fp
    assert Config.model_validate(rich_config().model_dump(mode="json")).fingerprint() == fp


CHANGES: dict[str, Callable[[Config], Config]] = {
    "prompt": lambda c: edit(c, "columns.4.prompt", "About {{ topic }} - {{ doc }}"),
    "system prompt": lambda c: edit(c, "columns.4.system_prompt", "Be terse"),
    "model name": lambda c: edit(c, "model_configs.0.model", "model-b"),
    "model alias": lambda c: edit(
        edit(c, "model_configs.0.alias", "m2"), "columns.4.model_alias", "m2"
    ),
    "model provider": lambda c: edit(c, "model_configs.0.provider", "nim"),
    "temperature": lambda c: edit(c, "model_configs.0.inference_parameters.temperature", 0.6),
    "top_p": lambda c: edit(c, "model_configs.0.inference_parameters.top_p", 0.9),
    "max_tokens": lambda c: edit(c, "model_configs.0.inference_parameters.max_tokens", 99),
    "extra_body": lambda c: edit(c, "model_configs.0.inference_parameters.extra_body", {}),
    "sampler param": lambda c: edit(c, "columns.3.params.high", 2),
    "category weights": lambda c: edit(c, "columns.1.params.weights", [1, 2, 3, 4]),
    "subcategory values": lambda c: edit(c, "columns.2.params.values.zeta", ["z2", "z1", "z3"]),
    "convert_to": lambda c: edit(c, "columns.3.convert_to", "int"),
    "drop flag": lambda c: edit(c, "columns.3.drop", True),
    "column name": lambda c: edit(c, "columns.3.name", "n2"),
    "column order": lambda c: Config.model_validate(
        {
            **c.model_dump(mode="json"),
            "columns": list(reversed(c.model_dump(mode="json")["columns"])),
        }
    ),
    "output schema": lambda c: edit(c, "columns.5.output_format.required", ["zz"]),
    "judge options": lambda c: edit(c, "columns.6.scores.0.options", {"3": "c", "1": "a"}),
    "custom params": lambda c: edit(c, "columns.7.params.a", 2),
    "custom required columns": lambda c: edit(c, "columns.7.required_columns", ["q"]),
    "processor template": lambda c: edit(c, "processors.0.template.out", "{{ s }}"),
    "processor patterns": lambda c: edit(c, "processors.1.column_names", ["do*"]),
    "category values": lambda c: edit(
        c, "columns.1.params.values", ["zeta", "alpha", "beta", "mu"]
    ),
    "processors removed": lambda c: c.model_copy(update={"processors": []}),
    "processor order": lambda c: c.model_copy(update={"processors": c.processors[::-1]}),
    "seed path": lambda c: edit(c, "seed_config.source.path", "/data/other-*.parquet"),
    "sampling strategy": lambda c: edit(c, "seed_config.sampling_strategy", "shuffle"),
    "selection strategy": lambda c: edit(
        c, "seed_config.selection_strategy", {"kind": "index_range", "start": 0, "end": 8}
    ),
    "selection kind": lambda c: edit(
        c,
        "seed_config.selection_strategy",
        {"kind": "partition_block", "index": 0, "num_partitions": 10},
    ),
    "no selection": lambda c: edit(c, "seed_config.selection_strategy", None),
    "no seed": lambda c: c.model_copy(update={"seed_config": None}),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_generation_relevant_change_changes_fingerprint(change: str) -> None:
    base = rich_config()
    changed = CHANGES[change](base)
    assert changed != base
    assert changed.fingerprint() != base.fingerprint()


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_parallel_requests", 64), ("timeout", 5), ("timeout", None)],
)
def test_operational_knobs_do_not_change_fingerprint(field: str, value) -> None:
    base = rich_config()
    changed = edit(base, f"model_configs.0.inference_parameters.{field}", value)
    assert changed != base
    assert changed.fingerprint() == base.fingerprint()


def test_profilers_do_not_change_fingerprint() -> None:
    """A profiler looks at the rows made and changes none: adding one reruns nothing."""
    base = rich_config()
    profiled = base.model_copy(
        update={
            "profilers": [
                dd.JudgeScoreProfilerConfig(
                    model_alias=base.model_configs[0].alias, summary_score_sample_size=None
                )
            ]
        }
    )
    assert profiled != base
    assert profiled.fingerprint() == base.fingerprint()


def test_fingerprint_does_not_mutate_the_config() -> None:
    config = rich_config()
    before = config.model_dump()
    config.fingerprint()
    assert config.model_dump() == before
    assert config.model_configs[0].inference_parameters.timeout == 60


def test_equivalent_spellings_share_a_fingerprint() -> None:
    def one(column_type: str, params) -> Config:
        return (
            dd.DataDesignerConfigBuilder(model_configs=[dd.ModelConfig(alias="m", model="x")])
            .add_column(name="n", column_type="sampler", sampler_type="uniform", params=params)
            .add_column(name="q", column_type=column_type, prompt="{{ n }}", model_alias="m")
            .build()
        )

    typed = dd.UniformSamplerParams(low=0, high=1)
    assert (
        one("llm_text", {"low": 0, "high": 1}).fingerprint() == one("llm-text", typed).fingerprint()
    )


def test_dict_key_order_does_not_change_fingerprint() -> None:
    base = rich_config()
    data = base.model_dump(mode="json")
    values = data["columns"][2]["params"]["values"]
    data["columns"][2]["params"]["values"] = dict(reversed(list(values.items())))
    schema = data["columns"][5]["output_format"]
    data["columns"][5]["output_format"] = dict(reversed(list(schema.items())))
    assert Config.model_validate(data).fingerprint() == base.fingerprint()


_SUBPROCESS_CODE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("fp_test_module", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(module.rich_config().fingerprint())
"""


def _fingerprint_in_subprocess(hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    result = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS_CODE, str(Path(__file__).resolve())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_fingerprint_stable_across_hash_seeds() -> None:
    first = _fingerprint_in_subprocess("1")
    second = _fingerprint_in_subprocess("12345")
    assert first == second
    assert first == rich_config().fingerprint()


def test_dataframe_seed_fingerprint_depends_on_content() -> None:
    def with_df(df: pd.DataFrame) -> Config:
        builder = dd.DataDesignerConfigBuilder()
        builder.with_seed_dataset(dd.DataFrameSeedSource(df=df))
        return builder.build()

    base = with_df(pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
    same = with_df(pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
    assert same.fingerprint() == base.fingerprint()
    other_index = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=[7, 8, 9])
    assert with_df(other_index).fingerprint() == base.fingerprint()
    for changed in (
        pd.DataFrame({"a": [1, 2, 4], "b": ["x", "y", "z"]}),
        pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "Z"]}),
        pd.DataFrame({"a": [3, 2, 1], "b": ["z", "y", "x"]}),
        pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
    ):
        assert with_df(changed).fingerprint() != base.fingerprint()
    renamed = pd.DataFrame({"a": [1, 2, 3], "c": ["x", "y", "z"]})
    # the builder declares seed columns, so compare the seed digest itself
    assert (
        dd.DataFrameSeedSource(df=renamed).content_digest()
        != dd.DataFrameSeedSource(df=base.seed_config.source.df).content_digest()
    )


def test_dataframe_seed_digest_stable_across_hash_seeds() -> None:
    code = (
        "import pandas as pd, dd_prefect.config as dd;"
        "df = pd.DataFrame({'t': ['alpha', 'beta', None], 'n': [1.5, 2.0, 3.25]});"
        "print(dd.DataFrameSeedSource(df=df).content_digest())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        for seed in ("1", "12345")
    }
    assert len(outputs) == 1


def test_dataframe_seed_and_file_seed_differ(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1]})
    df.to_parquet(tmp_path / "s.parquet", index=False)
    from_df = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.DataFrameSeedSource(df=df))
    from_file = dd.DataDesignerConfigBuilder().with_seed_dataset(
        dd.LocalFileSeedSource(path=str(tmp_path / "s.parquet"))
    )
    assert from_df.build().fingerprint() != from_file.build().fingerprint()


def test_sets_are_stored_sorted() -> None:
    config = rich_config()
    custom = config.column("c")
    assert custom.required_columns_ == ["j", "q", "s"]
    assert custom.params["tags"] == ["vv", "ww", "xx", "yy"]
    assert custom.params["nested"] == [["p", "q", "r"]]
    assert config.column("sub").params.values["zeta"] == ["z1", "z2", "z3"]
    assert config.processors[1].column_names == ["d*c", "doc"]
    assert config.model_configs[0].inference_parameters.extra_body["stop"] == ["##", "END", "STOP"]
