"""Memory of a dataset's analysis (``load_analysis()``) at 10k and at 100k rows.

Writes two datasets of `--rows-per-file` rows per parquet file (as row groups are
written): a category sampler with weights, an llm-text column (100-600 characters), an
llm-judge column (two scores), an integer column and a float column (all values distinct,
so its quantiles take the second pass). Each is analysed in a fresh process; the peak
resident memory the analysis adds over the process after its imports is measured (Linux
``VmHWM`` before and after). Prints one JSON object; target: ``ratio`` (100k / 10k)
<= 1.25.

    python benchmarks/analysis_memory.py [--small 10000] [--large 100000]
                                         [--rows-per-file 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

import dd_prefect.config as dd
from dd_prefect.workflow.layout import DatasetLayout
from dd_prefect.workflow.metadata import DatasetMetadata

_MEASURE = """
import json, sys, time
from dd_prefect.workflow.analysis import DatasetAnalysis
from dd_prefect.workflow.analysis_store import load_or_compute

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

before = hwm()
began = time.perf_counter()
analysis = DatasetAnalysis(data=load_or_compute(sys.argv[1]))
print(json.dumps({"rows": analysis.num_records, "seconds": time.perf_counter() - began,
                  "baseline_mb": before, "peak_mb": hwm()}))
"""


def config() -> dd.DataDesignerConfig:
    builder = dd.DataDesignerConfigBuilder(
        model_configs=[dd.ModelConfig(alias="m", model="x", provider="mock")]
    )
    builder.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["a", "b", "c", "d"], "weights": [4, 3, 2, 1]},
    )
    builder.add_column(name="answer", column_type="llm-text", model_alias="m", prompt="{{ topic }}")
    builder.add_column(
        name="judge",
        column_type="llm-judge",
        model_alias="m",
        prompt="{{ answer }}",
        scores=[
            dd.Score(name="quality", description="q", options={1: "bad", 2: "ok", 3: "good"}),
            dd.Score(name="tone", description="t", options={"calm": "c", "rude": "r"}),
        ],
    )
    return builder.build()


def write_dataset(base: Path, rows: int, per_file: int) -> None:
    layout = DatasetLayout(base)
    layout.parquet_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    words = np.array(
        [
            "the",
            "quick",
            "brown",
            "fox",
            "jumps",
            "over",
            "a",
            "lazy",
            "dog",
            "again",
            "and",
            "again",
        ]
    )
    files = []
    for i, start in enumerate(range(0, rows, per_file)):
        n = min(per_file, rows - start)
        frame = pd.DataFrame(
            {
                "topic": rng.choice(["a", "b", "c", "d"], size=n, p=[0.4, 0.3, 0.2, 0.1]),
                "answer": [
                    " ".join(rng.choice(words, size=k)) for k in rng.integers(20, 120, size=n)
                ],
                "judge": [
                    {"quality": {"score": int(q), "reasoning": "because"}, "tone": {"score": t}}
                    for q, t in zip(
                        rng.integers(1, 4, size=n),
                        rng.choice(["calm", "rude"], size=n),
                        strict=True,
                    )
                ],
                "count": rng.integers(0, 1000, size=n),
                "score": rng.normal(size=n),
            }
        )
        name = f"parquet-files/batch_{i:05d}.parquet"
        frame.to_parquet(base / name)
        files.append(name)
    layout.write_config(config())
    layout.write_metadata(
        DatasetMetadata(
            dataset_name=base.name,
            dataset_key="bench",
            config_fingerprint="bench",
            target_records=rows,
            actual_records=rows,
            buffer_size=per_file,
            num_batches=len(files),
            files=files,
            status="completed",
        )
    )


def measure(base: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(base)], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["analysis_mb"] = round(result["peak_mb"] - result["baseline_mb"], 1)
    result["seconds"] = round(result["seconds"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--rows-per-file", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for label, rows in (("small", args.small), ("large", args.large)):
            base = Path(tmp) / label
            began = time.perf_counter()
            write_dataset(base, rows, args.rows_per_file)
            written = time.perf_counter() - began
            runs[label] = {**measure(base), "write_seconds": round(written, 1)}
    ratio = runs["large"]["analysis_mb"] / max(runs["small"]["analysis_mb"], 1e-9)
    print(
        json.dumps(
            {
                "benchmark": "analysis_memory",
                "rows_per_file": args.rows_per_file,
                "small": runs["small"],
                "large": runs["large"],
                "ratio": round(ratio, 3),
                "target": 1.25,
                "ok": ratio <= 1.25,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
