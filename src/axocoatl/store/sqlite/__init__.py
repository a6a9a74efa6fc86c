"""The embedded store: one SQLite file in WAL mode (engine.py explains its two connections).

store.py is the public SQLiteStore; each aggregate (runs, threads, tokens, events, memory)
owns its SQL; commits.py applies a write batch through them in order.
"""

from axocoatl.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
