"""What every source yields, and the file reading shared by the file-based sources."""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, Protocol, cast

import orjson

from paperlens.paper import Paper


@dataclass(frozen=True, slots=True)
class Listing:
    """A paper featured by a curated feed on a day (Hugging Face daily papers)."""

    feed: str
    day: date
    upvotes: int = 0
    comments: int = 0


@dataclass(frozen=True, slots=True)
class HfExtras:
    """What a Hugging Face daily-papers item says about a paper besides the paper:
    its AI summary and keywords, organization, who submitted it, comments and the
    repository's stars as HF counts them (``None``/empty when absent)."""

    ai_summary: str | None = None
    ai_keywords: tuple[str, ...] = ()
    organization: str | None = None
    submitted_by: str | None = None
    num_comments: int = 0
    github_stars: int | None = None


@dataclass(frozen=True, slots=True)
class Parsed:
    """A record that parsed into a paper. ``position`` (when set) is where to resume
    reading once this entry and all before it are stored."""

    paper: Paper
    where: str
    position: str | None = None
    listing: Listing | None = None
    hf: HfExtras | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that could not be used; ``reason`` names the problem."""

    where: str
    reason: str
    position: str | None = None


@dataclass(frozen=True, slots=True)
class Deleted:
    """The source says this paper was withdrawn from it (OAI-PMH ``status="deleted"``)."""

    paper_id: str
    where: str
    position: str | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A safe resume point with no record attached (for example an empty page)."""

    position: str


Entry = Parsed | Rejected | Deleted | Checkpoint


class Source(Protocol):
    """A stream of entries. ``key`` names the source for checkpoints: the same key
    means the same input, so a saved position can be resumed."""

    @property
    def key(self) -> str: ...

    def entries(self, resume_from: str | None = None) -> Iterator[Entry]: ...


class SourceError(Exception):
    """The source as a whole cannot be read (missing file, unreachable server...)."""


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, transparently decompressing ``.gz``."""
    if not path.exists():
        raise SourceError(f"no such file: {path}")
    if path.is_dir():
        raise SourceError(f"is a directory, not a file: {path}")
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def file_key(kind: str, path: Path) -> str:
    """Identify a file by kind, resolved path, size and a digest of its first 64 KiB:
    a resumed import must be reading the same bytes it stopped in."""
    resolved = path.resolve()
    if not resolved.is_file():
        raise SourceError(f"no such file: {path}")
    st = os.stat(resolved)
    with resolved.open("rb") as fh:
        head = hashlib.blake2b(fh.read(65536), digest_size=8).hexdigest()
    return f"{kind}:{resolved}:{st.st_size}:{head}"


@dataclass(frozen=True, slots=True)
class Line:
    number: int  # 1-based
    text: str | None  # None when the bytes are not valid UTF-8
    position: str  # resume point after this line: "<byte offset>:<line number>"


def read_lines(path: Path, resume_from: str | None) -> Iterator[Line]:
    """Stream the lines of a (possibly gzipped) text file from a resume position,
    holding one line in memory at a time."""
    offset, number = 0, 0
    if resume_from:
        off_s, num_s = resume_from.split(":", 1)
        offset, number = int(off_s), int(num_s)
    # gzip says only "Compressed file ended before the end-of-stream marker was
    # reached" (or "Not a gzipped file"): these errors name the file and the line.
    unreadable = (EOFError, OSError, zlib.error)
    with open_binary(path) as fh:
        try:
            if offset:
                fh.seek(offset)
        except unreadable as exc:
            raise SourceError(
                f"{path}: cannot resume at line {number} (truncated or corrupt file: {exc})"
            ) from exc
        lines = iter(fh)
        while True:
            try:
                raw = next(lines)
            except StopIteration:
                return
            except unreadable as exc:
                raise SourceError(
                    f"{path}: cannot read past line {number} (truncated or corrupt file: {exc})"
                ) from exc
            offset += len(raw)
            number += 1
            try:
                text: str | None = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            yield Line(number, text, f"{offset}:{number}")


def json_line_entries(
    path: Path,
    resume_from: str | None,
    parse: Callable[[dict[str, Any]], Paper],
) -> Iterator[Entry]:
    """Entries of a JSON-lines file: one object a line, parsed by ``parse`` (which raises
    ``ValueError`` naming what is wrong). Blank lines are skipped; every other bad line
    becomes a :class:`Rejected` naming its line number."""
    for line in read_lines(path, resume_from):
        where = f"{path.name} line {line.number}"
        if line.text is None:
            yield Rejected(where, "not valid UTF-8", line.position)
            continue
        if not line.text.strip():
            yield Checkpoint(line.position)
            continue
        try:
            record = orjson.loads(line.text)
        except orjson.JSONDecodeError as exc:
            yield Rejected(where, f"malformed JSON ({exc})", line.position)
            continue
        if not isinstance(record, dict):
            yield Rejected(where, "expected a JSON object", line.position)
            continue
        try:
            paper = parse(record)
        except (ValueError, TypeError) as exc:
            yield Rejected(where, str(exc), line.position)
            continue
        yield Parsed(paper, where, line.position)
