"""Vector index on hnswlib (cosine), persisted to a folder, with deletes honoured and safe rebuilds.

String ids map to hnswlib's integer labels in a SQLite table that also keeps each vector's metadata
and the vector itself, so the graph can always be rebuilt from the table (the table is the truth;
the graph file is a cache written atomically).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np

from reelmind.adapters.local.sqlite import Database
from reelmind.errors import BadRequest
from reelmind.ports import Hit

SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    label INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    vector BLOB NOT NULL,
    meta TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO state VALUES ('generation', 0);
"""


class HnswVectorIndex:
    def __init__(
        self, folder: Path, dim: int, m: int = 16, ef_construction: int = 200, ef_search: int = 64
    ) -> None:
        self.folder = folder
        self.dim = dim
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        folder.mkdir(parents=True, exist_ok=True)
        self.db = Database(folder / "vectors.db", SCHEMA)
        self._lock = threading.Lock()
        self._graph_path = folder / f"hnsw-{dim}.bin"
        self._index = self._load()

    def _empty(self, capacity: int) -> hnswlib.Index:
        index = hnswlib.Index(space="cosine", dim=self.dim)
        index.init_index(
            max_elements=max(1024, capacity),
            M=self.m,
            ef_construction=self.ef_construction,
            allow_replace_deleted=True,
        )
        index.set_ef(self.ef_search)
        return index

    def _generation(self) -> int:
        return int(self.db.read().execute("SELECT value FROM state WHERE name = 'generation'").fetchone()[0])

    def _load(self) -> hnswlib.Index:
        """The saved graph when it matches the table's generation, else a rebuild from the table."""
        stamp = self._graph_path.with_suffix(".json")
        self._loaded = self._generation()
        if self._graph_path.exists() and stamp.exists():
            saved = json.loads(stamp.read_text()).get("generation")
            if saved == self._loaded:
                index = hnswlib.Index(space="cosine", dim=self.dim)
                index.load_index(
                    str(self._graph_path),
                    max_elements=max(1024, self.count() * 2),
                    allow_replace_deleted=True,
                )
                index.set_ef(self.ef_search)
                return index
        index = self._build()
        self._index = index
        self._save()
        return index

    def _build(self) -> hnswlib.Index:
        rows = self.db.read().execute("SELECT label, vector FROM vectors").fetchall()
        index = self._empty(len(rows) * 2)
        if rows:
            labels = np.array([r["label"] for r in rows], dtype=np.int64)
            vectors = np.stack([np.frombuffer(r["vector"], np.float32) for r in rows])
            index.add_items(vectors, labels)
        return index

    def _sync(self) -> None:
        """Another instance on the same folder (another function in this process, a CLI run) changed the
        table: load its graph before answering or writing. Call with the lock held."""
        if self._generation() != self._loaded:
            self._index = self._load()

    def rebuild(self) -> None:
        """Rebuild the graph from the table (after many deletes, or if the graph file was lost)."""
        with self._lock:
            self._index = self._build()
            self._save()

    def _save(self) -> None:
        tmp = self._graph_path.with_suffix(".tmp")
        self._index.save_index(str(tmp))
        os.replace(tmp, self._graph_path)
        stamp = self._graph_path.with_suffix(".json")
        stamp_tmp = stamp.with_suffix(".json.tmp")
        self._loaded = self._generation()
        stamp_tmp.write_text(json.dumps({"generation": self._loaded}))
        os.replace(stamp_tmp, stamp)

    @staticmethod
    def _bump(conn: Any) -> None:
        conn.execute("UPDATE state SET value = value + 1 WHERE name = 'generation'")

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metas: Sequence[dict[str, Any]]) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if (
            vectors.ndim != 2
            or vectors.shape[1] != self.dim
            or len(ids) != len(vectors)
            or len(metas) != len(ids)
        ):
            raise BadRequest(
                f"expected {len(ids)} vectors of dimension {self.dim}, got shape {vectors.shape}"
            )
        if not np.isfinite(vectors).all():
            raise BadRequest("vectors must be finite")
        with self._lock:
            self._sync()
            labels = []
            with self.db.tx() as conn:
                for id_, vec, meta in zip(ids, vectors, metas, strict=True):
                    conn.execute(
                        "INSERT INTO vectors (id, vector, meta) VALUES (?, ?, ?) "
                        "ON CONFLICT(id) DO UPDATE SET vector = excluded.vector, meta = excluded.meta",
                        (id_, vec.tobytes(), json.dumps(meta)),
                    )
                    labels.append(
                        conn.execute("SELECT label FROM vectors WHERE id = ?", (id_,)).fetchone()[0]
                    )
                self._bump(conn)
            needed = self._index.get_current_count() + len(labels)
            if needed > self._index.get_max_elements():
                self._index.resize_index(needed * 2)
            self._index.add_items(vectors, np.array(labels, dtype=np.int64), replace_deleted=False)
            self._save()

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            self._sync()
            with self.db.tx() as conn:
                rows = [conn.execute("SELECT label FROM vectors WHERE id = ?", (i,)).fetchone() for i in ids]
                conn.executemany("DELETE FROM vectors WHERE id = ?", [(i,) for i in ids])
                self._bump(conn)
            for row in rows:
                if row is not None:
                    self._index.mark_deleted(int(row[0]))
            self._save()

    def query(self, vector: np.ndarray, k: int) -> list[Hit]:
        vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if vector.shape[1] != self.dim:
            raise BadRequest(f"the query vector has dimension {vector.shape[1]}, expected {self.dim}")
        live = self.count()
        if live == 0 or k <= 0:
            return []
        k = min(k, live)
        with self._lock:
            self._sync()
            self._index.set_ef(max(self.ef_search, k))
            labels, distances = self._index.knn_query(vector, k=k)
        found = [(int(label), float(d)) for label, d in zip(labels[0], distances[0], strict=True)]
        rows = {
            int(r["label"]): r
            for r in self.db.read().execute(
                f"SELECT label, id, meta FROM vectors WHERE label IN ({','.join('?' * len(found))})",
                [label for label, _ in found],
            )
        }
        return [
            Hit(rows[label]["id"], 1.0 - d, json.loads(rows[label]["meta"]))
            for label, d in found
            if label in rows
        ]

    def count(self) -> int:
        return int(self.db.read().execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
