"""Reading an uploaded zip without trusting it.

A hostile archive may lie about sizes (a zip bomb: a tiny file that inflates to
gigabytes), name members ``../../etc/x`` or ``/abs/path``, repeat a name, or hold
thousands of members. Nothing here extracts to disk: :func:`read_member` checks every
member's name and declared size against the limits first, then inflates the one member
wanted through a bounded reader that stops at the limit whatever the header claimed.
Every refusal is :class:`paperlens.errors.Invalid` with a message for people.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from paperlens.errors import Invalid

#: The largest upload accepted (compressed).
MAX_ARCHIVE_BYTES = 20 * 1024 * 1024
#: The largest member inflated (the JSON document).
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_MEMBERS = 2000
#: A member may inflate at most this many times its compressed size.
MAX_RATIO = 200


def safe_name(name: str) -> bool:
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return False
    if len(name) > 1 and name[1] == ":":  # C:/...
        return False
    return all(part not in ("..", "") for part in name.rstrip("/").split("/"))


def check_archive(data: bytes) -> zipfile.ZipFile:
    """The archive opened, after every check that needs no inflating."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise Invalid(f"the archive is larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Invalid("this is not a zip archive") from None
    if len(members) > MAX_MEMBERS:
        raise Invalid(f"the archive has more than {MAX_MEMBERS} files")
    seen: set[str] = set()
    for m in members:
        if not safe_name(m.filename):
            raise Invalid(f"the archive holds a file with an unsafe name: {m.filename[:80]!r}")
        if m.filename in seen:
            raise Invalid(f"the archive holds {m.filename[:80]!r} twice")
        seen.add(m.filename)
        if m.file_size > MAX_MEMBER_BYTES:
            raise Invalid(f"{m.filename[:80]!r} is larger than the limit")
        if m.file_size > MAX_RATIO * max(m.compress_size, 1) and m.file_size > 1024 * 1024:
            raise Invalid(f"{m.filename[:80]!r} inflates suspiciously (a zip bomb?)")
    return archive


def read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    """One member's bytes, inflating at most :data:`MAX_MEMBER_BYTES`."""
    try:
        with archive.open(name) as fh:
            body = fh.read(MAX_MEMBER_BYTES + 1)
    except KeyError:
        raise Invalid(f"the archive has no {name!r}; is it a paperlens export?") from None
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        raise Invalid(f"{name!r} cannot be read: {exc}") from None
    if len(body) > MAX_MEMBER_BYTES:
        raise Invalid(f"{name!r} is larger than the limit")
    return body


def read_json(archive: zipfile.ZipFile, name: str) -> dict[str, Any]:
    body = read_member(archive, name)
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Invalid(f"{name!r} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise Invalid(f"{name!r} must hold a JSON object")
    return doc
