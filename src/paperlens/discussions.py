"""Discussions on papers: threaded comments in Markdown with LaTeX, @mentions that
notify, reports, moderation and bans. Front ends reach it as ``PaperLens.discussions``.

Comments
--------
A comment answers a paper (``parent_pk=None``, depth 0) or another comment on the same
paper (depth = parent's + 1, below :data:`MAX_DEPTH`). Its Markdown source is stored as
written (after :func:`paperlens.text.clean_user_text`), with its HTML rendered **on
write** by :func:`paperlens.markup.render` (markdown-it-py, then the nh3 sanitiser):
reading a thread renders nothing, and stored HTML of an older ``RENDER_VERSION`` is
rendered again when read. Refused with a message (:class:`~paperlens.errors.Invalid`):
an empty body, one over :data:`MAX_CHARS` characters, control characters (binary
data), a reply past the depth limit or to a deleted or hidden comment.

- **Edit**: the author only; the comment gets an "edited" mark and time.
- **Delete**: the author, or a moderator; the text is erased but the row stays, so
  the replies keep their place under a "[deleted]" stub.
- **Hide / restore**: moderators; a hidden comment shows as "[hidden by a moderator]"
  to everyone but admins. Acting on a comment closes its reports.
- **Report**: once per reader and comment (a second is a :class:`Conflict`).
- **Ban**: an admin bars an account from writing comments, editing and reporting
  (:class:`~paperlens.errors.Forbidden`).
- **Who may write**: with ``Settings.comments_require_verified`` (the default) only
  readers who verified their address: it costs a spammer a working mailbox per
  account, and makes a first-comment hold unnecessary. Rate limits per account and
  per address are the web front end's (``web/throttle.py``).

Mentions
--------
``@handle``, where a reader's handle is their display name with spaces as
underscores (``@Ada_Lovelace``), case-insensitive. A handle that names no reader, or
more than one, stays plain text and notifies nobody. A mention adds a notification on
the reader's page and, if they opted in (``notification_prefs``) and verified their
address, a mail; a reply notifies the parent's author the same way on the page. An
edit notifies only readers newly mentioned. Mails are returned to the caller
(:class:`Posted`), which sends them after answering (no request waits on SMTP).

Authors
-------
Readers whose claim of authorship of a paper was approved are marked "author" in its
thread. This service asks an :class:`AuthorClaims` for them; until the claims feature
is wired in, :class:`NoClaims` answers an empty set.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Literal, Protocol
from urllib.parse import quote

from paperlens.accounts import User
from paperlens.config import Settings
from paperlens.errors import Conflict, Forbidden, Invalid, NotFound
from paperlens.mail import Mailer, MailError
from paperlens.markup import RENDER_VERSION, handle_of, mention_candidates, render
from paperlens.store.discussions import (
    DELETED,
    HIDDEN,
    VISIBLE,
    Ban,
    CommentRecord,
    DiscussionStore,
    NotificationRecord,
    ReportedComment,
)
from paperlens.store.papers import PaperStore
from paperlens.store.schema import utcnow
from paperlens.text import clean_user_text

log = logging.getLogger(__name__)

#: Replies nest at most this many levels (depth 0 .. MAX_DEPTH - 1).
MAX_DEPTH = 6
MAX_CHARS = 10_000
MAX_REASON_CHARS = 500
#: Handles looked up per comment; more mentions stay text.
MAX_MENTIONS = 20
MAX_NOTIFICATIONS = 100
#: Control characters refused in a comment (tab, newline and carriage return are text).
_BINARY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Action = Literal["hide", "restore", "delete", "dismiss"]
ACTIONS: tuple[Action, ...] = ("hide", "restore", "delete", "dismiss")


class AuthorClaims(Protocol):
    """Who is a paper's claimed author (the claims feature answers it)."""

    def claimed_author_pks(self, paper_pk: int) -> set[int]: ...


class NoClaims:
    """No claims: nobody is marked as an author (a Discussions without a claims source)."""

    def claimed_author_pks(self, paper_pk: int) -> set[int]:
        return set()


