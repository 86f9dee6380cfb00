"""The ASGI factory ``bench/soak.py`` runs under uvicorn workers: the product's app with
the per-client limits off, because every request of the soak comes from one address
(loopback) and would otherwise be a rate-limit test. Everything else is as deployed:
settings from ``PAPERLENS_*`` variables, CSRF, body limits, security headers."""

from __future__ import annotations

from fastapi import FastAPI

from paperlens.web import create_app


def make_app() -> FastAPI:
    return create_app(rate_limit=None, auth_limits=None)
