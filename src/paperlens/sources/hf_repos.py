"""Hugging Face models, datasets and Spaces that cite an arXiv paper:
``GET {base}/api/arxiv/{id}/repos`` answers ``{"models": [...], "datasets": [...],
"spaces": [...]}``, each item ``{"id": "owner/name", "likes": n, ...}``.

Each id becomes a :class:`paperlens.links.Link` built from the validated name (so the
``href`` is always ``https://huggingface.co/...``), with its likes. Malformed items are
skipped, never fatal: the list is a courtesy, not a record.
"""

from __future__ import annotations

from paperlens.links import Link, classify_url
from paperlens.sources.base import SourceError
from paperlens.sources.http import PoliteClient, json_body

#: Most artifacts of each kind kept per paper (the most liked first).
MAX_PER_KIND = 20
_PREFIX = {"models": "", "datasets": "datasets/", "spaces": "spaces/"}


def parse_repos(body: object) -> list[tuple[Link, int | None]]:
    """The answer's artifacts as (link, likes), most liked first within each kind."""
    if not isinstance(body, dict):
        raise SourceError("expected a JSON object with models, datasets and spaces")
    out: list[tuple[Link, int | None]] = []
    for field, prefix in _PREFIX.items():
        items = body.get(field)
        found: list[tuple[Link, int | None]] = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            link = classify_url(f"https://huggingface.co/{prefix}{item['id']}")
            if link is None:
                continue
            likes = item.get("likes")
            ok = isinstance(likes, int) and not isinstance(likes, bool) and likes >= 0
            found.append((link, likes if ok else None))
        found.sort(key=lambda x: -(x[1] or 0))
        out.extend(found[:MAX_PER_KIND])
    return out


def fetch_repos(
    client: PoliteClient, base_url: str, arxiv_id: str
) -> list[tuple[Link, int | None]]:
    """Ask Hugging Face which repositories cite ``arxiv_id`` (SourceError on failure)."""
    response = client.get(f"{base_url.rstrip('/')}/api/arxiv/{arxiv_id}/repos")
    return parse_repos(json_body(response))
