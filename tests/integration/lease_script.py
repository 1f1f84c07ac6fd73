"""Run DataDesigner.create() in a subprocess and record its throttle over time (the tests
of shares of a global limit between processes).

    python -m tests.integration.lease_script ARTIFACTS NAME MOCK_URL RECORDS TRACE \
        [--parallel 4] [--buffer 25]

TRACE gets JSON lines: ``{"t", "budget", "in_flight"}`` of the model's limiter every 50 ms,
and ``{"t", "event": "leased" | "released"}`` when the run enters and leaves its share.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import dd_prefect.config as dd
import dd_prefect.orchestration.runtime as runtime
from dd_prefect import DataDesigner
from dd_prefect.engine.throttle import AIMDLimiter

limiters: list[AIMDLimiter] = []
_init = AIMDLimiter.__init__


def _recording_init(self: AIMDLimiter, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    limiters.append(self)


def builder(parallel: int) -> dd.DataDesignerConfigBuilder:
    model = dd.ModelConfig(
        alias="fast",
        model="mock-model",
        provider="mock",
        inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=parallel),
    )
    b = dd.DataDesignerConfigBuilder(model_configs=[model])
    b.add_column(
        name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 10**6}
    )
    b.add_column(name="text", column_type="llm-text", model_alias="fast", prompt="Say {{ n }}")
    return b


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("artifacts", "name", "mock_url", "records", "trace"):
        p.add_argument(name)
    p.add_argument("--parallel", type=int, default=4)
    p.add_argument("--buffer", type=int, default=25)
    args = p.parse_args()

    trace = open(args.trace, "w")  # noqa: SIM115
    lock = threading.Lock()

    def write(entry: dict[str, Any]) -> None:
        with lock:
            trace.write(json.dumps({"t": time.time(), **entry}) + "\n")
            trace.flush()

    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for limiter in list(limiters):
                write({"budget": limiter.budget, "in_flight": limiter.in_flight})
            time.sleep(0.05)

    leased = runtime.global_throttle

    @contextlib.asynccontextmanager
    async def recorded(*a: Any, **k: Any) -> AsyncIterator[dict]:
        async with leased(*a, **k) as shares:
            write({"event": "leased", "shares": shares})
            yield shares
        write({"event": "released"})

    runtime.global_throttle = recorded  # type: ignore[assignment]
    AIMDLimiter.__init__ = _recording_init  # type: ignore[method-assign]
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        designer = DataDesigner(
            artifact_path=args.artifacts,
            model_providers=[dd.ModelProvider(name="mock", endpoint=args.mock_url)],
            run_config=dd.RunConfig(buffer_size=args.buffer, seed=3, max_concurrent_row_groups=2),
            global_throttle=True,
        )
        results = designer.create(
            builder(args.parallel), num_records=int(args.records), dataset_name=args.name
        )
        print("records", results.count_records())
    finally:
        stop.set()
        sampler.join()
        trace.close()


if __name__ == "__main__":
    main()
