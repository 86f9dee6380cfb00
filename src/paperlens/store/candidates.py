"""Which papers the recommender looks at: the newest embedded papers (the candidates)
and a random sample of embedded papers (the background negatives)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, and_, exists, func, or_, select

from paperlens.store.schema import EmbeddingRow, PaperCategoryRow, PaperRow, table

papers_t = table(PaperRow)
embeddings_t = table(EmbeddingRow)
categories_t = table(PaperCategoryRow)


class CandidateStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _embedded(self, model: str) -> Select[Any]:
        return select(papers_t.c.pk).join(
            embeddings_t,
            and_(embeddings_t.c.paper_pk == papers_t.c.pk, embeddings_t.c.model == model),
        )

    def recent(
        self,
        model: str,
        limit: int,
        since: datetime | None = None,
        categories: Sequence[str] = (),
    ) -> list[int]:
        """Up to ``limit`` live embedded papers, newest first (published on or after
        ``since`` when given; in one of ``categories`` when given, where a name without
        a dot, like ``cs``, is the whole archive)."""
        q = self._embedded(model).where(papers_t.c.deleted.is_(False))
        if since is not None:
            q = q.where(papers_t.c.published >= since)
        if categories:
            exact = [c for c in categories if "." in c]
            archives = [c for c in categories if "." not in c]
            q = q.where(
                exists().where(
                    categories_t.c.paper_pk == papers_t.c.pk,
                    or_(
                        categories_t.c.category.in_(exact),
                        *(categories_t.c.category.like(f"{a}.%") for a in archives),
                        categories_t.c.category.in_(archives),
                    ),
                )
            )
        q = q.order_by(papers_t.c.published.desc().nulls_last(), papers_t.c.pk.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [int(pk) for pk in conn.execute(q).scalars()]

    def sample(self, model: str, limit: int) -> list[int]:
        """Up to ``limit`` live embedded papers drawn at random."""
        q = (
            self._embedded(model)
            .where(papers_t.c.deleted.is_(False))
            .order_by(func.random())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [int(pk) for pk in conn.execute(q).scalars()]
