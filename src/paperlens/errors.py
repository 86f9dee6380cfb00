"""The failures a reader or operator can act on, as one small hierarchy.

Every expected failure (a paper that does not exist, a name already taken, a request
made too often, an index not built yet) raises a subclass of :class:`PaperlensError`
whose message is written for the person who will read it. Front ends map the *kind*
once, in one place: the web app to an HTTP status (``web/errors.py``), the CLI to one
line on stderr and a non-zero exit (``cli/output.py``). Routes and commands do not
translate errors themselves, except where a form is shown again with the message.

Invariant: this module imports nothing from paperlens, so every layer may use it.
"""

from __future__ import annotations


class PaperlensError(Exception):
    """Base of every failure whose message is meant for the user."""


class NotFound(PaperlensError, LookupError):
    """A named thing does not exist, or this reader may not see it (the two look the
    same from outside, so that ids of private things do not leak)."""


class Invalid(PaperlensError, ValueError):
    """The input cannot be accepted; the message says what is wrong with it."""


class Conflict(PaperlensError, ValueError):
    """The request clashes with what is stored (a name already taken)."""


class Forbidden(PaperlensError, PermissionError):
    """The reader is known but may not do this (someone else's comment, a ban)."""


class TooMany(PaperlensError):
    """Too many requests of one kind; ``retry_after`` seconds, when known."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(PaperlensError, RuntimeError):
    """Not ready yet (an index that was never built): the same request may work later."""


class UpstreamError(PaperlensError):
    """An outside service (arXiv, Hugging Face) failed or could not be reached."""


class PaperNotFound(NotFound):
    """No stored paper has this id (or it was withdrawn from the store)."""


class CollectionNotFound(NotFound):
    """No collection has this id, or it is private to another reader."""
