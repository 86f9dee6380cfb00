"""Author lookups at scale: the author page's queries (papers, names, co-authors,
categories, "possibly the same person"), the followed-authors list and a paper's
citations, on a synthetic store of SIZE papers.

Papers get 1-8 authors drawn from a skewed pool (a few authors with hundreds of papers,
most with one or two; names spelt several ways: "John Smith", "Smith, John", "J.
Smith"), written straight into ``papers`` / ``paper_authors`` / ``paper_categories`` in
bulk with the same folding ingest uses (``store.authors.author_rows``), so building the
store does not dominate the run. Then each query is timed over many authors.

    python bench/authors.py --sizes 100000,1000000            # SQLite
    python bench/authors.py --sizes 1000000 --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import insert

from common import (
    RESULTS_DIR,
    console,
    int_list,
    machine_info,
    percentile_ms,
    scratch_dir,
    write_json,
)
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.store.authors import author_rows
from paperlens.store.citations import CitationStore, Fetched
from paperlens.store.schema import PaperAuthorRow, PaperCategoryRow, PaperRow, table

GIVEN = ["John", "Maria", "Wei", "Anna", "Ahmed", "Yuki", "Olga", "Pedro", "Li", "Sara"]
CATS = ["cs.LG", "cs.CL", "cs.CV", "stat.ML", "hep-ph", "math.CO", "quant-ph", "astro-ph.GA"]
BATCH = 5000


#: Authors on ~1% of author slots between them (like the most common names on arXiv,
#: a few thousand papers each at 1M), then a tier on ~19% (hundreds each), then a
#: long tail (a handful each).
GIANTS = 10
PROLIFIC = 2000


def _author_index(rng: random.Random, pool: int) -> int:
    u = rng.random()
    if u < 0.01:
        return rng.randrange(GIANTS)
    if u < 0.2:
        return GIANTS + rng.randrange(PROLIFIC)
    return GIANTS + PROLIFIC + rng.randrange(pool - GIANTS - PROLIFIC)


def _spelling(given: str, surname: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.7:
        return f"{given} {surname}"
    if roll < 0.85:
        return f"{surname}, {given}"
    return f"{given[0]}. {surname}"


def build(lens: PaperLens, size: int, seed: int = 7) -> list[str]:
    """Fill the store; returns author names to look up, most prolific first."""
    rng = random.Random(seed)
    pool = max(1000, size // 2)
    surnames = [f"Surname{i}" for i in range(pool // len(GIVEN) + 1)]
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    papers_t, authors_t, cats_t = table(PaperRow), table(PaperAuthorRow), table(PaperCategoryRow)
    for start in range(0, size, BATCH):
        paper_rows: list[dict[str, Any]] = []
        names_of: list[list[str]] = []
        for n in range(start, min(size, start + BATCH)):
            names = []
            for _ in range(rng.randint(1, 8)):
                i = _author_index(rng, pool)
                names.append(_spelling(GIVEN[i % len(GIVEN)], surnames[i // len(GIVEN)], rng))
            names_of.append(names)
            paper_rows.append(
                {
                    "pk": n + 1,
                    "id": f"{2000 + n // 100000}.{n % 100000:05d}",
                    "title": f"Paper {n}",
                    "abstract": "",
                    "authors": names,
                    "categories": [CATS[n % len(CATS)]],
                    "primary_category": CATS[n % len(CATS)],
                    "published": t0 + timedelta(minutes=n),
                    "updated": None,
                    "versions": [[1, None]],
                    "source": "bench",
                    "links": {},
                    "content_hash": "c" * 32,
                    "text_hash": "t" * 32,
                    "seq": 1,
                    "deleted": False,
                    "added_at": t0 + timedelta(minutes=n),
                    "revised_at": None,
                }
            )
        with lens.engine.begin() as conn:
            conn.execute(insert(papers_t), paper_rows)
            rows = [
                r
                for p, names in zip(paper_rows, names_of, strict=True)
                for r in author_rows(p["pk"], names)
            ]
            conn.execute(insert(authors_t), rows)
            conn.execute(
                insert(cats_t),
                [{"paper_pk": p["pk"], "category": p["categories"][0]} for p in paper_rows],
            )
    probes = [f"{GIVEN[i % len(GIVEN)]} {surnames[i // len(GIVEN)]}" for i in range(0, 200, 4)]
    probes += [
        f"{GIVEN[i % len(GIVEN)]} {surnames[i // len(GIVEN)]}"
        for i in range(pool // 2, pool // 2 + 50)
    ]
    return probes


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def run(size: int, work: Path, database_url: str | None) -> dict[str, Any]:
    url = database_url or f"sqlite:///{work / 'bench.db'}"
    lens = PaperLens(Settings(data_dir=work / "data", database_url=url))
    t = time.perf_counter()
    probes = build(lens, size)
    build_s = time.perf_counter() - t
    user = lens.accounts.create_user("bench@example.org", "correct horse battery")
    # A reader following 5 giants and 45 prolific authors: the heaviest realistic list.
    for name in probes[:50]:
        lens.authors.follow(user.pk, name)
    store = CitationStore(lens.engine)
    store.save(
        [
            Fetched(
                1,
                "2000.00000",
                True,
                10,
                1,
                50,
                tuple((f"S2:{i}", "t") for i in range(500)),
                tuple((f"2000.{i:05d}", None) for i in range(1, 51)),
            )
        ],
        "bench",
        datetime.now(UTC),
    )
    results: dict[str, Any] = {"size": size, "build_seconds": round(build_s, 1)}
    for label, names in (
        ("author page (prolific)", probes[:50]),
        ("author page (rare)", probes[50:]),
    ):
        seconds: list[float] = []
        for name in names:
            start = time.perf_counter()
            lens.authors.page(name)
            seconds.append(time.perf_counter() - start)
        results[label] = {
            "p50_ms": percentile_ms(seconds, 50),
            "p95_ms": percentile_ms(seconds, 95),
            "papers_sample": [lens.authors.page(n).total for n in names[:10]],
        }
    results["unknown name"] = {
        "p50_ms": percentile_ms(timed(lambda: lens.authors.page("Nobody Atall"), 20), 50)
    }
    feed = timed(lambda: lens.authors.new_from_followed(user.pk, limit=50), 20)
    results["followed (50 authors)"] = {
        "p50_ms": percentile_ms(feed, 50),
        "p95_ms": percentile_ms(feed, 95),
    }
    cites = timed(lambda: lens.citations.view(1, "2000.00000"), 20)
    results["citations view (500 cited-by)"] = {
        "p50_ms": percentile_ms(cites, 50),
        "p95_ms": percentile_ms(cites, 95),
    }
    lens.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int_list, default=[100000])
    parser.add_argument(
        "--database-url", default=None, help="A fresh PostgreSQL database (default SQLite)."
    )
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument("--keep-tmp", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {
        "machine": machine_info(),
        "backend": "postgresql" if args.database_url else "sqlite",
        "runs": [],
    }
    for size in args.sizes:
        with scratch_dir(args.tmp_dir, args.keep_tmp) as work:
            out["runs"].append(run(size, work, args.database_url))
    table_ = Table(title=f"Author lookups ({out['backend']})")
    for col in ("papers", "query", "p50 ms", "p95 ms"):
        table_.add_column(col)
    for r in out["runs"]:
        for key, value in r.items():
            if isinstance(value, dict):
                table_.add_row(
                    f"{r['size']:,}", key, f"{value['p50_ms']:.1f}", f"{value.get('p95_ms', 0):.1f}"
                )
    console().print(table_)
    write_json(RESULTS_DIR / f"authors-{out['backend']}.json", out)


if __name__ == "__main__":
    main()
