"""The REST API's account endpoint: ``GET /api/v1/me``, who the caller is.

API clients authenticate with ``Authorization: Bearer <token>`` (tokens are made in
the settings page, with a scope and an expiry); a browser's session cookie works too.
The bearer scheme is declared in the OpenAPI schema so the API explorer can send a
token. No API endpoint makes or revokes tokens or changes the password or address:
those take a browser session (``SessionUser``), which a token never is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from paperlens.web.api.schemas import MeOut, Responses, error_doc
from paperlens.web.deps import CurrentUser

#: Declares the scheme for the OpenAPI schema; ``require_user`` (``CurrentUser``) does
#: the checking.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="An API token from the settings page: `Authorization: Bearer pl_...`.",
)

UNAUTHORIZED: Responses = {401: error_doc("No valid API token or session.")}

router = APIRouter(prefix="/api/v1", tags=["v1"])


@router.get("/me", response_model=MeOut, responses=UNAUTHORIZED, summary="Who am I")
def me(
    user: CurrentUser,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> MeOut:
    """The account of the API token (or browser session) making the request."""
    return MeOut.of(user)
