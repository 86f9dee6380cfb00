"""The REST API of discussions: ``/api/v1/papers/{id}/comments`` (list, post; one
comment: get, edit, delete, report, and moderate for admins) and
``/api/v1/notifications`` (the reader's mentions and replies).

Reading a thread needs no account (a signed-in reader also gets ``mine`` and, for
their own comments, the Markdown ``body``). Writing acts for the signed-in reader
(session with a CSRF token, or an ``Authorization: Bearer`` API token with the write
scope): posts are rate-limited per account and per address, edits and reports per
account (an edit may mention new readers); only the author edits, the author or an
admin deletes. Notifications are sent with ``Cache-Control: private, no-store``.
Refusals (empty, too long, binary, too deep, not yours, banned, unverified) come from
:mod:`paperlens.discussions` and are mapped by ``web/errors.py``. Mention mails go out
after the answer.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Path, Response
from fastapi.responses import JSONResponse

from paperlens.web.api import paper_key
from paperlens.web.api import schemas as s
from paperlens.web.api.schemas import AUTH, error_doc
from paperlens.web.deps import MAX_PK, ClientIp, CurrentUser, LensDep, OptionalUser, ThrottleDep

router = APIRouter(prefix="/api/v1", tags=["discussions"], responses=s.BAD_INPUT)

CommentId = Annotated[int, Path(ge=1, le=MAX_PK, description="The comment's number.")]
NOT_FOUND: s.Responses = {404: error_doc("No such paper, or no such comment on it.")}
FORBIDDEN: s.Responses = {
    403: error_doc(
        "Missing CSRF token (cookie sessions), not your comment, an account barred from "
        "commenting, or an unverified address."
    )
}


@router.get(
    "/papers/{paper_id:path}/comments",
    response_model=s.CommentsOut,
    responses=NOT_FOUND,
    summary="A paper's discussion",
)
def list_comments(lens: LensDep, paper_id: str, user: OptionalUser) -> s.CommentsOut:
    """Every comment in reading order (each before its replies; ``parent`` and
    ``depth`` give the tree). Deleted comments stay as stubs so the tree holds."""
    pk, key = paper_key(lens, paper_id)
    comments = lens.discussions.flat(pk, user)
    count = lens.discussions.counts([pk]).get(pk, 0)
    return s.CommentsOut(
        paper=key, count=count, comments=[s.CommentOut.of(c, key) for c in comments]
    )


@router.post(
    "/papers/{paper_id:path}/comments",
    status_code=201,
    response_model=s.CommentOut,
    responses={**AUTH, **FORBIDDEN, **NOT_FOUND},
    summary="Comment on a paper, or reply to a comment",
)
def post_comment(
    lens: LensDep,
    paper_id: str,
    body: s.CommentIn,
    user: CurrentUser,
    throttle: ThrottleDep,
    ip: ClientIp,
    background: BackgroundTasks,
) -> JSONResponse:
    """Markdown with ``$...$``/``$$...$$`` math and ``@mentions``. Replies nest at most
    six levels; a mentioned reader is notified (and mailed, if they opted in)."""
    pk, key = paper_key(lens, paper_id)
    throttle.hit("comment_ip", ip)
    throttle.hit("comment_account", str(user.pk))
    posted = lens.discussions.post(user, pk, body.body, body.parent)
    background.add_task(lens.discussions.send_mails, posted.mails)
    out = s.CommentOut.of(posted.comment, key)
    # Percent-encoded: a header is Latin-1 with no spaces or controls; an id need not be.
    url = f"/api/v1/papers/{quote(key, safe='/:')}/comments/{posted.comment.pk}"
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=201,
        headers={"Location": url},
        background=background,
    )


@router.post(
    "/papers/{paper_id:path}/comments/{comment_id}/report",
    response_model=s.ReportOut,
    responses={**AUTH, **FORBIDDEN, **NOT_FOUND, 409: error_doc("You reported it already.")},
    summary="Report a comment to the moderators",
)
def report_comment(
    lens: LensDep,
    paper_id: str,
    comment_id: CommentId,
    body: s.ReportIn,
    user: CurrentUser,
    throttle: ThrottleDep,
) -> s.ReportOut:
    pk, _key = paper_key(lens, paper_id)
    throttle.hit("report_account", str(user.pk))
    lens.discussions.report(user, comment_id, body.reason, paper_pk=pk)
    return s.ReportOut(comment=comment_id, reported=True)


@router.get(
    "/papers/{paper_id:path}/comments/{comment_id}",
    response_model=s.CommentOut,
    responses=NOT_FOUND,
    summary="One comment",
)
def get_comment(
    lens: LensDep, paper_id: str, comment_id: CommentId, user: OptionalUser
) -> s.CommentOut:
    pk, key = paper_key(lens, paper_id)
    lens.discussions.check_on(comment_id, pk)
    return s.CommentOut.of(lens.discussions.comment(comment_id, user), key)


@router.patch(
    "/papers/{paper_id:path}/comments/{comment_id}",
    response_model=s.CommentOut,
    responses={
        **AUTH,
        **FORBIDDEN,
        **NOT_FOUND,
        409: error_doc("Deleted or hidden."),
        429: error_doc("Too many edits; wait and try again."),
    },
    summary="Edit your comment",
)
def edit_comment(
    lens: LensDep,
    paper_id: str,
    comment_id: CommentId,
    body: s.CommentPatch,
    user: CurrentUser,
    throttle: ThrottleDep,
    background: BackgroundTasks,
) -> JSONResponse:
    """Your own comments only; the comment gets ``edited_at``. Readers mentioned for
    the first time are notified. Rate-limited per account."""
    pk, key = paper_key(lens, paper_id)
    throttle.hit("edit_account", str(user.pk))
    posted = lens.discussions.edit(user, comment_id, body.body, paper_pk=pk)
    background.add_task(lens.discussions.send_mails, posted.mails)
    out = s.CommentOut.of(posted.comment, key)
    return JSONResponse(out.model_dump(mode="json"), background=background)


@router.delete(
    "/papers/{paper_id:path}/comments/{comment_id}",
    response_model=s.CommentOut,
    responses={**AUTH, **FORBIDDEN, **NOT_FOUND},
    summary="Delete a comment (yours; any, for admins)",
)
def delete_comment(
    lens: LensDep, paper_id: str, comment_id: CommentId, user: CurrentUser
) -> s.CommentOut:
    """The text is erased; the comment stays as a ``deleted`` stub so its replies keep
    their place. Deleting again changes nothing."""
    pk, key = paper_key(lens, paper_id)
    return s.CommentOut.of(lens.discussions.delete(user, comment_id, paper_pk=pk), key)


@router.post(
    "/papers/{paper_id:path}/comments/{comment_id}/moderate",
    response_model=s.CommentOut,
    responses={
        **AUTH,
        **NOT_FOUND,
        403: error_doc("Not an administrator (or no CSRF token with a cookie session)."),
        409: error_doc("A deleted comment cannot be restored."),
    },
    summary="Moderate a comment (administrators)",
)
def moderate_comment(
    lens: LensDep,
    paper_id: str,
    comment_id: CommentId,
    body: s.ModerateIn,
    user: CurrentUser,
) -> s.CommentOut:
    pk, key = paper_key(lens, paper_id)
    lens.discussions.check_on(comment_id, pk)
    return s.CommentOut.of(lens.discussions.moderate(user, comment_id, body.action), key)


@router.get(
    "/notifications",
    response_model=s.NotificationsOut,
    responses=AUTH,
    summary="Your notifications: mentions and replies",
)
def notifications(lens: LensDep, user: CurrentUser, response: Response) -> s.NotificationsOut:
    # One reader's mentions: no shared cache may keep them (nor the browser's disk).
    response.headers["Cache-Control"] = "private, no-store"
    items = lens.discussions.notifications(user.pk)
    return s.NotificationsOut(
        unread=lens.discussions.unread_count(user.pk),
        notifications=[s.NotificationOut.of(n) for n in items],
    )


@router.post(
    "/notifications/read",
    response_model=s.NotificationsOut,
    responses=AUTH,
    summary="Mark all your notifications read",
)
def mark_read(lens: LensDep, user: CurrentUser, response: Response) -> s.NotificationsOut:
    lens.discussions.mark_read(user.pk)
    return notifications(lens, user, response)
