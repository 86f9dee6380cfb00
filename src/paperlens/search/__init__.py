"""Retrieval and ranking: lexical, semantic, hybrid (RRF) and similar papers."""
