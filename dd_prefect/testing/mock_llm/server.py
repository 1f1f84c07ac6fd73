"""Serving the mock over HTTP with uvicorn: in a background thread or in a running loop.

The listening socket is bound here (not by uvicorn) so that a taken port raises ``OSError``
in the caller instead of uvicorn's ``sys.exit``, and the URL is known before serving starts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from .app import MockLLMApp
from .config import MockLLMConfig

__all__ = ["MockLLMServer", "new_event_loop", "serve"]

_KEEP_ALIVE_SECONDS = 300  # > httpx's 5 s: clients drop idle connections, not the server
_GRACEFUL_SHUTDOWN_SECONDS = 5  # then running requests are cancelled (latency waits end at once)


class _Uvicorn(uvicorn.Server):
    """uvicorn's server without its signal handling, stopping at :meth:`exit` (not a tick)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()
        self._exit = asyncio.Event()

    def exit(self) -> None:
        """Begin a graceful shutdown (from the server's loop)."""
        self.should_exit = True
        self._exit.set()

    async def main_loop(self) -> None:
        await self.on_tick(0)  # sets the default headers
        if not self.should_exit:
            await self._exit.wait()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # uvicorn >= 0.29
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        pass

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.up.set()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's if it is installed (as uvicorn's ``loop="auto"``)."""
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0`` picks a free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    # The protocol number matters: asyncio sets TCP_NODELAY on accepted connections only if
    # it is IPPROTO_TCP (socket.create_server leaves it 0, and every response then waits
    # ~40 ms for the client's delayed ACK).
    sock = socket.socket(family, kind, proto)
    try:
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def _set_urls(app: MockLLMApp, host: str, sock: socket.socket) -> None:
    url_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in url_host:
        url_host = f"[{url_host}]"
    app.base = f"http://{url_host}:{sock.getsockname()[1]}"
    app.url = f"{app.base}/v1"


async def _start(app: MockLLMApp, sock: socket.socket) -> tuple[_Uvicorn, asyncio.Task[None]]:
    """Serve ``app`` on ``sock`` in a new task; returns once uvicorn has started."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        log_config=None,  # leave the process's logging configuration alone
        access_log=False,
        lifespan="off",
        interface="asgi3",
        http="auto",  # httptools if installed, else h11
        ws="none",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_keep_alive=_KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = _Uvicorn(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="mock-llm-uvicorn")
    up = asyncio.create_task(server.up.wait())
    try:
        await asyncio.wait({task, up}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        up.cancel()
    if not server.up.is_set():  # uvicorn ended during start-up
        sock.close()
        task.result()  # raises what ended it
        raise RuntimeError("the mock LLM server stopped during start-up")
    return server, task


def _begin_stop(app: MockLLMApp, server: _Uvicorn) -> None:
    app.close()  # latency waits end now, with a 503
    server.exit()


async def serve(
    config: MockLLMConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ready: Callable[[MockLLMApp], None] | None = None,
) -> None:
    """Serve the mock inside the running event loop until cancelled.

    ``ready`` is called with the :class:`MockLLMApp` once listening (read ``app.url``,
    ``app.stats()``, call ``app.configure(...)`` from the same loop).

    Raises:
        OSError: if ``host:port`` cannot be bound.
    """
    app = MockLLMApp(config)
    sock = _bind(host, port)
    _set_urls(app, host, sock)
    server, task = await _start(app, sock)
    try:
        if ready is not None:
            ready(app)
        await asyncio.shield(task)
    finally:
        if not task.done():
            _begin_stop(app, server)
            await task


class MockLLMServer:
    """The mock served by uvicorn from a daemon thread with its own event loop.

    Example::

        with MockLLMServer(MockLLMConfig(latency=0.05)) as server:
            client = openai.OpenAI(base_url=server.url, api_key="x")
            ...
            assert server.stats()["requests"] == 1
    """

    def __init__(
        self, config: MockLLMConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.app = MockLLMApp(config)
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: _Uvicorn | None = None

    @property
    def config(self) -> MockLLMConfig:
        """The live config (prefer :meth:`configure` to change it while running)."""
        return self.app.config

    @property
    def url(self) -> str:
        """``http://host:port/v1`` -- the ``base_url`` for the openai client."""
        return self.app.url

    @property
    def base(self) -> str:
        """``http://host:port``."""
        return self.app.base

    def start(self) -> MockLLMServer:
        """Start serving in a background thread; returns once the server accepts requests.

        Raises:
            OSError: if ``host:port`` cannot be bound.
        """
        if self._thread is not None:
            raise RuntimeError("MockLLMServer already started")
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        _set_urls(self.app, self.host, sock)
        self.app.closing = False
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(sock, ready), name="mock-llm-server", daemon=True
        )
        self._thread.start()
        try:
            ready.result(timeout=30)
        except BaseException:
            self._thread.join(timeout=5)
            self._thread = None
            raise
        return self

    def _run(self, sock: socket.socket, ready: concurrent.futures.Future[None]) -> None:
        loop = new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(sock, ready))
        finally:
            self._loop = self._server = None
            leftover = asyncio.all_tasks(loop)
            for task in leftover:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, sock: socket.socket, ready: concurrent.futures.Future[None]) -> None:
        try:
            server, task = await _start(self.app, sock)
        except BaseException as exc:
            ready.set_exception(exc)
            return
        self._server = server
        self._loop = asyncio.get_running_loop()
        ready.set_result(None)
        await task

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        thread, loop, server = self._thread, self._loop, self._server
        if thread is None:
            return
        if loop is not None and server is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(_begin_stop, self.app, server)
        thread.join(timeout=30)
        self._thread = None

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the server's loop (counters are only touched from that thread)."""
        loop = self._loop
        if loop is None or threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                result.set_exception(exc)

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:  # loop closed meanwhile
            return fn(*args, **kwargs)
        return result.result(timeout=30)

    def stats(self) -> dict[str, Any]:
        """Same as ``GET /_mock/stats``."""
        return self._call(self.app.stats)

    def reset(self) -> None:
        """Same as ``POST /_mock/reset``."""
        self._call(self.app.reset)

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Same as ``POST /_mock/config``; returns the full config afterwards."""
        return self._call(self.app.configure, **knobs)

    def __enter__(self) -> MockLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"MockLLMServer(url={self.url or None!r}, config={self.config!r})"
