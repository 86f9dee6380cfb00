"""Settings that guard security: the signing key and the outside services' addresses."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from paperlens.arxiv_ids import BadArxivId, parse_arxiv_id
from paperlens.config import MIN_SECRET_CHARS, Settings
from paperlens.errors import Invalid


def test_a_new_secret_key_file_is_private_and_long(tmp_path: Path) -> None:
    key = Settings(data_dir=tmp_path).resolved_secret_key
    path = tmp_path / "secret_key"
    assert len(key) >= MIN_SECRET_CHARS
    assert path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary left


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    keys: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        keys.append(Settings(data_dir=tmp_path).resolved_secret_key)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1


@pytest.mark.parametrize("content", ["", "\n", "short-key"])
def test_an_empty_or_short_key_file_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / "secret_key").write_text(content)
    with pytest.raises(Invalid, match="secret_key holds a secret key of"):
        _ = Settings(data_dir=tmp_path).resolved_secret_key


def test_a_short_configured_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(data_dir=tmp_path, secret_key="x" * (MIN_SECRET_CHARS - 1))
    assert Settings(data_dir=tmp_path, secret_key="x" * MIN_SECRET_CHARS).resolved_secret_key


def test_the_arxiv_api_is_reached_over_https_by_default() -> None:
    assert Settings().arxiv_api_base_url.startswith("https://")


@pytest.mark.parametrize(
    "text", ["٢١٠٦.٠٩٦٨٥", "２１０６.０９６８５", "2106.09685v٢", "hep-th/٩٩٠١٠٠١"]
)
def test_arxiv_ids_are_ascii_digits_only(text: str) -> None:
    with pytest.raises(BadArxivId):
        parse_arxiv_id(text)
