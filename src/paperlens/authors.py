"""Authors: author pages, following authors, and readers claiming authorship.

Names are matched by their folded key (:func:`paperlens.text.author_key`: accents,
case, punctuation and "Surname, Given" order do not matter), so ``Kégl, Balázs`` and
``Balazs Kegl`` are one page. Names that only share a surname and first initial
(``J. Smith``, ``John Smith``) are *offered* as possibly the same person
(:func:`~paperlens.text.author_variant`), never merged.

Invariants:

- an unknown name is an empty page, not an error (links to authors are made from
  free text, so a 404 would be the common case);
- a claim names one of the paper's printed author names (matched by key or variant),
  or carries a reason for an admin to read; one claim per reader and paper; only an
  admin turns it ``approved`` or ``rejected``, and only approved claims are public;
- a reader's "new from authors you follow" feed is reached by a signed token (the feed
  URL is secret to that reader, as feed readers send no cookies).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer

from paperlens.config import Settings
from paperlens.errors import Conflict, Invalid, NotFound, TooMany
from paperlens.store.authors import AuthorStore, Claim, NameCount
from paperlens.store.papers import PaperStore, StoredPaper
from paperlens.text import author_key, author_variant, clean_user_text

__all__ = ["AuthorPage", "Authors", "Claim", "NameCount"]

#: Longest author name accepted in a URL or form.
MAX_NAME_CHARS = 300
#: Most authors one reader may follow.
MAX_FOLLOWS = 500
MIN_REASON_CHARS = 10
MAX_REASON_CHARS = 1000
CLAIM_STATES = ("pending", "approved", "rejected")


@dataclass(frozen=True, slots=True)
class AuthorPage:
    """One page of an author's papers, newest first, with what is known of them."""

    name: str
    key: str
    #: Spellings printed on their papers, most used first.
    names: list[str]
    total: int
    page: int
    per_page: int
    papers: list[StoredPaper]
    coauthors: list[NameCount]
    categories: list[tuple[str, int]]
    #: Other names with the same surname and initial: possibly the same person.
    possibly_same: list[NameCount]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def clean_name(raw: str) -> str:
    name = clean_user_text(raw)
    if len(name) > MAX_NAME_CHARS:
        raise Invalid(f"an author name has at most {MAX_NAME_CHARS} characters")
    return name


