"""Sources turn an outside format into a stream of :mod:`paperlens.sources.base` entries.

Each source knows nothing of storage: it parses, normalises into
:class:`paperlens.paper.Paper` and reports where it is, so that
:mod:`paperlens.ingest` can checkpoint and resume.
"""
