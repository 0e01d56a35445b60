"""Keyword search on SQLite: an inverted index of `reelmind.domain.text` tokens, scored by BM25F-style
per-field BM25 with field weights. Fine for a single machine's catalog (tens of thousands of videos)."""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from reelmind.adapters.local.sqlite import Database
from reelmind.domain.text import query_tokens, tokens
from reelmind.ports import Hit, TextDoc

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lengths (
    doc TEXT NOT NULL, field TEXT NOT NULL, length INTEGER NOT NULL, PRIMARY KEY (doc, field)
);
CREATE TABLE IF NOT EXISTS postings (
    token TEXT NOT NULL, doc TEXT NOT NULL, field TEXT NOT NULL, tf INTEGER NOT NULL,
    PRIMARY KEY (token, doc, field)
);
CREATE INDEX IF NOT EXISTS postings_by_doc ON postings (doc);
"""

K1, B = 1.2, 0.75


class SqliteTextIndex:
    def __init__(self, path: Path, weights: dict[str, float] | None = None) -> None:
        self.db = Database(path, SCHEMA)
        self.weights = dict(weights or {})

    def upsert(self, docs: Sequence[TextDoc]) -> None:
        with self.db.tx() as conn:
            for doc in docs:
                self._remove(conn, doc.id)
                conn.execute("INSERT INTO docs (id, meta) VALUES (?, ?)", (doc.id, json.dumps(doc.meta)))
                for name, text in doc.fields.items():
                    toks = tokens(text)
                    conn.execute(
                        "INSERT INTO lengths (doc, field, length) VALUES (?, ?, ?)", (doc.id, name, len(toks))
                    )
                    conn.executemany(
                        "INSERT INTO postings (token, doc, field, tf) VALUES (?, ?, ?, ?)",
                        [(tok, doc.id, name, tf) for tok, tf in Counter(toks).items()],
                    )

    @staticmethod
    def _remove(conn: sqlite3.Connection, doc_id: str) -> None:
        for table, column in (("postings", "doc"), ("lengths", "doc"), ("docs", "id")):
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (doc_id,))

    def delete(self, ids: Sequence[str]) -> None:
        with self.db.tx() as conn:
            for doc_id in ids:
                self._remove(conn, doc_id)

    def count(self) -> int:
        return int(self.db.read().execute("SELECT COUNT(*) FROM docs").fetchone()[0])

    def search(self, query: str, k: int) -> list[Hit]:
        toks = query_tokens(query)
        if not toks or k < 1:
            return []
        conn = self.db.read()
        n = self.count()
        avg = {
            r["field"]: max(1e-9, float(r["avg"]))
            for r in conn.execute("SELECT field, AVG(length) AS avg FROM lengths GROUP BY field")
        }
        marks = ",".join("?" * len(toks))
        rows = conn.execute(
            f"SELECT p.token, p.doc, p.field, p.tf, l.length FROM postings p "
            f"JOIN lengths l ON l.doc = p.doc AND l.field = p.field WHERE p.token IN ({marks})",
            toks,
        ).fetchall()
        df: dict[str, set[str]] = {}
        for r in rows:
            df.setdefault(r["token"], set()).add(r["doc"])
        scores: Counter[str] = Counter()
        for r in rows:
            idf = math.log(1.0 + (n - len(df[r["token"]]) + 0.5) / (len(df[r["token"]]) + 0.5))
            norm = r["tf"] * (K1 + 1) / (r["tf"] + K1 * (1 - B + B * r["length"] / avg[r["field"]]))
            scores[r["doc"]] += self.weights.get(r["field"], 1.0) * idf * norm
        best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        metas = {
            r["id"]: json.loads(r["meta"])
            for r in conn.execute(
                f"SELECT id, meta FROM docs WHERE id IN ({','.join('?' * len(best))})", [d for d, _ in best]
            )
        }
        return [Hit(doc, round(score, 6), metas.get(doc, {})) for doc, score in best]
