"""Remote validation columns against a local HTTP endpoint (Data Designer's protocol)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

import dd_prefect.config as dd
from dd_prefect.errors import GenerationError


class Endpoint:
    """Answers {"data": [{"is_valid": len(code) < 5, "n": len(code)}]}; the first
    `fail_first` requests get a 503, every request when `always_fail`."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.fail_first = 0
        self.always_fail = False
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.bodies.append(body)
                if endpoint.always_fail or len(endpoint.bodies) <= endpoint.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                data = [{"is_valid": len(r["code"]) < 5, "n": len(r["code"])} for r in body["data"]]
                payload = json.dumps({"data": data}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/validate"


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    e = Endpoint()
    thread = threading.Thread(target=e.server.serve_forever, daemon=True)
    thread.start()
    yield e
    e.server.shutdown()
    e.server.server_close()


def builder(url: str, **params) -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder()
    b.with_seed_dataset(
        dd.DataFrameSeedSource(df=pd.DataFrame({"code": ["a", "abcdefg", "abc"], "x": 1}))
    )
    b.add_column(
        name="remote_check",
        column_type="validation",
        target_columns=["code"],
        validator_type="remote",
        validator_params={"endpoint_url": url, **params},
        batch_size=2,
    )
    return b


async def test_batches_go_to_the_endpoint_and_results_come_back(endpoint, mock_llm, make_generator):
    b = builder(endpoint.url, max_parallel_requests=1, retry_backoff=1.01, max_retries=1)
    endpoint.fail_first = 1  # retried once
    df = (await make_generator(b, mock_llm).generate(0, 0, 3)).frame
    assert list(df["remote_check"]) == [
        {"is_valid": True, "n": 1},
        {"is_valid": False, "n": 7},
        {"is_valid": True, "n": 3},
    ]
    # Only the target columns are sent, batch_size rows at a time; the first try failed.
    assert endpoint.bodies[1:] == [
        {"data": [{"code": "a"}, {"code": "abcdefg"}]},
        {"data": [{"code": "abc"}]},
    ]


async def test_failures_null_in_parallel_and_fail_one_at_a_time(endpoint, mock_llm, make_generator):
    endpoint.always_fail = True
    parallel = builder(endpoint.url, max_retries=0)
    df = (await make_generator(parallel, mock_llm).generate(0, 0, 3)).frame
    assert list(df["remote_check"]) == [{"is_valid": None}] * 3
    one_at_a_time = builder(endpoint.url, max_retries=0, max_parallel_requests=1)
    with pytest.raises(GenerationError, match="column 'remote_check': validation failed"):
        await make_generator(one_at_a_time, mock_llm).generate(0, 0, 3)


async def test_output_schema_is_checked(endpoint, mock_llm, make_generator):
    schema = {
        "type": "object",
        "properties": {"data": {"type": "array", "items": {"required": ["is_valid", "why"]}}},
    }
    b = builder(endpoint.url, max_parallel_requests=1, output_schema=schema)
    with pytest.raises(GenerationError, match="'why' is a required property"):
        await make_generator(b, mock_llm).generate(0, 0, 3)
