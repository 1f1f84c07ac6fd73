"""Remote validators: batches of rows POSTed to an HTTP endpoint, as Data Designer does.

Each batch is sent as ``{"data": [{<target column>: value, ...}, ...]}``; the endpoint
answers ``{"data": [{"is_valid": bool | null, ...}, ...]}``, one result per row (checked
against `output_schema` when set). Requests time out after `timeout` seconds and are retried
(`max_retries`, waits of ``retry_backoff * 2**(n-1)`` seconds) on 429 and 5xx answers and
on connection errors. With `max_parallel_requests` > 1 batches go out at once and a batch
that still fails gets ``is_valid: null`` results (Data Designer's choice); sent one at a
time, a failure fails the row group.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jsonschema

from dd_prefect.config.validator_params import RemoteValidatorParams

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

logger = logging.getLogger(__name__)


def remote_results(
    params: RemoteValidatorParams, batches: list[list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The endpoint's results for the rows of `batches` (target columns only), in order."""
    with httpx.Client(timeout=httpx.Timeout(params.timeout)) as client:
        if params.max_parallel_requests == 1:
            return [r for batch in batches for r in _post(client, params, batch)]
        with ThreadPoolExecutor(max_workers=params.max_parallel_requests) as pool:
            done = list(pool.map(lambda batch: _post_or_null(client, params, batch), batches))
    return [r for results in done for r in results]


def _post_or_null(
    client: httpx.Client, params: RemoteValidatorParams, batch: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    try:
        return _post(client, params, batch)
    except Exception as exc:
        logger.warning("remote validator %s failed for a batch: %s", params.endpoint_url, exc)
        return [{"is_valid": None} for _ in batch]


def _post(
    client: httpx.Client, params: RemoteValidatorParams, batch: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    attempt = 0
    while True:
        try:
            response = client.post(params.endpoint_url, json={"data": batch})
        except httpx.TransportError:
            if attempt == params.max_retries:
                raise
        else:
            if response.status_code not in RETRY_STATUSES or attempt == params.max_retries:
                response.raise_for_status()
                return _results(params, response.json(), len(batch))
        time.sleep(params.retry_backoff * 2**attempt)
        attempt += 1


def _results(params: RemoteValidatorParams, answer: Any, rows: int) -> list[dict[str, Any]]:
    if params.output_schema:
        jsonschema.validate(answer, params.output_schema)
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list) or len(data) != rows:
        raise ValueError(f"the endpoint must answer {{'data': [...]}} with {rows} results")
    if not all(isinstance(r, dict) and "is_valid" in r for r in data):
        raise ValueError("every result of the endpoint needs an 'is_valid'")
    return data
