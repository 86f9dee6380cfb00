"""Turning a digest's papers into a mail: multipart/alternative, plain text first, HTML
second, both from Jinja templates (HTML autoescaped: abstracts hold ``<``, ``&`` and
LaTeX), with the headers a mailing list needs (RFC 2369 / RFC 8058 one-click
unsubscribe) and a Message-ID fixed per (subscription, period)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from paperlens.paper import Paper

TEMPLATES = Path(__file__).parent / "templates"
SNIPPET_CHARS = 280

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",), default_for_string=False, default=False),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True, slots=True)
class DigestItem:
    paper_id: str
    title: str
    authors: str
    date: str
    snippet: str
    url: str
    #: Why it is here: votes, a recommendation reason, the matching search.
    note: str = ""


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    items: list[DigestItem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Links:
    """The signed links every digest carries."""

    unsubscribe: str
    manage: str
    home: str


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The first ``limit`` characters of ``text`` cut at a word, with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.") + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def item_of(paper: Paper, public_url: str, note: str = "") -> DigestItem:
    authors = ", ".join(paper.authors[:4]) + (" et al." if len(paper.authors) > 4 else "")
    day = paper.published
    return DigestItem(
        paper_id=paper.id,
        title=_one_line(paper.title),
        authors=_one_line(authors),
        date=f"{day:%b} {day.day}, {day.year}" if day else "",
        snippet=snippet(paper.abstract),
        url=f"{public_url.rstrip('/')}/paper/{quote(paper.id, safe='')}",
        note=note,
    )


def mail_domain(public_url: str) -> str:
    host = urlsplit(public_url).hostname or ""
    return host if host and all(c.isalnum() or c in ".-" for c in host) else "paperlens.invalid"


def message_id(subscription_pk: int, period: str, email: str, public_url: str) -> str:
    """The same id every time this digest is (re)sent, so a duplicate from the residual
    crash window is recognisable (and dropped by clients that dedupe on it)."""
    tag = hashlib.sha256(f"{subscription_pk}:{period}:{email}".encode()).hexdigest()[:16]
    return f"<digest.{subscription_pk}.{period}.{tag}@{mail_domain(public_url)}>"


def subject_for(frequency: str, period_label: str, count: int) -> str:
    what = "Daily" if frequency == "daily" else "Weekly"
    return f"{what} paperlens digest: {count} paper{'' if count == 1 else 's'} · {period_label}"


def digest_message(
    *,
    to: str,
    mail_from: str,
    subject: str,
    sections: list[Section],
    links: Links,
    msg_id: str,
    date: datetime,
    intro: str,
) -> EmailMessage:
    context = {"sections": sections, "links": links, "subject": subject, "intro": intro}
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = msg_id
    msg["List-Unsubscribe"] = f"<{links.unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(_env.get_template("digest.txt").render(context))
    msg.add_alternative(_env.get_template("digest.html").render(context), subtype="html")
    return msg


def confirmation_message(
    *, to: str, mail_from: str, confirm_url: str, frequency: str, date: datetime
) -> EmailMessage:
    context = {"confirm_url": confirm_url, "frequency": frequency}
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = to
    msg["Subject"] = "Confirm your paperlens digest subscription"
    msg["Date"] = format_datetime(date)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(_env.get_template("confirm.txt").render(context))
    msg.add_alternative(_env.get_template("confirm.html").render(context), subtype="html")
    return msg
