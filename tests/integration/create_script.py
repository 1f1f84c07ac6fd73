"""Run DataDesigner.create() in a subprocess (crash and multi-process tests).

    python -m tests.integration.create_script ARTIFACTS NAME MOCK_URL RECORDS BUFFER \
        [--resume never] [--parallel 8] [--seed 7] [--shards N] [--shard-deployment D]
"""

from __future__ import annotations

import argparse

import dd_prefect.config as dd
from dd_prefect import DataDesigner


def builder(parallel: int) -> dd.DataDesignerConfigBuilder:
    model = dd.ModelConfig(
        alias="fast",
        model="mock-model",
        provider="mock",
        inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=parallel),
    )
    b = dd.DataDesignerConfigBuilder(model_configs=[model])
    b.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["tea", "coffee", "juice", "water"]},
    )
    b.add_column(
        name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 100}
    )
    b.add_column(
        name="question",
        column_type="llm-text",
        model_alias="fast",
        prompt="Ask about {{ topic }} number {{ n }}",
    )
    b.add_column(
        name="answer", column_type="llm-text", model_alias="fast", prompt="Answer: {{ question }}"
    )
    return b


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("artifacts", "name", "mock_url"):
        p.add_argument(name)
    p.add_argument("records", type=int)
    p.add_argument("buffer", type=int)
    p.add_argument("--resume", default="never")
    p.add_argument("--parallel", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--row-groups", type=int, default=2)
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--shard-deployment", default=None)
    args = p.parse_args()
    designer = DataDesigner(
        artifact_path=args.artifacts,
        model_providers=[dd.ModelProvider(name="mock", endpoint=args.mock_url)],
        run_config=dd.RunConfig(
            buffer_size=args.buffer, seed=args.seed, max_concurrent_row_groups=args.row_groups
        ),
        shard_deployment=args.shard_deployment,
    )
    results = designer.create(
        builder(args.parallel),
        num_records=args.records,
        dataset_name=args.name,
        resume=args.resume,
        shards=args.shards,
    )
    print("records", results.count_records())


if __name__ == "__main__":
    main()
