"""The REST API's account endpoint: ``GET /api/v1/me``, who the caller is.

API clients authenticate with ``Authorization: Bearer <token>`` (tokens are made in
the settings page); a browser's session cookie works too. The bearer scheme is
declared in the OpenAPI schema so the API explorer can send a token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from paperlens.accounts import User
from paperlens.web import schemas
from paperlens.web.auth import require_user

#: Declares the scheme for the OpenAPI schema; :func:`require_user` does the checking.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="An API token from the settings page: `Authorization: Bearer pl_...`.",
)

UNAUTHORIZED: dict[int | str, dict[str, object]] = {
    401: {"model": schemas.ErrorOut, "description": "No valid API token or session."},
}

router = APIRouter(prefix="/api/v1", tags=["v1"])


class MeOut(BaseModel):
    """The account the request is authenticated as."""

    id: int = Field(description="The account's number.")
    email: str
    display_name: str
    is_admin: bool
    categories: list[str] = Field(description="Followed arXiv categories or archives.")
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> MeOut:
        return cls(
            id=user.pk,
            email=user.email,
            display_name=user.display_name,
            is_admin=user.is_admin,
            categories=user.categories,
            created_at=user.created_at,
        )


@router.get("/me", response_model=MeOut, responses=UNAUTHORIZED, summary="Who am I")
def me(
    user: Annotated[User, Depends(require_user)],
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> MeOut:
    """The account of the API token (or browser session) making the request."""
    return MeOut.of(user)
