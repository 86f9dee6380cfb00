"""What paper listings and the paper page need from the community features: vote
counts (one query per page), the reader's own votes and saves, the submitter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Request

from paperlens.web.auth import current_user, lens_of


def listing_context(request: Request, pks: Iterable[int]) -> dict[str, Any]:
    """``votes`` (pk -> count) and, for a signed-in reader, ``my_votes`` and
    ``my_saved`` (sets of pks), for the vote and save buttons of ``paper_item``."""
    wanted = list(pks)
    lens = lens_of(request)
    user = current_user(request)
    return {
        "votes": lens.community.counts(wanted),
        "my_votes": lens.community.voted_by(user.pk, wanted) if user else set(),
        "my_saved": lens.library.saved_among(user.pk, wanted) if user else set(),
    }


def paper_extras(request: Request, paper_pk: int) -> dict[str, Any]:
    """The paper page's community parts: who submitted it, the reader's collections."""
    lens = lens_of(request)
    user = current_user(request)
    return {
        "submission": lens.community.submission(paper_pk),
        "my_collections": lens.library.collections(user.pk) if user else [],
        **listing_context(request, [paper_pk]),
    }
