"""Embed pending papers on a Ray cluster, for corpora one machine embeds too slowly.

Invariants: ``import ray`` in this module is the third-party package, imported only
when a cluster is used (:func:`_import_ray`). Ray must be loaded before usearch, whose
statically linked C++ runtime makes ``ray.init`` abort: this module imports nothing that
loads usearch, and :mod:`paperlens.index.vector` imports usearch lazily for that reason.

The driver (the process running ``paperlens index --ray ADDRESS``) keeps the database:
it reads the pending papers in shards exactly as :func:`paperlens.indexer.embed_pending`
does (``EmbeddingStore.pending``, ``embedding_text``), sends each shard's texts to a pool
of Ray actors (one per worker, each building the encoder once from the driver's encoder
settings: model, backend, ``max_seq_length``, batch size; its torch or onnxruntime
threads limited to the CPUs Ray reserved for it) and writes the returned vectors to the
store in shard order (so the store and the HNSW insertion order match a local run). At most
``in_flight`` shards per worker are out at a time, so memory stays bounded whatever the
corpus size, and an interrupted run resumes: only papers still pending are sent. The
BM25 and HNSW steps then run in the driver as usual (:func:`paperlens.indexer.build_all`
with this embed step), and the driver never loads the model.

Workers must be able to import ``paperlens`` (same version as the driver). On a local
cluster started from the same virtualenv (``ray start --head`` from ``.venv``) they do.
On a remote cluster install paperlens on every node (``pip install 'paperlens[ray]'``
into the Python that runs ``ray start``: the default encoder's model ships inside
paperlens; the torch backend needs ``paperlens[ray,torch]``). A Ray runtime environment
(``runtime_env={"pip": [...]}``) would also do, but the CLI does not pass one: a job whose workers
cannot import paperlens fails to start them, and the command says so. A model other
than the bundled one must be in every node's local cache (nothing is downloaded).

A cluster using Ray's token authentication (``ray start`` turns it on when
``~/.ray/auth_token`` exists) needs ``RAY_AUTH_MODE=token`` (and the token, in
``RAY_AUTH_TOKEN`` or that file) in the environment of ``paperlens index --ray HOST:PORT``:
Ray enables it by itself only for ``auto``; without it connecting fails.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from paperlens.config import Settings
from paperlens.embedding import Encoder, build_encoder, encoder_key
from paperlens.store.embeddings import EmbeddingStore, PendingPaper
from paperlens.store.papers import embedding_text

#: A progress callback ``(phase, done, total)``: the shape of ``indexer.IndexProgress``,
#: spelled out here because the indexer sits above this package and is never imported.
IndexProgress = Callable[[str, int, int | None], None]

#: Seconds to wait for the cluster to answer before giving up.
CONNECT_TIMEOUT = 30.0
#: Seconds to wait for the workers to be scheduled and load the model.
START_TIMEOUT = 300.0
SPECIAL_ADDRESSES = ("auto", "local")


class RayUnavailable(RuntimeError):
    """Ray is not installed, the cluster cannot be reached, or it cannot run the workers."""


#: The settings an encoder is built from (see :func:`paperlens.embedding.build_encoder`);
#: only these travel to the workers (never the database URL or secrets).
ENCODER_FIELDS = (
    "model",
    "max_seq_length",
    "embed_batch_size",
    "encoder_backend",
    "model2vec_dims",
    "data_dir",
)


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    """What every worker loads: the driver's encoder settings, nothing else."""

    fields: dict[str, Any]

    @classmethod
    def from_settings(cls, settings: Settings) -> EncoderSpec:
        names = [n for n in ENCODER_FIELDS if n in type(settings).model_fields]
        return cls({n: getattr(settings, n) for n in names})

    def build(self, threads: int | None = None) -> Encoder:
        return build_encoder(Settings(**self.fields), threads=threads)


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    key: str
    dim: int
    host: str
    pid: int
    threads: int