class Authors:
    def __init__(self, store: AuthorStore, papers: PaperStore, settings: Settings) -> None:
        self.store = store
        self.papers = papers
        self.settings = settings

    # -- author pages ---------------------------------------------------------------------

    def page(self, name: str, page: int = 1, per_page: int = 50) -> AuthorPage:
        """The author called ``name`` (any spelling); an empty page when unknown."""
        if page < 1 or not 1 <= per_page <= 100:
            raise Invalid("page must be 1 or more and per_page between 1 and 100")
        name = clean_name(name)
        key = author_key(name)
        if not key:
            return AuthorPage(name, "", [], 0, page, per_page, [], [], [], [])
        total, pks = self.store.paper_pks(key, per_page, (page - 1) * per_page)
        stored = self.papers.get_by_pks(pks)
        names = self.store.names(key)
        return AuthorPage(
            name=names[0] if names else name,
            key=key,
            names=names,
            total=total,
            page=page,
            per_page=per_page,
            papers=[stored[pk] for pk in pks if pk in stored],
            coauthors=self.store.coauthors(key) if total else [],
            categories=self.store.categories(key) if total else [],
            possibly_same=self.store.variants(key, author_variant(name)),
        )

    # -- following ------------------------------------------------------------------------

    def follow(self, user_pk: int, name: str) -> str:
        """Follow the author called ``name``; returns their key (idempotent)."""
        name = clean_name(name)
        key = author_key(name)
        if not key:
            raise Invalid("an author name needs letters")
        if (
            key not in self.following_keys(user_pk)
            and self.store.follow_count(user_pk) >= MAX_FOLLOWS
        ):
            raise TooMany(f"you follow {MAX_FOLLOWS} authors already; unfollow some first")
        names = self.store.names(key)
        self.store.follow(user_pk, key, names[0] if names else name)
        return key

    def unfollow(self, user_pk: int, name: str) -> str:
        key = author_key(clean_name(name))
        self.store.unfollow(user_pk, key)
        return key

    def following(self, user_pk: int) -> list[tuple[str, str]]:
        """(key, name) of the authors the reader follows."""
        return self.store.follows(user_pk)

    def following_keys(self, user_pk: int) -> set[str]:
        return {k for k, _ in self.store.follows(user_pk)}

    def new_from_followed(
        self, user_pk: int, *, added_since: datetime | None = None, limit: int = 50
    ) -> list[StoredPaper]:
        """Papers by the authors the reader follows, newest first."""
        keys = [k for k, _ in self.store.follows(user_pk)]
        pks = self.store.new_by_keys(keys, added_since=added_since, limit=limit)
        stored = self.papers.get_by_pks(pks)
        return [stored[pk] for pk in pks if pk in stored]

    # -- the private feed's token ---------------------------------------------------------

    def _signer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.settings.resolved_secret_key, salt="paperlens.authors.feed")

    def feed_token(self, user_pk: int, created_at: datetime) -> str:
        """The secret of a reader's "followed authors" feed URL. It names the account and
        its creation time, so a deleted account's number, reused, matches nothing."""
        return str(self._signer().dumps([user_pk, created_at.isoformat()]))

    def feed_subject(self, token: str) -> tuple[int, str]:
        """(user pk, account creation time) of a feed token; :class:`NotFound` if forged."""
        if len(token) > 300:
            raise NotFound("no such feed")
        try:
            data = self._signer().loads(token)
        except BadSignature:
            raise NotFound("no such feed") from None
        if (
            not isinstance(data, list)
            or len(data) != 2
            or not isinstance(data[0], int)
            or not isinstance(data[1], str)
        ):
            raise NotFound("no such feed")
        return data[0], data[1]

    # -- claims ---------------------------------------------------------------------------

    def claim(self, user_pk: int, paper: StoredPaper, name: str, reason: str = "") -> Claim:
        """Claim to be the author ``name`` of ``paper``. The name must fold to one of the
        paper's authors (same key, else same surname and initial); otherwise a reason
        of at least :data:`MIN_REASON_CHARS` characters is needed. :class:`Conflict`
        for a second claim of the same paper."""
        name = clean_name(name)
        reason = clean_user_text(reason, multiline=True)
        if len(reason) > MAX_REASON_CHARS:
            raise Invalid(f"the reason has at most {MAX_REASON_CHARS} characters")
        printed = _match(name, paper.paper.authors)
        if printed is None:
            if not name:
                raise Invalid("say which of the paper's authors you are")
            if len(reason) < MIN_REASON_CHARS:
                raise Invalid(
                    f"{name!r} is not among this paper's authors; choose your name from the "
                    f"list, or give a reason (at least {MIN_REASON_CHARS} characters) for an "
                    "admin to review"
                )
        author_name = printed or name
        if not self.store.add_claim(user_pk, paper.pk, author_name, printed is not None, reason):
            raise Conflict("you have already claimed this paper")
        found = self.store.claims(user_pk=user_pk, paper_pk=paper.pk, limit=1)
        return found[0]

    def my_claim(self, user_pk: int, paper_pk: int) -> Claim | None:
        found = self.store.claims(user_pk=user_pk, paper_pk=paper_pk, limit=1)
        return found[0] if found else None

    def approved_claims(self, paper_pk: int) -> list[Claim]:
        return self.store.claims(status="approved", paper_pk=paper_pk)

    def claimed_author_pks(self, paper_pk: int) -> set[int]:
        """The accounts whose claim of authorship of the paper was approved (the
        discussion marks their comments "author": :class:`~paperlens.discussions.AuthorClaims`)."""
        return {c.user_pk for c in self.approved_claims(paper_pk)}

    def claims(self, status: str | None = "pending", limit: int = 200) -> list[Claim]:
        """Claims for the admins' review page (oldest first)."""
        if status is not None and status not in CLAIM_STATES:
            raise Invalid(f"status must be one of {', '.join(CLAIM_STATES)}")
        return self.store.claims(status=status, limit=limit)

    def review(
        self, claim_pk: int, approve: bool, reviewer_pk: int, reviewer_is_admin: bool
    ) -> Claim:
        """Approve or reject a claim. Only admins: the web layer checks it and so does this."""
        if not reviewer_is_admin:
            raise NotFound("no such claim")  # a non-admin learns nothing about claims
        if not self.store.review(claim_pk, "approved" if approve else "rejected", reviewer_pk):
            raise NotFound("no such claim")
        found = self.store.claim(claim_pk)
        assert found is not None
        return found


def _match(name: str, authors: Sequence[str]) -> str | None:
    """The paper's printed author name ``name`` folds to (by key first, then by
    surname and initial when exactly one author has them), else ``None``."""
    key = author_key(name)
    if not key:
        return None
    for printed in authors:
        if author_key(printed) == key:
            return printed
    variant = author_variant(name)
    same = [printed for printed in authors if author_variant(printed) == variant]
    return same[0] if len(same) == 1 else None
