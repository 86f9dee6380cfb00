"""The web front end: server-rendered pages and the JSON API, over :class:`PaperLens`.

``create_app`` builds the FastAPI application; ``paperlens serve`` runs it with uvicorn.
"""

from paperlens.web.app import create_app

__all__ = ["create_app"]
