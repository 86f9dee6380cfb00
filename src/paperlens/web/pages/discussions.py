"""Pages of discussions: the thread on the paper page (:func:`discussion_context`, used
by ``papers.py``), the POST forms that write, edit, delete and report comments (each
with its CSRF field; each answers with a redirect to the comment), the reader's
notifications and their mail opt-in, and the moderators' page.

Plain forms, no JavaScript needed: reply and edit forms sit in ``<details>`` under each
comment. A refused comment (empty, too long, binary, too deep, rate-limited, banned,
unverified) comes back on a page of its own with the message and the text, to fix and
send again.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from paperlens.accounts import User
from paperlens.core import StoredPaper
from paperlens.discussions import MAX_CHARS, MAX_DEPTH, Comment
from paperlens.errors import Forbidden, Invalid, PaperlensError
from paperlens.web.deps import (
    MAX_PK,
    AdminUser,
    ClientIp,
    CurrentUser,
    FormFields,
    LensDep,
    SessionUser,
    ThrottleDep,
    current_user,
    lens_of,
)
from paperlens.web.errors import status_of
from paperlens.web.pages.listing import feed_links, paper_of_form
from paperlens.web.rendering import local_path, render
from paperlens.web.security import path_pk
from paperlens.web.throttle import RateLimited

router = APIRouter(include_in_schema=False)

CommentId = Annotated[int, Path(ge=1, le=MAX_PK)]


def discussion_url(paper_id: str, comment_pk: int | None = None) -> str:
    anchor = f"#c{comment_pk}" if comment_pk else "#discussion"
    return f"/paper/{quote(paper_id, safe='/:')}{anchor}"


def feed_url(paper_id: str) -> str:
    return f"/feeds/discussion/{quote(paper_id, safe='/:')}.xml"


def _may_comment(request: Request, user: User | None) -> str:
    """Why ``user`` may not comment here ("" when they may)."""
    if user is None:
        return "login"
    try:
        lens_of(request).discussions.check_writer(user)
    except Forbidden as exc:
        return str(exc)
    return ""


def _walk(nodes: list[Comment]) -> list[Comment]:
    out: list[Comment] = []
    for c in nodes:
        out.append(c)
        out.extend(_walk(c.children))
    return out


def comment_html(c: Comment) -> Markup:
    """A comment's HTML as markup for the template. Safe: it is the output of
    :func:`paperlens.markup.render` (markdown-it-py without raw HTML, then nh3's
    allow-list), never the reader's text itself."""
    return Markup(c.html)  # noqa: S704 (sanitised by nh3 on write)


def discussion_context(request: Request, stored: StoredPaper) -> dict[str, Any]:
    """What the paper page's discussion section needs: the thread as the reader may
    see it, whether they may write (and why not), the limits, the feed link, and
    whether any comment holds math (``comment_math``: the page then loads KaTeX)."""
    lens = lens_of(request)
    user = current_user(request)
    thread = lens.discussions.thread(stored.pk, user)
    flat = _walk(thread)
    return {
        "thread": thread,
        "comment_total": sum(1 for c in flat if c.state == "visible"),
        "comment_blocked": _may_comment(request, user),
        "comment_max_chars": MAX_CHARS,
        "comment_max_depth": MAX_DEPTH,
        "comment_feed": feed_url(stored.paper.id),
        "comment_math": any("$" in c.html for c in flat),
        "comment_html": comment_html,
    }


def discussion_feed_links(paper_id: str) -> list[tuple[str, str]]:
    return feed_links(feed_url(paper_id), "Discussion")


def _refused(
    request: Request, exc: PaperlensError | RateLimited, values: dict[str, str], paper_id: str
) -> HTMLResponse:
    """The refused comment again, with the reason, to fix and send again."""
    if isinstance(exc, RateLimited):
        status, message = 429, str(exc.detail)
    else:
        status, message = status_of(exc), str(exc)
    context = {
        "message": message[:1].upper() + message[1:],
        "body": values.get("body", "")[: MAX_CHARS * 2],
        "parent": values.get("parent", ""),
        "comment_id": values.get("comment", ""),
        "paper_id": paper_id,
        "back": discussion_url(paper_id),
        "comment_max_chars": MAX_CHARS,
    }
    response = render(request, "comment_refused.html", context, status)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.post("/comments", response_class=HTMLResponse)
def post_comment(
    request: Request,
    user: CurrentUser,
    lens: LensDep,
    values: FormFields,
    throttle: ThrottleDep,
    ip: ClientIp,
    background: BackgroundTasks,
) -> Response:
    pk, key = paper_of_form(lens, values)
    raw_parent = values.get("parent", "").strip()
    parent = path_pk(raw_parent) if raw_parent else None
    try:
        if raw_parent and parent is None:
            raise Invalid("the comment to answer is not a comment number")
        throttle.hit("comment_ip", ip)
        throttle.hit("comment_account", str(user.pk))
        posted = lens.discussions.post(user, pk, values.get("body", ""), parent)
    except (PaperlensError, RateLimited) as exc:
        return _refused(request, exc, values, key)
    background.add_task(lens.discussions.send_mails, posted.mails)
    return RedirectResponse(
        discussion_url(key, posted.comment.pk), status_code=303, background=background
    )


