"""Code and artifact links found in a paper's own text: GitHub, GitLab, Hugging Face
models/datasets/Spaces, Zenodo records and project pages.

Abstracts and arXiv comments are text a submitter typed (often LaTeX: ``\\url{...}``,
``\\_``), so a link found there is treated as hostile until proven otherwise. The
invariants, each tested in ``tests/test_links.py``:

- Only ``http``/``https`` URLs count; ``javascript:``, ``data:`` and every other scheme
  are never links.
- A link's host must be plain ASCII DNS labels (no IDN/punycode, no IP literal, no port,
  no ``user@`` part, no percent-escapes or backslashes), so a look-alike such as
  ``github.com.evil.io``, ``gіthub.com`` (Cyrillic ``і``) or ``https://github.com@evil.io``
  is never taken for GitHub, and a look-alike of a known host is not even a project page.
- The ``href`` shown to a reader is **rebuilt** from the validated parts
  (``https://github.com/{owner}/{repo}``), never the text as typed, so what the link says
  is where it goes.

:func:`find_links` returns :class:`Link` values, de-duplicated by ``key`` in order of
appearance; :func:`classify_url` checks one URL (e.g. Hugging Face's ``githubRepo``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote, urlsplit

#: Kinds that make a paper "have code" (the badge and the ``has_code`` filter).
CODE_KINDS = frozenset({"github", "gitlab"})
#: Kinds of Hugging Face artifacts.
HF_KINDS = frozenset({"hf-model", "hf-dataset", "hf-space"})
KIND_LABELS = {
    "github": "GitHub",
    "gitlab": "GitLab",
    "hf-model": "Model",
    "hf-dataset": "Dataset",
    "hf-space": "Space",
    "zenodo": "Zenodo",
    "project": "Project page",
    "website": "Website",
}
#: The longest URL considered (longer ones are not links anyone meant).
MAX_URL_CHARS = 500

_GITHUB_HOSTS = {"github.com", "www.github.com"}
_GITLAB_HOSTS = {"gitlab.com", "www.gitlab.com"}
_HF_HOSTS = {"huggingface.co", "www.huggingface.co", "hf.co"}
_ZENODO_HOSTS = {"zenodo.org", "www.zenodo.org"}
#: Labels of well-known hosts: a host that contains one but is not the real host is a
#: look-alike (``github.com.evil.io``, ``github-com.io``) and never shown.
_BRANDS = ("github", "gitlab", "huggingface", "hf", "zenodo", "arxiv")
#: First path segments of github.com that are pages, not users.
_GITHUB_RESERVED = {
    "about",
    "orgs",
    "topics",
    "features",
    "sponsors",
    "settings",
    "marketplace",
    "explore",
    "login",
    "join",
    "search",
    "collections",
    "trending",
    "apps",
    "enterprise",
    "pricing",
    "site",
    "security",
    "notifications",
    "issues",
    "pulls",
}
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_HF_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PATH_OK = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@/%-]*$")

#: Candidates: an explicit http(s) URL, or a bare ``github.com/...`` style mention.
#: Stops at whitespace, quotes, angle brackets, braces and backslashes (LaTeX).
_URL_CHARS = r"[^\s<>\"'{}|\\^`\[\]]"
_CANDIDATE = re.compile(
    rf"(?:(?<![A-Za-z0-9+.-])https?://{_URL_CHARS}+)"
    rf"|(?:(?<![A-Za-z0-9@./:-])(?:www\.)?(?:github\.com|gitlab\.com|huggingface\.co|hf\.co|zenodo\.org)/{_URL_CHARS}+)",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}'\"*"
#: Every candidate contains one of these: a plain substring test (C speed) skips the
#: regex for the many abstracts without any link.
_NEEDLES = ("http", "github.com", "gitlab.com", "huggingface.co", "hf.co", "zenodo.org")


def _maybe_links(text: str) -> bool:
    low = text.lower()
    return any(n in low for n in _NEEDLES)


@dataclass(frozen=True, slots=True)
class Link:
    """One validated link. ``url`` is rebuilt from checked parts (safe as an ``href``);
    ``key`` identifies the thing linked (``github:owner/repo``, lower-cased) so the
    same repository typed twice is one link."""

    kind: str
    url: str
    key: str
    #: ``owner/repo`` (GitHub, GitLab), ``owner/name`` (Hugging Face), the record id
    #: (Zenodo), or the host (project pages).
    name: str

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, "Link")

    @property
    def is_code(self) -> bool:
        return self.kind in CODE_KINDS


def _clean_host(netloc: str) -> str | None:
    """The lower-cased host of ``netloc`` if it is plain ASCII DNS labels, else None."""
    if not netloc or "@" in netloc or "%" in netloc or ":" in netloc:
        return None  # userinfo, escapes or a port: nothing a paper needs
    if not netloc.isascii():
        return None  # IDN / homoglyph: never guessed at
    host = netloc.lower().rstrip(".")
    labels = host.split(".")
    if len(labels) < 2 or len(host) > 253:
        return None
    if any(not _LABEL.match(label) or label.startswith("xn--") for label in labels):
        return None
    if labels[-1].isdigit():
        return None  # an IP address
    return host


def _is_lookalike(host: str) -> bool:
    known = _GITHUB_HOSTS | _GITLAB_HOSTS | _HF_HOSTS | _ZENODO_HOSTS
    if host in known or host.endswith((".github.io", ".gitlab.io", ".hf.space")):
        return False
    parts = re.split(r"[.-]", host)
    return any(brand in parts for brand in _BRANDS) and not host.endswith(".arxiv.org")


def _segments(path: str) -> list[str] | None:
    """Decoded, non-empty path segments; None if the path holds anything odd."""
    if not _PATH_OK.match(path):
        return None
    segs = [unquote(s) for s in path.split("/") if s]
    for s in segs:
        if not s.isascii() or any(unicodedata.category(c).startswith("C") for c in s):
            return None
    return segs


def _repo_name(raw: str) -> str | None:
    name = raw[:-4] if raw.lower().endswith(".git") else raw
    if not _REPO.match(name) or name in {".", ".."}:
        return None
    return name


def classify_url(raw: str) -> Link | None:
    """A :class:`Link` for one URL, or None when it is not a safe link of a known kind
    (or a plausible project page)."""
    if not raw or len(raw) > MAX_URL_CHARS or not raw.isascii():
        return None
    if any(c.isspace() or ord(c) < 32 or c == "\\" for c in raw):
        return None
    candidate = raw if re.match(r"^https?://", raw, re.IGNORECASE) else None
    if candidate is None:
        if re.match(r"^[a-z][a-z0-9+.-]*:", raw, re.IGNORECASE) and not raw.lower().startswith(
            ("github.com", "gitlab.com", "huggingface.co", "hf.co", "zenodo.org", "www.")
        ):
            return None  # javascript:, data:, mailto:, ...
        candidate = "https://" + raw
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"}:
        return None
    host = _clean_host(parts.netloc)
    if host is None:
        return None
    segs = _segments(parts.path)
    if segs is None:
        return None
    if host in _GITHUB_HOSTS or host in _GITLAB_HOSTS:
        kind = "github" if host in _GITHUB_HOSTS else "gitlab"
        if len(segs) < 2 or segs[0].lower() in _GITHUB_RESERVED:
            return None
        owner, repo = segs[0], _repo_name(segs[1])
        if repo is None or not _OWNER.match(owner):
            return None
        canonical = "github.com" if kind == "github" else "gitlab.com"
        return Link(
            kind,
            f"https://{canonical}/{owner}/{repo}",
            f"{kind}:{owner.lower()}/{repo.lower()}",
            f"{owner}/{repo}",
        )
    if host in _HF_HOSTS:
        return _hf_link(segs)
    if host in _ZENODO_HOSTS:
        if len(segs) >= 2 and segs[0] in {"record", "records"} and segs[1].isdigit():
            return Link(
                "zenodo", f"https://zenodo.org/records/{segs[1]}", f"zenodo:{segs[1]}", segs[1]
            )
        return None
    if host == "doi.org" and len(segs) >= 2 and segs[0] == "10.5281":
        m = re.match(r"^zenodo\.(\d+)$", segs[1])
        if m:
            rid = m.group(1)
            return Link("zenodo", f"https://zenodo.org/records/{rid}", f"zenodo:{rid}", rid)
        return None
    if _is_lookalike(host) or host.endswith(("arxiv.org", "doi.org")):
        return None  # arXiv and DOI links are the paper's own, shown apart
    # Any other site: a project page or website, rebuilt from the checked host and path
    # (its scheme kept: old academic pages are often http only).
    path = "/".join(quote(s, safe="._~-") for s in segs)
    scheme = parts.scheme.lower()
    url = f"{scheme}://{host}/{path}" if path else f"{scheme}://{host}/"
    if parts.path.endswith("/") and path:
        url += "/"
    projecty = host.endswith((".github.io", ".gitlab.io")) or "project" in f"{host}/{path}".lower()
    kind = "project" if projecty else "website"
    return Link(kind, url, f"web:{host}/{path.lower()}".rstrip("/"), host)


def _hf_link(segs: list[str]) -> Link | None:
    if not segs:
        return None
    kinds = {"datasets": "hf-dataset", "spaces": "hf-space"}
    if segs[0] in kinds:
        kind, rest, prefix = kinds[segs[0]], segs[1:], segs[0] + "/"
    elif segs[0] in {"papers", "docs", "blog", "api", "models", "collections", "organizations"}:
        return None
    else:
        kind, rest, prefix = "hf-model", segs, ""
    if len(rest) < 2 or not (_HF_NAME.match(rest[0]) and _HF_NAME.match(rest[1])):
        return None
    name = f"{rest[0]}/{rest[1]}"
    return Link(kind, f"https://huggingface.co/{prefix}{name}", f"{kind}:{name.lower()}", name)


def _unlatex(text: str) -> str:
    # ``\url{https://github.com/a/b\_c}`` -> the URL with its underscores back.
    return text.replace("\\_", "_").replace("\\~", "~").replace("\\%", "%").replace("\\#", "#")


def _trim(candidate: str) -> str:
    """Drop trailing punctuation a sentence put after a URL, keeping balanced ``)``."""
    while candidate and candidate[-1] in _TRAILING:
        if candidate[-1] == ")" and candidate.count("(") >= candidate.count(")"):
            break
        candidate = candidate[:-1]
    return candidate


def find_links(*texts: str | None) -> list[Link]:
    """Every safe code/artifact/project link in ``texts``, first mention first, one per
    ``key``."""
    found: dict[str, Link] = {}
    for text in texts:
        if not text or not _maybe_links(text):
            continue  # most abstracts: one fast scan, no candidate regex
        for m in _CANDIDATE.finditer(_unlatex(text)):
            link = classify_url(_trim(m.group(0)))
            if link is not None and link.key not in found:
                found[link.key] = link
    return list(found.values())


def paper_links(abstract: str, comments: str | None, links: dict[str, str]) -> list[Link]:
    """A paper's links: Hugging Face's ``code``/``project`` fields first (stored in
    ``Paper.links`` by the daily-papers import), then the abstract and comments."""
    given = [classify_url(links.get("code") or ""), classify_url(links.get("project") or "")]
    if given[1] is not None and given[1].kind == "website":
        given[1] = replace(given[1], kind="project")  # Hugging Face says it is one
    out: dict[str, Link] = {}
    for link in [*given, *find_links(abstract, comments)]:
        if link is not None and link.key not in out:
            out[link.key] = link
    return list(out.values())


def has_code(links: Iterable[Link]) -> bool:
    return any(link.is_code for link in links)
