"""Pydantic models of the community, library and recommendation API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from paperlens.community import TrendingItem
from paperlens.library import CollectionView
from paperlens.recommend import Recommendation
from paperlens.store.library import Collection
from paperlens.web.schemas import PaperSummary


class VoteOut(BaseModel):
    id: str
    votes: int = Field(description="Upvotes from this server's readers.")
    voted: bool = Field(description="Whether you have upvoted it now.")


class TrendingPaperOut(BaseModel):
    paper: PaperSummary
    votes: int = Field(description="Upvotes from this server's readers.")
    external_upvotes: int = Field(description="Hugging Face daily-papers upvotes (0 if none).")
    score: float = Field(description="points / (age_hours + 2) ** 1.8; see the README.")

    @classmethod
    def of(cls, t: TrendingItem) -> TrendingPaperOut:
        return cls(
            paper=PaperSummary.of(t.paper),
            votes=t.votes,
            external_upvotes=t.external,
            score=round(t.score, 8),
        )


class TrendingOut(BaseModel):
    window: Literal["day", "week", "month"]
    category: str | None
    papers: list[TrendingPaperOut]


class SubmissionIn(BaseModel):
    id: str = Field(
        min_length=1,
        max_length=300,
        description="An arXiv id or URL: 2106.09685, arXiv:2106.09685v2, "
        "https://arxiv.org/abs/2106.09685, hep-th/9901001 ...",
    )


class SubmissionOut(BaseModel):
    created: bool = Field(description="False when the paper was already here.")
    indexed: bool = Field(
        description="False while another process updating the indexes has yet to index "
        "it: searchable within minutes, once that run finishes."
    )
    paper: PaperSummary


class CollectionIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    public: bool = False


class CollectionPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    public: bool | None = None


class CollectionOut(BaseModel):
    id: int
    name: str
    public: bool
    owner: str
    size: int
    created_at: datetime
    url: str = Field(description="The collection's page (shareable when public).")

    @classmethod
    def of(cls, c: Collection) -> CollectionOut:
        return cls(
            id=c.pk,
            name=c.name,
            public=c.public,
            owner=c.owner_name,
            size=c.size,
            created_at=c.created_at,
            url=f"/c/{c.pk}",
        )


class CollectionPaperOut(BaseModel):
    paper: PaperSummary
    added_at: datetime
    note: str | None = Field(description="Your note (only in your own collections).")
    read: bool | None = Field(description="Whether you marked it read (yours only).")


class CollectionDetailOut(CollectionOut):
    papers: list[CollectionPaperOut]

    @classmethod
    def of_view(cls, view: CollectionView) -> CollectionDetailOut:
        return cls(
            **CollectionOut.of(view.collection).model_dump(),
            papers=[
                CollectionPaperOut(
                    paper=PaperSummary.of(i.paper),
                    added_at=i.added_at,
                    note=i.note.note if i.note else None,
                    read=i.note.read if i.note else None,
                )
                for i in view.items
            ],
        )


class NoteIn(BaseModel):
    note: str | None = Field(default=None, max_length=10_000)
    read: bool | None = None


class BecauseOut(BaseModel):
    id: str
    title: str
    similarity: float


class RecommendationOut(BaseModel):
    paper: PaperSummary
    score: float
    reason: str = Field(description="Why, for people.")
    because: list[BecauseOut] = Field(description="The saved papers it is closest to.")

    @classmethod
    def of(cls, r: Recommendation) -> RecommendationOut:
        return cls(
            paper=PaperSummary.of(r.paper),
            score=round(r.score, 6),
            reason=r.reason,
            because=[
                BecauseOut(id=b.id, title=b.title, similarity=b.similarity) for b in r.because
            ],
        )


class RecommendationsOut(BaseModel):
    recommendations: list[RecommendationOut]


class FeedbackOut(BaseModel):
    id: str
    not_interested: bool