@dataclass(slots=True)
class Comment:
    """A comment as one reader sees it. ``html`` is safe markup ("" for a deleted or,
    to non-admins, a hidden one); ``body`` is the source, for its author's edit form."""

    pk: int
    paper_pk: int
    parent_pk: int | None
    depth: int
    state: str
    author_pk: int | None
    author_name: str
    is_author: bool
    html: str
    body: str
    created_at: datetime
    edited_at: datetime | None
    mine: bool = False
    reported: bool = False
    children: list[Comment] = field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return self.state == DELETED

    @property
    def hidden(self) -> bool:
        return self.state == HIDDEN

    @property
    def placeholder(self) -> str:
        """What shows in place of the text: "[deleted]", "[hidden by a moderator]"."""
        if self.deleted:
            return "[deleted]"
        if self.hidden and not self.html:
            return "[hidden by a moderator]"
        return ""


@dataclass(frozen=True, slots=True)
class Posted:
    """A written or edited comment and the mails its mentions ask for (to send after
    answering the request)."""

    comment: Comment
    mails: list[EmailMessage]


@dataclass(frozen=True, slots=True)
class Notification:
    pk: int
    kind: str
    created_at: datetime
    unread: bool
    comment_pk: int
    paper_id: str
    paper_title: str
    actor_name: str

    @property
    def url(self) -> str:
        return f"/paper/{quote(self.paper_id, safe='/:')}#c{self.comment_pk}"


def check_body(text: str) -> str:
    """The comment text to store: control characters refused, cleaned, not empty,
    at most :data:`MAX_CHARS` characters. :class:`Invalid` says what is wrong."""
    if _BINARY.search(text):
        raise Invalid("the comment holds control characters (binary data?); send plain text")
    cleaned = clean_user_text(text, multiline=True)
    if not cleaned:
        raise Invalid("the comment is empty: write something")
    if len(cleaned) > MAX_CHARS:
        raise Invalid(f"the comment is too long ({len(cleaned)} characters; at most {MAX_CHARS})")
    return cleaned


