"""Data Designer's ``profilers`` in a config (issue 16): the judge-score profiler is
honoured without LLM summaries, and one asking for summaries is refused by name before
anything runs."""

from __future__ import annotations

import pytest

import dd_prefect.config as dd
from dd_prefect.config.profilers import JudgeScoreProfilerConfig

COLUMNS = [
    {"name": "t", "column_type": "sampler", "sampler_type": "category",
     "params": {"values": ["a"]}},
]  # fmt: skip


def test_judge_score_profiler_without_summaries_is_kept() -> None:
    profiler = {"model_alias": "judge-model", "summary_score_sample_size": None}
    config = dd.DataDesignerConfig.from_dict({"columns": COLUMNS, "profilers": [profiler]})
    assert config.profilers == [JudgeScoreProfilerConfig(**profiler)]
    assert config.to_dict()["profilers"] == [profiler]
    again = dd.DataDesignerConfig.from_dict(config.to_dict())
    assert again.fingerprint() == config.fingerprint()


@pytest.mark.parametrize(
    ("profiler", "message"),
    [
        ({"model_alias": "m"}, "summary_score_sample_size=20 asks an LLM to summarize"),
        ({"model_alias": "m", "summary_score_sample_size": 5}, "set it to null"),
        ({"model_alias": "m", "summary_score_sample_size": None, "top_k": 3}, "top_k"),
        ({"summary_score_sample_size": None}, "model_alias"),
    ],
)
def test_profilers_dd_prefect_cannot_honour_are_refused(
    profiler: dict[str, object], message: str
) -> None:
    with pytest.raises(dd.ConfigValidationError) as caught:
        dd.DataDesignerConfig.from_dict({"columns": COLUMNS, "profilers": [profiler]})
    assert "profilers" in str(caught.value) and message in str(caught.value), caught.value


def test_builder_add_profiler_as_in_data_designer() -> None:
    builder = dd.DataDesignerConfigBuilder()
    builder.add_column(name="t", column_type="sampler", sampler_type="category",
                       params={"values": ["a"]})  # fmt: skip
    profiler = dd.JudgeScoreProfilerConfig(model_alias="m", summary_score_sample_size=None)
    assert builder.add_profiler(profiler) is builder
    assert builder.build().profilers == [profiler]
    with pytest.raises(ValueError, match="set it to null"):
        dd.JudgeScoreProfilerConfig(model_alias="m")  # Data Designer's default asks for summaries
