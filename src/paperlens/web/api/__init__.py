"""The JSON API under ``/api/v1``, one router per resource: ``papers`` (search, a
paper, similar papers, the daily feed, stats), ``accounts`` (``/me``), ``community``
(votes, feedback, trending, recommendations, submissions), ``library`` (collections,
exports, notes) and ``digests`` (subscribe). Request and response models live in
``schemas``, and only there.

Routers are thin: bound the input, call :class:`PaperLens`, build the answer model.
They do not catch the core's errors; ``web/errors.py`` maps each kind to its status.
"""

from __future__ import annotations

from paperlens.core import PaperLens
from paperlens.web.security import clean_id


def paper_key(lens: PaperLens, paper_id: str) -> tuple[int, str]:
    """The stored pk and canonical id of the paper a path names (``PaperNotFound``:
    a 404)."""
    stored = lens.paper(clean_id(paper_id))
    return stored.pk, stored.paper.id
