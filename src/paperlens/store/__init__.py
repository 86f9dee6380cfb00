"""Storage: the SQL database of records (SQLite by default, PostgreSQL by URL)."""
