"""Adapters for one machine with no cloud account: a folder, SQLite, hnswlib, an in-process queue."""
