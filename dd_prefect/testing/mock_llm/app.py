"""The mock's ASGI app (Starlette) and an in-process client for it (``httpx2``, the openai
client's HTTP library).

Routes (each also under ``/v1``, e.g. ``/v1/health``):

- ``POST /chat/completions`` -- chat completion (plain text, code fence or structured JSON;
  an image for an image model, reasoning for a reasoning model: see ``media``)
- ``POST /embeddings`` -- deterministic embedding vectors
- ``POST /images/generations`` -- tiny deterministic PNGs as ``b64_json``
- ``GET /models`` -- ``mock-model`` plus every model seen so far
- ``GET /_mock/stats`` / ``POST /_mock/reset`` -- counters
- ``GET /_mock/config`` / ``POST /_mock/config`` -- read / change the knobs at runtime
- ``/health`` (any method) -- ``ok``

Unknown routes answer 404, the POST routes with another method 405, both
with an error in OpenAI's shape.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .config import MockLLMConfig
from .state import MockLLMState, Reply, error

if TYPE_CHECKING:
    import httpx2

__all__ = ["IN_PROCESS_BASE_URL", "MockLLMApp", "in_process_client"]

IN_PROCESS_BASE_URL = "http://mock-llm.invalid/v1"

_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Endpoint = Callable[[Request], Awaitable[Response]]


def _response(reply: Reply) -> Response:
    body = json.dumps(reply.payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, reply.status, reply.headers, media_type="application/json")


def _guarded(endpoint: Callable[[Request], Awaitable[Reply]]) -> Endpoint:
    """JSON endpoint; a bug in the mock answers 500 (``mock_bug``) instead of hanging."""

    async def run(request: Request) -> Response:
        try:
            reply = await endpoint(request)
        except Exception as exc:
            reply = error(500, f"mock internal error: {exc!r}", "server_error", "mock_bug")
        return _response(reply)

    return run


class MockLLMApp(MockLLMState):
    """The mock as an ASGI app: knobs and counters of :class:`MockLLMState` plus routes.

    Serve it with uvicorn (:class:`MockLLMServer`, :func:`serve`) or call it in-process through
    ``httpx2.ASGITransport`` (:func:`in_process_client`); either way it runs on one event loop.
    ``url`` / ``base`` are set by whoever serves it on a socket.
    """

    def __init__(self, config: MockLLMConfig | None = None) -> None:
        super().__init__(config)
        self.url = ""
        self.base = ""
        routes = [
            Route("/chat/completions", _guarded(self._chat_endpoint), methods=["POST"]),
            Route("/embeddings", _guarded(self._embeddings_endpoint), methods=["POST"]),
            Route("/images/generations", _guarded(self._images_endpoint), methods=["POST"]),
            Route("/health", self._health, methods=_ANY_METHOD),
            Route("/models", _guarded(self._models), methods=["GET"]),
            Route("/_mock/stats", _guarded(self._stats_endpoint), methods=["GET"]),
            Route("/_mock/reset", _guarded(self._reset_endpoint), methods=["POST"]),
            Route("/_mock/config", _guarded(self._config_endpoint), methods=["GET", "POST"]),
        ]
        # "/v1/..." first: that is what clients call (routes are matched in order).
        routes = [Route("/v1" + r.path, r.endpoint, methods=r.methods) for r in routes] + routes
        self.starlette = Starlette(
            routes=routes,
            exception_handlers={404: self._no_route, 405: self._no_route},  # type: ignore[dict-item]
        )
        self.starlette.router.redirect_slashes = False  # "/health/" is a 404, not a redirect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.starlette(scope, receive, send)

    async def _no_route(self, request: Request, exc: HTTPException) -> Response:
        method, path = request.method, request.url.path
        if path.startswith("/v1/"):
            path = path[3:]
        if path in ("/chat/completions", "/embeddings", "/images/generations"):
            return _response(error(405, "use POST", "invalid_request_error", "method_not_allowed"))
        message = f"no route {method} {path}"
        return _response(error(404, message, "invalid_request_error", "not_found"))

    async def _health(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def _chat_endpoint(self, request: Request) -> Reply:
        return await self.chat(request.headers.get("authorization", ""), await request.body())

    async def _embeddings_endpoint(self, request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        return await self.chat(auth, await request.body(), "embeddings")

    async def _images_endpoint(self, request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        return await self.chat(auth, await request.body(), "images")

    async def _models(self, request: Request) -> Reply:
        data = [
            {"id": model, "object": "model", "created": 0, "owned_by": "mock"}
            for model in self.models
        ]
        return Reply(200, {"object": "list", "data": data})

    async def _stats_endpoint(self, request: Request) -> Reply:
        return Reply(200, self.stats())

    async def _reset_endpoint(self, request: Request) -> Reply:
        self.reset()
        return Reply(200, {"ok": True})

    async def _config_endpoint(self, request: Request) -> Reply:
        if request.method == "GET":
            return Reply(200, self.config.to_dict())
        try:
            knobs = json.loads(await request.body() or b"{}")
            if not isinstance(knobs, dict):
                raise ValueError("the body must be a JSON object of knobs")
            return Reply(200, self.configure(**knobs))
        except ValueError as exc:
            return error(400, str(exc), "invalid_request_error", "invalid_config")


def in_process_client(
    config: MockLLMConfig | None = None, *, app: MockLLMApp | None = None
) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` that talks to a fresh mock in-process: no socket, no thread.

    Hand it to ``openai.AsyncOpenAI(base_url=str(client.base_url), http_client=client)``. The
    app runs in the caller's event loop (latency sleeps there, concurrent requests overlap);
    its counters are at ``GET /_mock/stats`` through the same client. Pass ``app`` to reuse
    one (and read ``app.stats()`` directly) instead of ``config``.
    """
    import httpx2  # not at module level: the mock's own process does not need it

    if app is None:
        app = MockLLMApp(config)
    elif config is not None:
        raise ValueError("pass config or app, not both")
    transport = httpx2.ASGITransport(app=app)
    return httpx2.AsyncClient(transport=transport, base_url=IN_PROCESS_BASE_URL)