class Discussions:
    """Comments, mentions, reports and moderation (see the module docstring)."""

    def __init__(
        self,
        store: DiscussionStore,
        papers: PaperStore,
        settings: Settings,
        claims: AuthorClaims | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.papers = papers
        self.settings = settings
        self.claims: AuthorClaims = claims or NoClaims()
        self.clock = clock

    def claimed_author_pks(self, paper_pk: int) -> set[int]:
        """Readers marked "author" on the paper (an empty set until claims exist)."""
        return self.claims.claimed_author_pks(paper_pk)

    # -- reading ---------------------------------------------------------------------------

    def _fresh_html(self, rec: CommentRecord) -> str:
        if rec.state == DELETED or rec.html_version == RENDER_VERSION:
            return rec.html
        html = render(rec.body, self._resolve(rec.body, rec.user_pk))
        self.store.set_body(rec.pk, rec.body, html, RENDER_VERSION, None)
        return html

    def _view(self, rec: CommentRecord, viewer: User | None, authors: set[int]) -> Comment:
        admin = viewer is not None and viewer.is_admin
        mine = viewer is not None and rec.user_pk == viewer.pk
        shown = rec.state == VISIBLE or (rec.state == HIDDEN and admin)
        html = self._fresh_html(rec) if shown else ""
        return Comment(
            pk=rec.pk,
            paper_pk=rec.paper_pk,
            parent_pk=rec.parent_pk,
            depth=rec.depth,
            state=rec.state,
            author_pk=None if rec.state == DELETED else rec.user_pk,
            author_name=(
                "[deleted]"
                if rec.state == DELETED
                else (rec.author_name if rec.author_name is not None else "deleted reader")
            ),
            is_author=rec.state != DELETED and rec.user_pk in authors,
            html=html,
            body=rec.body if mine and rec.state == VISIBLE else "",
            created_at=rec.created_at,
            edited_at=rec.edited_at,
            mine=mine,
        )

    def thread(self, paper_pk: int, viewer: User | None = None) -> list[Comment]:
        """The paper's comments as trees (top-level comments oldest first, each with
        its ``children``), as ``viewer`` may see them."""
        records = self.store.thread(paper_pk)
        authors = self.claimed_author_pks(paper_pk) if records else set()
        views = {r.pk: self._view(r, viewer, authors) for r in records}
        if viewer is not None and views:
            for pk in self.store.reported_by(viewer.pk, views):
                views[pk].reported = True
        roots: list[Comment] = []
        for c in views.values():
            parent = views.get(c.parent_pk) if c.parent_pk is not None else None
            (parent.children if parent is not None else roots).append(c)
        return roots

    def flat(self, paper_pk: int, viewer: User | None = None) -> list[Comment]:
        """The thread in reading order (each comment before its replies), flattened."""
        out: list[Comment] = []

        def walk(nodes: list[Comment]) -> None:
            for c in nodes:
                out.append(c)
                walk(c.children)

        walk(self.thread(paper_pk, viewer))
        return out

    def check_on(self, comment_pk: int, paper_pk: int) -> None:
        """:class:`NotFound` unless comment ``comment_pk`` is on paper ``paper_pk``."""
        self._record(comment_pk, paper_pk)

    def comment(self, comment_pk: int, viewer: User | None = None) -> Comment:
        rec = self._record(comment_pk)
        return self._view(rec, viewer, self.claimed_author_pks(rec.paper_pk))

    def recent(self, paper_pk: int, limit: int = 50) -> list[Comment]:
        """The newest visible comments, newest first (for the paper's feed)."""
        records = self.store.recent(paper_pk, limit)
        authors = self.claimed_author_pks(paper_pk) if records else set()
        return [self._view(r, None, authors) for r in records]

    def counts(self, paper_pks: Iterable[int]) -> dict[int, int]:
        """Visible comments per paper, in one query per 900 papers (absent: none)."""
        return self.store.counts(paper_pks)

    def _record(self, comment_pk: int, paper_pk: int | None = None) -> CommentRecord:
        rec = self.store.get(comment_pk) if 0 < comment_pk <= 2**31 - 1 else None
        if rec is None or (paper_pk is not None and rec.paper_pk != paper_pk):
            raise NotFound(f"no comment {comment_pk} on this paper")
        return rec

    # -- writing ---------------------------------------------------------------------------

    def check_writer(self, user: User) -> None:
        """:class:`Forbidden` unless ``user`` may write comments now."""
        if self.store.is_banned(user.pk):
            raise Forbidden("your account may not comment: an administrator barred it")
        if self.settings.comments_require_verified and not user.email_verified:
            raise Forbidden(
                "verify your email address before commenting (Settings can send the link again)"
            )

    def post(self, user: User, paper_pk: int, body: str, parent_pk: int | None = None) -> Posted:
        """A new comment on ``paper_pk`` (a reply to ``parent_pk`` when given)."""
        self.check_writer(user)
        text = check_body(body)
        depth = 0
        if parent_pk is not None:
            parent = self._record(parent_pk, paper_pk)
            if parent.state != VISIBLE:
                raise Invalid("that comment was deleted or hidden: it takes no replies")
            depth = parent.depth + 1
            if depth >= MAX_DEPTH:
                raise Invalid(
                    f"replies nest at most {MAX_DEPTH} levels deep: answer higher up the thread"
                )
        mentioned = self._resolve(text, user.pk)
        now = self.clock()
        pk = self.store.insert(
            paper_pk=paper_pk,
            parent_pk=parent_pk,
            user_pk=user.pk,
            depth=depth,
            body=text,
            html=render(text, mentioned),
            html_version=RENDER_VERSION,
            now=now,
        )
        rec = self._record(pk)
        mails = self._notify(rec, user, set(mentioned.values()), now)
        if parent_pk is not None:
            parent = self._record(parent_pk)
            if parent.user_pk is not None and parent.user_pk != user.pk:
                self.store.notify(parent.user_pk, pk, "reply", now)
        return Posted(self._view(rec, user, self.claimed_author_pks(paper_pk)), mails)

    def edit(self, user: User, comment_pk: int, body: str, paper_pk: int | None = None) -> Posted:
        """Change ``user``'s own comment; it gets the "edited" mark. Readers mentioned
        for the first time are notified."""
        rec = self._record(comment_pk, paper_pk)
        if rec.user_pk != user.pk:
            raise Forbidden("only its author may edit a comment")
        self.check_writer(user)
        if rec.state != VISIBLE:
            raise Conflict("a deleted or hidden comment cannot be edited")
        text = check_body(body)
        mentioned = self._resolve(text, user.pk)
        now = self.clock()
        if text != rec.body:
            self.store.set_body(rec.pk, text, render(text, mentioned), RENDER_VERSION, now)
        rec = self._record(comment_pk)
        mails = self._notify(rec, user, set(mentioned.values()), now)
        return Posted(self._view(rec, user, self.claimed_author_pks(rec.paper_pk)), mails)

    def delete(self, user: User, comment_pk: int, paper_pk: int | None = None) -> Comment:
        """Delete a comment: its author, or an admin (as moderation). The text goes;
        the "[deleted]" stub keeps the thread's shape. Deleting twice is a no-op."""
        rec = self._record(comment_pk, paper_pk)
        if rec.user_pk != user.pk and not user.is_admin:
            raise Forbidden("only its author or an administrator may delete a comment")
        if rec.state != DELETED:
            self.store.set_state(rec.pk, DELETED, self.clock(), resolve=user.is_admin)
        return self.comment(rec.pk, user)

    def report(
        self, user: User, comment_pk: int, reason: str = "", paper_pk: int | None = None
    ) -> None:
        """Report a comment to the moderators (once per reader)."""
        rec = self._record(comment_pk, paper_pk)
        if self.store.is_banned(user.pk):
            raise Forbidden("your account may not report comments: an administrator barred it")
        if rec.user_pk == user.pk:
            raise Invalid("you cannot report your own comment; edit or delete it instead")
        if rec.state == DELETED:
            raise Invalid("that comment was deleted already")
        why = clean_user_text(reason)
        if len(why) > MAX_REASON_CHARS:
            raise Invalid(f"the reason is too long (at most {MAX_REASON_CHARS} characters)")
        if not self.store.report(rec.pk, user.pk, why, self.clock()):
            raise Conflict("you already reported this comment")

    # -- moderation ------------------------------------------------------------------------

    @staticmethod
    def _admin(user: User) -> None:
        if not user.is_admin:
            raise Forbidden("only an administrator may moderate comments")

    def moderate(self, admin: User, comment_pk: int, action: str) -> Comment:
        """``hide``, ``restore``, ``delete`` or ``dismiss`` (the reports) a comment;
        each closes its open reports."""
        self._admin(admin)
        if action not in ACTIONS:
            raise Invalid("action must be hide, restore, delete or dismiss")
        rec = self._record(comment_pk)
        now = self.clock()
        if action == "dismiss":
            self.store.resolve(rec.pk, now)
        elif action == "restore":
            if rec.state == DELETED:
                raise Conflict("a deleted comment cannot be restored: its text is gone")
            self.store.set_state(rec.pk, VISIBLE, now, resolve=True)
        elif rec.state != DELETED:
            self.store.set_state(rec.pk, HIDDEN if action == "hide" else DELETED, now, resolve=True)
        return self.comment(rec.pk, admin)

    def reports(self, admin: User, limit: int = 100) -> list[ReportedComment]:
        """Comments with open reports, most reported first."""
        self._admin(admin)
        return self.store.open_reports(limit)

    def ban(self, admin: User, user_pk: int, reason: str = "") -> bool:
        """Bar an account from commenting; whether it was not barred before."""
        self._admin(admin)
        if user_pk == admin.pk:
            raise Invalid("you cannot ban yourself")
        banned = self.store.ban(
            user_pk, admin.pk, clean_user_text(reason)[:MAX_REASON_CHARS], self.clock()
        )
        if banned is None:  # (an unknown number used to fail the foreign key: a 500)
            raise NotFound(f"no account {user_pk}")
        return banned

    def unban(self, admin: User, user_pk: int) -> bool:
        self._admin(admin)
        return self.store.unban(user_pk)

    def bans(self, admin: User) -> list[Ban]:
        self._admin(admin)
        return self.store.bans()

    def is_banned(self, user_pk: int) -> bool:
        return self.store.is_banned(user_pk)

    # -- mentions and notifications --------------------------------------------------------

    def _resolve(self, text: str, author_pk: int | None) -> dict[str, int]:
        """Handle (case-folded) -> reader for each mention in ``text`` naming exactly
        one reader (the author mentioning themself included: it renders, never
        notifies)."""
        handles = sorted(mention_candidates(text))[:MAX_MENTIONS]
        if not handles:
            return {}
        wanted = set(handles)
        found: dict[str, set[int]] = {}
        for pk, name in self.store.users_by_handle(handles):
            key = handle_of(name).casefold()
            if key in wanted:
                found.setdefault(key, set()).add(pk)
        return {k: next(iter(v)) for k, v in found.items() if len(v) == 1}

    def _notify(
        self, rec: CommentRecord, author: User, mentioned: set[int], now: datetime
    ) -> list[EmailMessage]:
        fresh = [
            pk
            for pk in sorted(mentioned - {author.pk})
            if self.store.notify(pk, rec.pk, "mention", now)
        ]
        if not fresh:
            return []
        stored = self.papers.get_by_pks([rec.paper_pk]).get(rec.paper_pk)
        if stored is None:
            return []
        return [
            self._mention_mail(
                t.email, author.public_name, stored.paper.id, stored.paper.title, rec
            )
            for t in self.store.mail_targets(fresh)
        ]

    def _mention_mail(
        self, to: str, who: str, paper_id: str, title: str, rec: CommentRecord
    ) -> EmailMessage:
        base = self.settings.public_url.rstrip("/")
        link = f"{base}/paper/{quote(paper_id, safe='/:')}#c{rec.pk}"
        title = " ".join(title.split())
        quoted = "\n".join("> " + line for line in rec.body[:1000].splitlines())
        msg = EmailMessage()
        msg["To"] = to
        msg["Subject"] = f"{who} mentioned you on “{title[:120]}”"
        msg.set_content(
            f"{who} mentioned you in a comment on “{title}”:\n\n{quoted}\n\n"
            f"Read and answer it: {link}\n\n"
            f"You get these mails because you asked for them; turn them off in "
            f"{base}/settings/notifications\n"
        )
        return msg

    def send_mails(self, mails: Iterable[EmailMessage]) -> int:
        """Send mention mails (in the background, after the answer); a failure is
        logged, never raised: the page notification is there either way. Returns how
        many went out."""
        sent = 0
        mailer = Mailer(self.settings)
        for message in mails:
            try:
                mailer.send(message)
                sent += 1
            except MailError as exc:
                log.warning("mention mail to %s not sent: %s", message.get("To", "?"), exc)
        return sent

    def notifications(self, user_pk: int, limit: int = MAX_NOTIFICATIONS) -> list[Notification]:
        return [self._notification(n) for n in self.store.notifications(user_pk, limit)]

    @staticmethod
    def _notification(n: NotificationRecord) -> Notification:
        return Notification(
            n.pk,
            n.kind,
            n.created_at,
            n.read_at is None,
            n.comment_pk,
            n.paper_id,
            " ".join(n.paper_title.split()),
            n.actor_name or "deleted reader",
        )

    def unread_count(self, user_pk: int) -> int:
        return self.store.unread_count(user_pk)

    def mark_read(self, user_pk: int) -> int:
        return self.store.mark_read(user_pk, self.clock())

    def mail_mentions(self, user_pk: int) -> bool:
        return self.store.mail_mentions(user_pk)

    def set_mail_mentions(self, user_pk: int, on: bool) -> None:
        self.store.set_mail_mentions(user_pk, on, self.clock())
