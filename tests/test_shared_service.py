"""Settings for serving one database from several workers (docs/deploy.md): the
rate-limit storage URI and the optional read replica."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus import sample_records, write_jsonl
from databases import fresh_database
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.indexer import sync_lexical
from paperlens.sources.snapshot import SnapshotSource
from paperlens.web import create_app
from paperlens.web.throttle import RateLimited, RateLimits, Throttle, open_storage


def test_rate_limit_storage_uri_is_used_and_bad_ones_refused(settings: Settings) -> None:
    throttle = Throttle(RateLimits(login_ip="2/minute"), "memory://")
    throttle.hit("login_ip", "10.0.0.1")
    throttle.hit("login_ip", "10.0.0.1")
    with pytest.raises(RateLimited):
        throttle.hit("login_ip", "10.0.0.1")
    throttle.hit("login_ip", "10.0.0.2")  # counted per address

    with pytest.raises(ValueError, match="PAPERLENS_RATE_LIMIT_STORAGE 'nosuch://x'"):
        open_storage("nosuch://x")
    with pytest.raises(ValueError, match="synchronous"):
        open_storage("async+memory://")
    lens = PaperLens(settings.model_copy(update={"rate_limit_storage": "nosuch://x"}))
    try:
        with pytest.raises(ValueError, match="PAPERLENS_RATE_LIMIT_STORAGE"):
            create_app(lens)
    finally:
        lens.close()


def test_read_replica_serves_result_papers_and_the_feed(settings: Settings, tmp_path: Path) -> None:
    records = sample_records("arxiv-snapshot-sample", limit=40)
    # The "replica" holds the first 20 papers (same pks), the primary all 40: what a
    # lagging replica looks like.
    with fresh_database(tmp_path / "replica") as replica_url:
        replica = PaperLens(settings.model_copy(update={"database_url": replica_url}))
        replica.ingest(SnapshotSource(write_jsonl(tmp_path / "old.jsonl", records[:20])))
        replica.close()

        path = write_jsonl(tmp_path / "all.jsonl", records)
        primary = PaperLens(settings)
        primary.ingest(SnapshotSource(path))
        sync_lexical(primary.papers, primary.lexical)
        everything = primary.search("the", "lexical", per_page=100)
        primary.close()
        assert everything.total > len({r.pk for r in everything.results if r.pk <= 20}) > 0

        split = PaperLens(settings.model_copy(update={"read_database_url": replica_url}))
        try:
            assert split.read_engine is not split.engine
            found = split.search("the", "lexical", per_page=100)
            # Ranked by the primary's index, papers read from the replica: those it does
            # not hold yet are left out, the rest keep their order.
            assert [r.pk for r in found.results] == [r.pk for r in everything.results if r.pk <= 20]
            assert split.paper(records[30]["id"]).pk > 20  # single reads: the primary
            replica_day = split.daily()  # the feed is read from the replica
            assert replica_day is not None and replica_day.items
            shown = {item.stored.paper.id for item in replica_day.items}
            assert shown <= {r["id"] for r in records[:20]}
        finally:
            split.close()
