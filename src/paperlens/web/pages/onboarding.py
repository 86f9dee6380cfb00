"""A new reader's start (``/welcome``): pick categories, then rate a few papers from them
with 👍/👎 until the feed has enough to learn from. Signed-in, every form with its CSRF
token; the policy is :class:`paperlens.recommend.Onboarding`'s."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperlens.accounts import clean_categories
from paperlens.recommend import ONBOARDING_ENOUGH
from paperlens.web.deps import CurrentUser, FormFields, LensDep
from paperlens.web.pages.listing import paper_of_form
from paperlens.web.rendering import has_math, render

router = APIRouter(include_in_schema=False)


def _page(
    request: Request, user_pk: int, lens: LensDep, error: str = "", status: int = 200
) -> HTMLResponse:
    state = lens.onboarding.state(user_pk)
    context = {
        "state": state,
        "enough_at": ONBOARDING_ENOUGH,
        "error": error,
        "math": has_math(*(q.paper.title for q in state.questions)),
    }
    return render(request, "welcome.html", context, status)


@router.get("/welcome", response_class=HTMLResponse)
def welcome(request: Request, user: CurrentUser, lens: LensDep) -> HTMLResponse:
    return _page(request, user.pk, lens)


@router.post("/welcome/categories", response_model=None)
async def choose_categories(
    request: Request, user: CurrentUser, lens: LensDep, values: FormFields
) -> Response:
    try:
        cats = clean_categories(values.get("categories", "").replace(",", " ").split())
    except ValueError as exc:
        return _page(request, user.pk, lens, str(exc), 400)
    lens.accounts.set_categories(user.pk, cats)
    return RedirectResponse("/welcome", status_code=303)


@router.post("/welcome/rate")
async def rate(user: CurrentUser, lens: LensDep, values: FormFields) -> Response:
    pk, _id = paper_of_form(lens, values)
    lens.onboarding.rate(user.pk, pk, values.get("liked") == "1")
    return RedirectResponse("/welcome", status_code=303)
