"""The GitHub REST API, for a repository's stars: ``GET {base}/repos/{owner}/{repo}``.

Each request is conditional when an ``ETag`` is known (``If-None-Match``): a ``304``
says nothing changed and does not count against the rate limit. The answer is a
:class:`RepoAnswer`; what to do with it (keep old values, pause every refresher until
the limit resets) is the caller's (:mod:`paperlens.code`). Rate limits, from GitHub's
documentation: ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (epoch seconds) on
every answer; a primary limit is ``403``/``429`` with ``X-RateLimit-Remaining: 0``, a
secondary one ``403``/``429`` with ``Retry-After`` (seconds).

An optional token (``Settings.github_token``) raises the limit from 60 to 5,000
requests an hour; it is sent only as the ``Authorization`` header, never logged, and
not part of any message this module builds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import orjson

from paperlens import __version__

USER_AGENT = f"paperlens/{__version__} (+https://github.com/paperlens)"
_OWNER_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
#: Longest pause a secondary limit may ask for that is believed.
MAX_RETRY_AFTER = timedelta(hours=2)

Status = Literal["ok", "not_modified", "gone", "rate_limited", "error"]


@dataclass(frozen=True, slots=True)
class RepoAnswer:
    status: Status
    full_name: str | None = None
    stars: int | None = None
    forks: int | None = None
    archived: bool = False
    pushed_at: datetime | None = None
    etag: str | None = None
    #: Requests left in this window, and when it resets (from the headers).
    remaining: int | None = None
    reset_at: datetime | None = None
    #: ``rate_limited``: when to try again.
    retry_at: datetime | None = None
    message: str = ""


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found.astimezone(UTC) if found.tzinfo else found.replace(tzinfo=UTC)


def _header_int(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


class GitHubClient:
    """Asks GitHub about repositories; one :class:`httpx.Client`, closed by
    :meth:`close` (or ``with``)."""

    def __init__(
        self,
        base_url: str = "https://api.github.com",
        token: str | None = None,
        *,
        timeout: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": USER_AGENT,
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(timeout=timeout, headers=headers, follow_redirects=True)
        self._clock = clock

    def __repr__(self) -> str:  # never the token
        return f"GitHubClient({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def repo(self, owner_repo: str, etag: str | None = None) -> RepoAnswer:
        """What GitHub says about ``owner/repo`` now (``etag``: the last answer's)."""
        if not _OWNER_REPO.match(owner_repo):
            return RepoAnswer("error", message=f"not a repository name: {owner_repo[:120]!r}")
        url = f"{self.base_url}/repos/{owner_repo}"
        headers = {"If-None-Match": etag} if etag else {}
        try:
            response = self._http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            return RepoAnswer("error", message=f"GET {url}: {type(exc).__name__}")
        now = self._clock()
        remaining = _header_int(response, "X-RateLimit-Remaining")
        reset = _header_int(response, "X-RateLimit-Reset")
        reset_at = datetime.fromtimestamp(reset, UTC) if reset is not None else None
        status = response.status_code

        def answer(state: Status, **values: Any) -> RepoAnswer:
            return RepoAnswer(state, remaining=remaining, reset_at=reset_at, **values)

        if status == 304:
            return answer("not_modified", etag=etag)
        if status in (403, 429):
            retry_after = _header_int(response, "Retry-After")
            if retry_after is not None:
                wait = min(timedelta(seconds=max(retry_after, 0)), MAX_RETRY_AFTER)
                return answer("rate_limited", retry_at=now + wait, message=f"HTTP {status}")
            if remaining == 0 or status == 429:
                retry_at = reset_at if reset_at and reset_at > now else now + timedelta(minutes=1)
                return answer("rate_limited", retry_at=retry_at, message=f"HTTP {status}")
            return answer("error", message=f"HTTP {status} from {url}")
        if status in (404, 410, 451):
            return answer("gone", message=f"HTTP {status}")
        if status != 200:
            return answer("error", message=f"HTTP {status} from {url}")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return answer("error", message=f"{url}: not JSON")
        if not isinstance(body, dict) or _int(body.get("stargazers_count")) is None:
            return answer("error", message=f"{url}: no stargazers_count")
        full_name = body.get("full_name")
        return answer(
            "ok",
            full_name=(
                full_name if isinstance(full_name, str) and _OWNER_REPO.match(full_name) else None
            ),
            stars=_int(body.get("stargazers_count")),
            forks=_int(body.get("forks_count")),
            archived=body.get("archived") is True,
            pushed_at=_when(body.get("pushed_at")),
            etag=response.headers.get("ETag"),
        )
