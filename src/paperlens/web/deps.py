"""What a route may ask of a request: the lens, the reader, the submitted form, the
client's address and the rate limits, as FastAPI dependencies.

Every router takes these as parameters (``lens: LensDep``, ``user: CurrentUser``, ...)
rather than reaching into ``request.app.state`` itself, so there is one place that
knows where each lives.

**Who is asking.** :func:`current_user` works it out once per request. On the API
(:func:`is_api`) a request with an ``Authorization`` header is the API token's
(``Bearer <token>``; cookies are then ignored altogether); a read-only token that
tries anything but GET or HEAD gets a 403 naming its scope. Everywhere else the
``Authorization`` header is ignored: pages know only the ``pl_session`` cookie, so a
token never reaches the settings (tokens, password, address) and never skips CSRF.
:data:`CurrentUser` needs a reader: pages get a redirect to ``/login?next=...``
(:class:`LoginRequired`, answered in ``web/errors.py``), the API a 401 JSON.
:data:`SessionUser` needs a browser session (403 for an API token), for anything that
manages the account. :data:`AdminUser` also needs the admin role (403 otherwise).

**API or page.** A request is for the JSON API when its path is under
:data:`API_PREFIX` (:func:`is_api`); that decides 401 against a redirect here, the CSRF
exemption of cookie-less API calls (``web/csrf.py``) and JSON against an error page
(``web/errors.py``).

Invariant: this module imports nothing else from ``paperlens.web`` but ``throttle``,
so every other web module may import it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from paperlens.accounts import Accounts, ApiCredential, User
from paperlens.core import PaperLens
from paperlens.web.throttle import Throttle

#: Where the JSON API lives; everything else is pages, feeds and static files.
API_PREFIX = "/api/"
SESSION_COOKIE = "pl_session"
#: The largest row number (a 32-bit key): larger ids name no collection.
MAX_PK = 2**31 - 1
_USER_KEY = "pl_user"
_CREDENTIAL_KEY = "pl_api_credential"
#: What a read-only API token may do.
READ_METHODS = frozenset({"GET", "HEAD"})
_UNSET = object()


class LoginRequired(Exception):
    """A page needs a signed-in reader; the app answers with a redirect to the login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def is_api(request: Request) -> bool:
    """Whether the request is for the JSON API (rather than a page)."""
    return request.url.path.startswith(API_PREFIX)


def lens_of(request: Request) -> PaperLens:
    """The app's :class:`PaperLens` (set by ``create_app``)."""
    lens = request.app.state.lens
    assert isinstance(lens, PaperLens)
    return lens


def accounts_of(request: Request) -> Accounts:
    return lens_of(request).accounts


# -- who ----------------------------------------------------------------------------------


def bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` on an API request; ``""`` for
    any other Authorization header there; ``None`` without one, and always ``None``
    off the API (a page ignores the header: it is not a login there)."""
    if not is_api(request):
        return None
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def current_user(request: Request) -> User | None:
    """The reader making the request (API token on the API, else the session
    cookie), or ``None``. Worked out once per request. A read-only API token on a
    method other than GET or HEAD: 403 naming the scope."""
    cached = getattr(request.state, _USER_KEY, _UNSET)
    if cached is None or isinstance(cached, User):
        return cached
    user: User | None = None
    token = bearer_token(request)
    if token is not None:
        credential = accounts_of(request).api_credential(token) if token else None
        if credential is not None and credential.read_only and request.method not in READ_METHODS:
            raise HTTPException(
                403,
                f"this API token has the read-only scope {credential.scope!r}: it may "
                "only GET and HEAD; create a token with the 'write' scope to change "
                "anything",
            )
        setattr(request.state, _CREDENTIAL_KEY, credential)
        user = credential.user if credential else None
    else:
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            user = accounts_of(request).session_user(session)
    setattr(request.state, _USER_KEY, user)
    return user


def api_credential(request: Request) -> ApiCredential | None:
    """The API token the request was authenticated by, if any."""
    current_user(request)
    credential = getattr(request.state, _CREDENTIAL_KEY, None)
    return credential if isinstance(credential, ApiCredential) else None


def forget_user(request: Request) -> None:
    """Drop the cached reader (after signing in or out within the request)."""
    setattr(request.state, _USER_KEY, _UNSET)


def require_user(request: Request) -> User:
    """The signed-in reader; else a redirect to the login page (pages) or 401 (API)."""
    user = current_user(request)
    if user is not None:
        return user
    if is_api(request):
        raise HTTPException(
            401,
            "authentication required: send 'Authorization: Bearer <API token>' "
            "(create one in Settings) or sign in",
            headers={"WWW-Authenticate": "Bearer"},
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise LoginRequired(target)


def require_session_user(request: Request) -> User:
    """A reader signed in with a browser session: an API token may not manage the
    account (tokens, password, address), so it gets a 403."""
    user = require_user(request)
    if api_credential(request) is not None:
        raise HTTPException(
            403, "an API token cannot manage the account; sign in with a browser for that"
        )
    return user


def require_admin(request: Request) -> User:
    """A signed-in admin (403 for other readers)."""
    user = require_user(request)
    if not user.is_admin:
        raise HTTPException(403, "only an administrator may do this")
    return user


# -- forms and rate limits -----------------------------------------------------------------


async def form_of(request: Request) -> dict[str, str]:
    """The submitted form's text fields (files and repeated keys ignored)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def throttle_of(request: Request) -> Throttle:
    """The app's rate limits (see ``web/throttle.py``)."""
    throttle = getattr(request.app.state, "throttle", None)
    if throttle is None:  # an app built without create_app: no limits
        throttle = Throttle(None)
        request.app.state.throttle = throttle
    assert isinstance(throttle, Throttle)
    return throttle


LensDep = Annotated[PaperLens, Depends(lens_of)]
CurrentUser = Annotated[User, Depends(require_user)]
SessionUser = Annotated[User, Depends(require_session_user)]
OptionalUser = Annotated[User | None, Depends(current_user)]
AdminUser = Annotated[User, Depends(require_admin)]
FormFields = Annotated[dict[str, str], Depends(form_of)]
ThrottleDep = Annotated[Throttle, Depends(throttle_of)]
ClientIp = Annotated[str, Depends(client_ip)]
#: A collection's number in a path (1 to :data:`MAX_PK`; anything else is a 422).
CollectionId = Annotated[int, Path(ge=1, le=MAX_PK, description="The collection's number.")]
