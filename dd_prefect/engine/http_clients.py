"""The HTTP clients a provider's openai client sends through: aiohttp (the default) or httpx.

openai's aiohttp backend (``openai[aiohttp]``) made about 1.5x the requests/s of its default
httpx2 one against the same mock (benchmarks/engine_throughput.py prints both), so a
provider uses it unless its ``http_transport`` is ``"httpx"``. Either pool holds `size`
connections, all kept alive between requests.
"""

from __future__ import annotations

from typing import Any, Literal

import aiohttp
import httpx2
import openai

Transport = Literal["aiohttp", "httpx"]


class _ConnectionErrorsKept(httpx2.AsyncBaseTransport):
    """The aiohttp transport, with failed connections raised as ``httpx2.ConnectError``.

    openai's copy maps every aiohttp connection error (refused, reset, server gone) to
    ``httpx2.ConnectTimeout``, which openai reports as a timeout; httpx reports those as
    connection errors, and so does this (real timeouts stay timeouts).
    """

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return await self._inner.handle_async_request(request)
        except httpx2.ConnectTimeout as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(
                cause, aiohttp.ServerTimeoutError
            ):
                raise httpx2.ConnectError(str(exc), request=request) from cause
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AioHttpClient(openai.DefaultAioHttpClient):
    """openai's aiohttp client, its transports (direct and through a proxy from the
    environment) keeping connection errors apart from timeouts."""

    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx2.AsyncBaseTransport:
        return _ConnectionErrorsKept(super()._init_transport(*args, **kwargs))

    def _init_proxy_transport(self, *args: Any, **kwargs: Any) -> httpx2.AsyncBaseTransport:
        return _ConnectionErrorsKept(super()._init_proxy_transport(*args, **kwargs))


def pooled_client(transport: Transport | None, size: int) -> httpx2.AsyncClient:
    """An HTTP client for an openai client over `transport` (None: aiohttp) whose pool
    holds `size` connections, with openai's defaults otherwise."""
    limits = httpx2.Limits(max_connections=size, max_keepalive_connections=size)
    if transport == "httpx":
        return openai.DefaultAsyncHttpxClient(limits=limits)
    return _AioHttpClient(limits=limits)
