"""The small, polite HTTP client every network source uses, and response decoding.

arXiv asks for at most one request every three seconds over one connection and
answers ``503`` with ``Retry-After`` when a harvester goes faster; Hugging Face
answers ``429``. :class:`PoliteClient` therefore

- keeps a minimum interval between the end of one request and the start of the next;
- retries connection errors, ``5xx`` and ``429`` with exponential back-off, waiting
  for ``Retry-After`` instead (seconds or an HTTP date, capped) on ``503`` and ``429``;
- gives up with a :class:`~paperlens.sources.base.SourceError` naming the URL and the
  last status once the retries are spent, and at once on other ``4xx``;
- identifies itself as ``paperlens/<version>``.

Waiting goes through an injectable ``sleep`` and ``clock`` so tests can watch the
waits without spending them.
"""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType

import httpx
import orjson

from paperlens import __version__
from paperlens.config import Settings
from paperlens.sources.base import SourceError

log = logging.getLogger(__name__)

USER_AGENT = f"paperlens/{__version__}"
#: Longest wait taken for one ``Retry-After`` or back-off step (10 minutes).
MAX_WAIT = 600.0
#: Statuses whose ``Retry-After`` header is honoured.
_RETRY_AFTER_STATUSES = frozenset({429, 503})


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait for a ``Retry-After`` value: delta-seconds or an HTTP date
    (relative to ``now``). ``None`` when the header is absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _server_now(response: httpx.Response) -> datetime:
    """The server's clock (its ``Date`` header) when readable, else ours: an HTTP-date
    ``Retry-After`` is best read against the clock that wrote it."""
    header = response.headers.get("Date")
    if header:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            pass
        else:
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class PoliteClient:
    """GET with a minimum interval between requests and patient retries.

    ``retries`` is how many times a failed request is tried again (so up to
    ``retries + 1`` attempts); the n-th retry waits ``backoff * 2**(n-1)`` seconds
    unless the server said how long with ``Retry-After``. Every wait is capped at
    ``max_wait``.
    """

    def __init__(
        self,
        *,
        interval: float = 3.0,
        retries: int = 5,
        timeout: float = 60.0,
        backoff: float = 2.0,
        max_wait: float = MAX_WAIT,
        user_agent: str = USER_AGENT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval < 0 or backoff < 0 or max_wait < 0:
            raise ValueError("interval, backoff and max_wait must not be negative")
        if retries < 0:
            raise ValueError("retries must not be negative")
        self.interval = interval
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._last_done: float | None = None
        self._http = httpx.Client(
            timeout=timeout, follow_redirects=True, headers={"User-Agent": user_agent}
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> PoliteClient:
        """A client with the interval, retries and timeout of ``settings``
        (``Settings()`` from the environment when not given)."""
        s = settings if settings is not None else Settings()
        return cls(
            interval=s.request_interval,
            retries=s.request_retries,
            timeout=s.request_timeout,
            sleep=sleep,
            clock=clock,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _wait_turn(self) -> None:
        if self._last_done is None:
            return
        wait = self._last_done + self.interval - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _backoff_delay(self, retry: int) -> float:
        return float(min(self.max_wait, self.backoff * 2 ** (retry - 1)))

    def get(self, url: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        """GET ``url`` with ``params``; return the (2xx) response or raise
        :class:`SourceError` naming the URL and the status."""
        query = dict(params) if params else None
        shown = str(httpx.URL(url).copy_merge_params(query)) if query else url
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            self._wait_turn()
            try:
                response = self._http.get(url, params=query)
            except httpx.TransportError as exc:
                self._last_done = self._clock()
                problem = f"{type(exc).__name__}: {exc}"
                delay = self._backoff_delay(attempt)
            else:
                self._last_done = self._clock()
                status = response.status_code
                if status < 400:
                    return response
                problem = f"HTTP {status} {response.reason_phrase}".rstrip()
                if not _retryable(status):
                    raise SourceError(f"GET {shown} failed: {problem}")
                delay = self._backoff_delay(attempt)
                if status in _RETRY_AFTER_STATUSES:
                    asked = retry_after_seconds(
                        response.headers.get("Retry-After"), _server_now(response)
                    )
                    if asked is not None:
                        delay = min(asked, self.max_wait)
            if attempt == attempts:
                raise SourceError(f"GET {shown} failed after {attempts} attempts: {problem}")
            log.warning(
                "GET %s: %s; retry %d of %d in %.1f s",
                shown,
                problem,
                attempt,
                self.retries,
                delay,
            )
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def post_json(
        self,
        url: str,
        body: object,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST ``body`` as JSON with the same pace, retries and ``Retry-After``
        handling as :meth:`get` (for batch endpoints such as Semantic Scholar's)."""
        query = dict(params) if params else None
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            self._wait_turn()
            try:
                response = self._http.post(
                    url, params=query, content=orjson.dumps(body), headers=_json_headers(headers)
                )
            except httpx.TransportError as exc:
                self._last_done = self._clock()
                problem, delay = f"{type(exc).__name__}: {exc}", self._backoff_delay(attempt)
            else:
                self._last_done = self._clock()
                status = response.status_code
                if status < 400:
                    return response
                problem = f"HTTP {status} {response.reason_phrase}".rstrip()
                if not _retryable(status):
                    raise SourceError(f"POST {url} failed: {problem}")
                delay = self._backoff_delay(attempt)
                if status in _RETRY_AFTER_STATUSES:
                    asked = retry_after_seconds(
                        response.headers.get("Retry-After"), _server_now(response)
                    )
                    if asked is not None:
                        delay = min(asked, self.max_wait)
            if attempt == attempts:
                raise SourceError(f"POST {url} failed after {attempts} attempts: {problem}")
            log.warning(
                "POST %s: %s; retry %d of %d in %.1f s", url, problem, attempt, self.retries, delay
            )
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def _json_headers(extra: Mapping[str, str] | None) -> dict[str, str]:
    return {"Content-Type": "application/json", **(dict(extra) if extra else {})}


@contextmanager
def client_or_default(client: PoliteClient | None) -> Iterator[PoliteClient]:
    """Use ``client`` as given (the caller closes it), or a client built from the
    default settings that is closed on exit."""
    if client is not None:
        yield client
        return
    owned = PoliteClient.from_settings()
    try:
        yield owned
    finally:
        owned.close()


def xml_root(response: httpx.Response) -> ET.Element:
    """The root element of an XML response; :class:`SourceError` when it is not
    well-formed. Documents with a DTD are refused: neither arXiv interface sends one,
    and refusing them rules out entity-expansion attacks."""
    body = response.content
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise SourceError(f"{response.url}: refusing an XML document with a DTD")
    try:
        return ET.fromstring(body)  # noqa: S314 - DTDs refused above, so no entity expansion
    except ET.ParseError as exc:
        raise SourceError(f"{response.url}: not well-formed XML ({exc})") from exc


def json_body(response: httpx.Response) -> object:
    """The decoded JSON body of a response; :class:`SourceError` when it is not JSON."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{response.url}: not valid JSON ({exc})") from exc
