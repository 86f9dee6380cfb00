"""On-disk search indexes derived from the store: BM25 (tantivy) and HNSW (usearch).

Both are rebuilt or caught up from the store's change counter; losing them loses no
data, only the time to rebuild.
"""
