"""Data Designer's ``profilers`` (column profilers run on a finished dataset).

Its one profiler, the judge-score profiler, is honoured for what needs no LLM: the score
distributions of every ``llm-judge`` column, per score name, which dd_prefect computes for
every dataset anyway (``load_analysis().column_profiles``, the report, the UI tables).
Its LLM-written summaries of the scores are not produced: a profiler asking for them
(``summary_score_sample_size`` set, Data Designer's default 20) is refused before anything
runs, saying to set it to null.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class JudgeScoreProfilerConfig(BaseModel):
    """Data Designer's judge-score profiler: score distributions of the judge columns.

    `model_alias`: the model Data Designer would summarize with (kept, not called).
    `summary_score_sample_size`: must be None: LLM summaries are not supported (yet).
    """

    model_config = ConfigDict(extra="forbid")

    model_alias: str
    summary_score_sample_size: int | None = Field(default=20, ge=1, validate_default=True)

    @field_validator("summary_score_sample_size")
    @classmethod
    def _no_summaries(cls, value: int | None) -> int | None:
        if value is not None:
            raise ValueError(
                f"summary_score_sample_size={value} asks an LLM to summarize judge scores, "
                "which dd_prefect does not do (yet); set it to null: the score distributions "
                "of every llm-judge column are in load_analysis() and the report"
            )
        return value