@router.post("/comments/{comment_id}/edit", response_class=HTMLResponse)
def edit_comment(
    request: Request,
    comment_id: CommentId,
    user: CurrentUser,
    lens: LensDep,
    values: FormFields,
    throttle: ThrottleDep,
    background: BackgroundTasks,
) -> Response:
    pk, key = paper_of_form(lens, values)
    try:
        throttle.hit("edit_account", str(user.pk))
        posted = lens.discussions.edit(user, comment_id, values.get("body", ""), paper_pk=pk)
    except (PaperlensError, RateLimited) as exc:
        return _refused(request, exc, {**values, "comment": str(comment_id)}, key)
    background.add_task(lens.discussions.send_mails, posted.mails)
    return RedirectResponse(discussion_url(key, comment_id), status_code=303, background=background)


@router.post("/comments/{comment_id}/delete")
def delete_comment(
    comment_id: CommentId, user: CurrentUser, lens: LensDep, values: FormFields
) -> Response:
    pk, key = paper_of_form(lens, values)
    lens.discussions.delete(user, comment_id, paper_pk=pk)
    return RedirectResponse(discussion_url(key, comment_id), status_code=303)


@router.post("/comments/{comment_id}/report", response_class=HTMLResponse)
def report_comment(
    request: Request,
    comment_id: CommentId,
    user: CurrentUser,
    lens: LensDep,
    values: FormFields,
    throttle: ThrottleDep,
) -> Response:
    pk, key = paper_of_form(lens, values)
    throttle.hit("report_account", str(user.pk))
    lens.discussions.report(user, comment_id, values.get("reason", ""), paper_pk=pk)
    return RedirectResponse(discussion_url(key, comment_id), status_code=303)


# -- moderation --------------------------------------------------------------------------------


@router.post("/comments/{comment_id}/moderate")
def moderate(
    comment_id: CommentId, admin: AdminUser, lens: LensDep, values: FormFields
) -> Response:
    lens.discussions.moderate(admin, comment_id, values.get("action", ""))
    return RedirectResponse(local_path(values.get("next") or "/admin/comments"), status_code=303)


@router.get("/admin/comments", response_class=HTMLResponse)
def admin_comments(request: Request, admin: AdminUser, lens: LensDep) -> HTMLResponse:
    """Reported comments (most reported first) with hide, restore, delete and dismiss,
    a ban button for their authors, and the barred accounts."""
    context = {
        "reports": lens.discussions.reports(admin),
        "bans": lens.discussions.bans(admin),
        "discussion_url": discussion_url,
    }
    return render(request, "admin_comments.html", context)


@router.post("/admin/bans")
def ban(admin: AdminUser, lens: LensDep, values: FormFields) -> Response:
    target = path_pk(values.get("user", ""))
    if target is None:
        raise Invalid("name the account to ban by its number")
    if values.get("action") == "unban":
        lens.discussions.unban(admin, target)
    else:
        lens.discussions.ban(admin, target, values.get("reason", ""))
    return RedirectResponse(local_path(values.get("next") or "/admin/comments"), status_code=303)


# -- notifications -------------------------------------------------------------------------------


@router.get("/notifications", response_class=HTMLResponse)
def notifications(request: Request, user: CurrentUser, lens: LensDep) -> HTMLResponse:
    items = lens.discussions.notifications(user.pk)
    response = render(request, "notifications.html", {"items": items})
    # One reader's mentions: no shared cache may keep them (nor the browser's disk).
    response.headers["Cache-Control"] = "private, no-store"
    return response


@router.post("/notifications/read")
def mark_read(user: CurrentUser, lens: LensDep) -> Response:
    lens.discussions.mark_read(user.pk)
    return RedirectResponse("/notifications", status_code=303)


@router.get("/settings/notifications", response_class=HTMLResponse)
def notification_settings(request: Request, user: SessionUser, lens: LensDep) -> HTMLResponse:
    context = {
        "mail_mentions": lens.discussions.mail_mentions(user.pk),
        "verified": user.email_verified,
        "saved": request.query_params.get("done") == "saved",
    }
    return render(request, "notification_settings.html", context)


@router.post("/settings/notifications")
def save_notification_settings(user: SessionUser, lens: LensDep, values: FormFields) -> Response:
    lens.discussions.set_mail_mentions(user.pk, values.get("mail_mentions") == "1")
    return RedirectResponse("/settings/notifications?done=saved", status_code=303)