class EmbedWorker:
    """A Ray actor (wrapped with ``ray.remote`` at run time): one encoder, loaded once."""

    def __init__(self, spec: EncoderSpec, threads: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.threads = threads
        self.encoder = spec.build(threads)

    def info(self) -> WorkerInfo:
        return WorkerInfo(
            self.encoder.key, self.encoder.dim, socket.gethostname(), os.getpid(), self.threads
        )

    def encode(self, texts: list[str]) -> NDArray[np.float32]:
        return self.encoder.encode(texts)


def _host_port(address: str) -> tuple[str, int]:
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayUnavailable(
            f"bad Ray address {address!r}: give HOST:PORT (the head's GCS port, 6379 by "
            "default), ray://HOST:PORT, 'auto' or 'local'"
        )
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once, with the reason, when nothing listens at ``address``."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise RayUnavailable(f"cannot reach the Ray cluster at {address}: {reason}") from exc


def _import_ray() -> Any:
    if "ray._raylet" not in sys.modules and "usearch.compiled" in sys.modules:
        # usearch's static C++ runtime, loaded first, makes ray.init abort the process
        # (std::regex_error); paperlens.index.vector imports usearch only when used.
        raise RayUnavailable("connect to Ray before the HNSW index is loaded (import ray first)")
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(
            "Ray is not installed: pip install 'paperlens[ray]' (or ray[default])"
        ) from exc
    return ray


def connect(address: str, timeout: float = CONNECT_TIMEOUT, num_cpus: int | None = None) -> None:
    """``ray.init`` on ``address`` (``HOST:PORT``, ``ray://HOST:PORT``, ``auto``: the
    cluster in ``RAY_ADDRESS`` or the one started last on this machine, ``local``: start
    one in this process with ``num_cpus``), failing within ``timeout`` seconds."""
    ray = _import_ray()
    address = address.strip()
    if address not in SPECIAL_ADDRESSES:
        check_reachable(address, timeout=min(timeout, 5.0))
    kwargs: dict[str, Any] = {"address": address, "logging_level": logging.ERROR}
    if not address.startswith("ray://"):  # Ray Client takes fewer options
        kwargs |= {"log_to_driver": False, "include_dashboard": False}
    if address == "local":
        # Starts a one-node cluster in this process: nothing remote to wait for, and
        # from another thread its processes would die with that thread (PDEATHSIG).
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        ray.init(**kwargs)
        return
    # ray.init retries an unresponsive GCS for many minutes: run it aside and stop
    # waiting after ``timeout``.
    failure: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(**kwargs)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=init, name="ray-init", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise RayUnavailable(
            f"the Ray cluster at {address} did not answer within {timeout:.0f} s "
            "(is it a Ray head's GCS port?)"
        )
    if failure:
        exc = failure[0]
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RayUnavailable(f"cannot connect to the Ray cluster at {address}: {first}") from exc


class RayEmbedder:
    """An :data:`paperlens.indexer.EmbedStep` running on the connected Ray cluster.

    ``workers`` actors (default: one per CPU of the cluster), each reserving
    ``cpus // workers`` CPUs and using that many torch threads or concurrent onnxruntime
    calls (``Settings.embed_workers`` does not travel: a worker's CPUs are Ray's). They start
    on the first call that finds papers to embed (nothing pending: nothing started) and
    must report the driver's model ``key``."""

    def __init__(
        self,
        spec: EncoderSpec,
        key: str,
        workers: int | None = None,
        *,
        shard_size: int = 64,
        in_flight: int = 2,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        ray = _import_ray()
        if not ray.is_initialized():
            raise RayUnavailable("not connected to a Ray cluster (call connect first)")
        self._ray = ray
        self.spec = spec
        self.key = key
        self.shard_size = shard_size
        self.in_flight = max(1, in_flight)
        self.start_timeout = start_timeout
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            raise RayUnavailable("the Ray cluster has no CPUs to run embedding workers on")
        self.num_workers = cpus if workers is None else workers
        if self.num_workers < 1:
            raise ValueError("--ray-workers must be 1 or more")
        if self.num_workers > cpus:
            raise RayUnavailable(
                f"the Ray cluster has {cpus} CPUs, too few for {self.num_workers} workers of 1 CPU"
            )
        self.cpus_per_worker = cpus // self.num_workers
        self.actors: list[Any] = []
        self.workers: list[WorkerInfo] = []
        #: Seconds the workers took to start (schedule, import, load the model).
        self.start_seconds = 0.0

    def start(self) -> None:
        """Start the workers (once) and wait until each has loaded the model."""
        if self.actors:
            return
        ray = self._ray
        started = time.perf_counter()
        actor_class = ray.remote(EmbedWorker).options(num_cpus=self.cpus_per_worker, max_restarts=0)
        self.actors = [
            actor_class.remote(self.spec, self.cpus_per_worker) for _ in range(self.num_workers)
        ]
        try:
            infos: list[WorkerInfo] = ray.get(
                [a.info.remote() for a in self.actors], timeout=self.start_timeout
            )
        except ray.exceptions.GetTimeoutError as exc:
            self.close()
            raise RayUnavailable(
                f"the Ray workers did not start within {self.start_timeout:.0f} s "
                "(cluster busy, or too few CPUs free?)"
            ) from exc
        except ray.exceptions.RayError as exc:
            self.close()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RayUnavailable(f"a Ray embedding worker failed to start: {first}") from exc
        wrong = sorted({i.key for i in infos if i.key != self.key})
        if wrong:
            self.close()
            raise RayUnavailable(
                f"the Ray workers embed as {', '.join(wrong)}; this store expects {self.key}"
            )
        self.workers = infos
        self.start_seconds = time.perf_counter() - started

    def __call__(self, embeddings: EmbeddingStore, progress: IndexProgress) -> int:
        """Embed every pending paper; write each shard's vectors in shard order."""
        ray = self._ray
        total = embeddings.count_pending(self.key)
        progress("embed", 0, total)
        if total == 0:
            return 0
        self.start()
        shards = embeddings.pending(self.key, batch_size=self.shard_size)
        load = [0] * len(self.actors)
        waiting: dict[Any, int] = {}  # object ref -> shard number
        papers: dict[int, list[PendingPaper]] = {}  # shards sent, not yet written
        ready: dict[int, NDArray[np.float32]] = {}  # shards back, waiting for earlier ones
        actor_of: dict[int, int] = {}
        sent = written = done = 0
        limit = self.in_flight * len(self.actors)
        exhausted = False
        while True:
            # Keep every worker busy, but never hold more than ``limit`` shards.
            while not exhausted and len(papers) < limit:
                idle = min(range(len(load)), key=load.__getitem__)
                if load[idle] >= self.in_flight:
                    break
                batch = next(shards, None)
                if batch is None:
                    exhausted = True
                    break
                texts = [embedding_text(p.title, p.abstract) for p in batch]
                waiting[self.actors[idle].encode.remote(texts)] = sent
                papers[sent] = batch
                actor_of[sent] = idle
                load[idle] += 1
                sent += 1
            if not waiting:
                break
            finished, _ = ray.wait(list(waiting), num_returns=1)
            for ref in finished:
                shard = waiting.pop(ref)
                load[actor_of.pop(shard)] -= 1
                try:
                    ready[shard] = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    raise RayUnavailable(
                        f"a Ray embedding worker failed ({first or type(exc).__name__}); "
                        f"{done} papers were stored, run again to resume"
                    ) from exc
            while written in ready:
                vectors = ready.pop(written)
                batch = papers.pop(written)
                embeddings.put(
                    self.key, [(p.pk, p.text_hash, v) for p, v in zip(batch, vectors, strict=True)]
                )
                done += len(batch)
                written += 1
                progress("embed", done, total)
        return done

    def close(self) -> None:
        for actor in self.actors:
            with contextlib.suppress(Exception):  # already gone
                self._ray.kill(actor)
        self.actors = []


@contextmanager
def ray_embedder(
    address: str,
    settings: Settings,
    workers: int | None = None,
    *,
    start_timeout: float = START_TIMEOUT,
) -> Iterator[RayEmbedder]:
    """Connect to ``address`` (within ``settings.ray_connect_timeout``), yield the embed
    step; then stop its workers and disconnect (the cluster itself keeps running)."""
    connect(address, timeout=settings.ray_connect_timeout, num_cpus=workers)
    ray = _import_ray()
    try:
        embedder = RayEmbedder(
            EncoderSpec.from_settings(settings),
            encoder_key(settings),
            workers,
            start_timeout=start_timeout,
        )
        try:
            yield embedder
        finally:
            embedder.close()
    finally:
        ray.shutdown()
