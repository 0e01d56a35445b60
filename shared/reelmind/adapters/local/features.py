"""Ranking features of each video in SQLite (`features.db`), with a change log by `updated_at`.

One row per video: category, quality, the semantic embedding as float16 bytes (768 bytes for 384-d;
cosine rankings are unchanged at this precision, and the vector is made unit again on the way out),
upload time, duration, author, `eligible` and `updated_at`. An index on (`updated_at`, `video_id`)
makes `changed_since` a range scan, read in pages so a long change list never holds a read open.
A deleted video stays as a row with `eligible = 0`, so a feed's snapshot learns that it is gone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from reelmind.adapters.local.sqlite import Database
from reelmind.ranking.types import VideoFeatures

SCHEMA = """
CREATE TABLE IF NOT EXISTS features (
    video_id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    quality REAL NOT NULL,
    embedding BLOB NOT NULL,
    created_at REAL NOT NULL,
    duration_s REAL NOT NULL,
    author_id TEXT NOT NULL,
    eligible INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS features_by_update ON features (updated_at, video_id);
"""
#: Rows per read of `changed_since`.
PAGE = 500
#: SQLite's limit on bound parameters is 999 in old builds; stay under it.
_IDS_PER_QUERY = 500


def pack_embedding(vector: np.ndarray) -> bytes:
    """A vector as little-endian float16 bytes (half of float32; the AWS adapter stores the same bytes)."""
    return np.asarray(vector, dtype="<f2").tobytes()


def unpack_embedding(data: bytes) -> np.ndarray:
    """float16 bytes back to a float32 vector, made unit again (a zero vector stays zero)."""
    v = np.frombuffer(data, dtype="<f2").astype(np.float32)
    norm = float(np.linalg.norm(v))
    out: np.ndarray = v / norm if norm > 0 else v
    return out


class SqliteFeatureStore:
    """The `FeatureStore` port on a SQLite file."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path, SCHEMA)

    def put_features(self, features: VideoFeatures, *, eligible: bool, updated_at: float) -> None:
        f = features
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO features (video_id, category, quality, embedding, created_at, duration_s, "
                "author_id, eligible, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(video_id) DO UPDATE SET category = excluded.category, "
                "quality = excluded.quality, embedding = excluded.embedding, "
                "created_at = excluded.created_at, duration_s = excluded.duration_s, "
                "author_id = excluded.author_id, eligible = excluded.eligible, "
                "updated_at = excluded.updated_at",
                (
                    f.video_id,
                    f.category,
                    float(f.quality),
                    pack_embedding(f.embedding),
                    float(f.created_at),
                    float(f.duration_s),
                    f.author_id,
                    int(eligible),
                    float(updated_at),
                ),
            )

    def get_features(self, video_ids: Sequence[str]) -> dict[str, VideoFeatures]:
        out: dict[str, VideoFeatures] = {}
        ids = list(dict.fromkeys(video_ids))
        conn = self.db.read()
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start : start + _IDS_PER_QUERY]
            rows = conn.execute(
                f"SELECT * FROM features WHERE video_id IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            for row in rows:
                out[row["video_id"]] = _features(row)
        return out

    def changed_since(self, updated_at: float) -> Iterator[tuple[VideoFeatures, bool, float]]:
        conn = self.db.read()
        after: tuple[float, str] | None = None
        while True:
            if after is None:
                rows = conn.execute(
                    "SELECT * FROM features WHERE updated_at > ? ORDER BY updated_at, video_id LIMIT ?",
                    (float(updated_at), PAGE),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM features WHERE (updated_at, video_id) > (?, ?) "
                    "ORDER BY updated_at, video_id LIMIT ?",
                    (*after, PAGE),
                ).fetchall()
            for row in rows:
                yield _features(row), bool(row["eligible"]), float(row["updated_at"])
            if len(rows) < PAGE:
                return
            after = (float(rows[-1]["updated_at"]), str(rows[-1]["video_id"]))


def _features(row: sqlite3.Row) -> VideoFeatures:
    return VideoFeatures(
        video_id=row["video_id"],
        category=row["category"],
        quality=float(row["quality"]),
        embedding=unpack_embedding(row["embedding"]),
        created_at=float(row["created_at"]),
        duration_s=float(row["duration_s"]),
        author_id=row["author_id"],
    )
