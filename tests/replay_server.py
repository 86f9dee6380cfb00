"""A loopback HTTP server that replays recorded responses, for tests of network code.

A real :class:`http.server.ThreadingHTTPServer` on ``127.0.0.1`` (a free port) runs
in a background thread. Responses are registered with :meth:`ReplayServer.add` and
matched on the request path plus its exact query parameters; a route can first fail
a number of times (``503`` with ``Retry-After`` by default) before it answers, and can
answer slowly (``delay`` seconds, changeable while serving: ``route.delay = 0``). Every
request received is recorded on arrival, so tests can assert what was sent and when.

    with ReplayServer() as server:
        server.add("/oai", {"verb": "ListRecords"}, fixture=FIXTURES / "page1.xml")
        ...  # point the code under test at server.url("/oai")
        assert server.requests[0].params["verb"] == "ListRecords"

Unmatched requests get ``404`` with a plain-text body naming what was asked for.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Reply:
    """One recorded response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Route:
    """Answers requests for ``path`` with exactly ``params``: the ``failures`` first,
    one per request, then ``reply`` every time."""

    path: str
    params: dict[str, str]
    reply: Reply
    failures: list[Reply] = field(default_factory=list)
    hits: int = 0
    #: Seconds to wait before answering (a slow or stuck upstream).
    delay: float = 0.0

    def next_reply(self) -> Reply:
        self.hits += 1
        return self.failures.pop(0) if self.failures else self.reply


@dataclass(frozen=True)
class Received:
    """A request the server received; ``at`` is ``time.monotonic()`` on arrival."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float
    #: The request body (POST), as sent.
    body: bytes = b""


class ReplayServer:
    """Serves registered :class:`Route`\\ s on loopback and records every request."""

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._started = False

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> ReplayServer:
        if not self._started:
            self._thread.start()
            self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._httpd.shutdown()
            self._started = False
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- configuration ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str = "") -> str:
        return self.base_url + path

    def add(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        body: bytes | str = b"",
        fixture: Path | None = None,
        status: int = 200,
        content_type: str = "application/xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        fail_first: int = 0,
        fail_status: int = 503,
        retry_after: str | None = None,
        delay: float = 0.0,
    ) -> Route:
        """Register a response for ``path`` + ``params`` (the first matching route
        wins). ``fixture`` reads the body from a file. With ``fail_first=N`` the first
        N requests get ``fail_status`` (with ``Retry-After: retry_after`` if given).
        ``delay`` seconds pass before each answer."""
        data = fixture.read_bytes() if fixture is not None else body
        raw = data.encode("utf-8") if isinstance(data, str) else data
        reply = Reply(status, raw, {"Content-Type": content_type, **(headers or {})})
        failure_headers = {"Content-Type": "text/html; charset=utf-8"}
        if retry_after is not None:
            failure_headers["Retry-After"] = retry_after
        failure = Reply(
            fail_status,
            b"<html><body><h1>Retry after specified interval</h1></body></html>",
            failure_headers,
        )
        route = Route(path, dict(params or {}), reply, [failure] * fail_first, delay=delay)
        with self._lock:
            self._routes.append(route)
        return route

    # -- what happened ---------------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def requests_to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    # -- serving (called from handler threads) ---------------------------------------

    def _answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> Reply:
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        params = {k: v[-1] for k, v in query.items()}
        found: tuple[Reply, float] | None = None
        with self._lock:
            self._received.append(
                Received(method, parts.path, params, headers, time.monotonic(), body)
            )
            for route in self._routes:
                if route.path == parts.path and route.params == params:
                    found = route.next_reply(), route.delay
                    break
        if found is not None:
            reply, delay = found
            if delay > 0:
                time.sleep(delay)  # outside the lock: other requests are answered meanwhile
            return reply
        message = f"no recorded response for {method} {parts.path} {sorted(params.items())}"
        return Reply(404, message.encode(), {"Content-Type": "text/plain; charset=utf-8"})


def _handler_for(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            reply = server._answer("GET", self.path, dict(self.headers.items()))
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def do_POST(self) -> None:
            """POST is answered like GET (by path and query); the body is recorded."""
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            reply = server._answer("POST", self.path, dict(self.headers.items()), body)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:
            """Stay quiet: the test reports what matters."""

    return Handler
