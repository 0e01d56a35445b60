"""Result store on SQLite: videos with conditional status changes, results keyed by (video, kind)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reelmind.adapters.local.sqlite import Database
from reelmind.domain.video import MODERATED_BY, Moderation, Video, VideoStatus
from reelmind.errors import BadRequest
from reelmind.ports import Page, Result

SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    video_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    lease_until REAL NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS videos_by_status ON videos (status, created_at);
CREATE INDEX IF NOT EXISTS videos_by_time ON videos (created_at, video_id);
CREATE INDEX IF NOT EXISTS videos_by_moderation ON videos (json_extract(data, '$.moderation'), created_at);
CREATE TABLE IF NOT EXISTS results (
    video_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at REAL NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (video_id, kind)
);
"""


class SqliteResultStore:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, SCHEMA)

    def create_video(self, video: Video) -> bool:
        with self.db.tx() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO videos (video_id, status, created_at, data) VALUES (?, ?, ?, ?)",
                (video.video_id, video.status.value, video.created_at, json.dumps(video.to_dict())),
            )
            return cur.rowcount == 1

    def get_video(self, video_id: str) -> Video | None:
        row = self.db.read().execute("SELECT data FROM videos WHERE video_id = ?", (video_id,)).fetchone()
        return Video.from_dict(json.loads(row["data"])) if row else None

    def claim(self, video_id: str, now: float, lease_s: float) -> bool:
        with self.db.tx() as conn:
            cur = conn.execute(
                "UPDATE videos SET lease_until = ? WHERE video_id = ? AND status = ? AND lease_until <= ?",
                (now + lease_s, video_id, VideoStatus.PROCESSING.value, now),
            )
            return cur.rowcount == 1

    def release(self, video_id: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE videos SET lease_until = 0 WHERE video_id = ? AND status = ?",
                (video_id, VideoStatus.PROCESSING.value),
            )

    def transition(
        self,
        video_id: str,
        to: VideoStatus,
        *,
        expected: Sequence[VideoStatus],
        changes: Mapping[str, Any] | None = None,
    ) -> bool:
        with self.db.tx() as conn:
            row = conn.execute("SELECT status, data FROM videos WHERE video_id = ?", (video_id,)).fetchone()
            if row is None or VideoStatus(row["status"]) not in expected:
                return False
            data = json.loads(row["data"])
            data.update(changes or {})
            data["status"] = to.value
            conn.execute(
                "UPDATE videos SET status = ?, lease_until = 0, data = ? WHERE video_id = ?",
                (to.value, json.dumps(data), video_id),
            )
            return True

    def add_alias(self, video_id: str, key: str) -> None:
        with self.db.tx() as conn:
            row = conn.execute("SELECT data FROM videos WHERE video_id = ?", (video_id,)).fetchone()
            if row is None:
                return
            data = json.loads(row["data"])
            if key != data["source_key"] and key not in data.setdefault("aliases", []):
                data["aliases"].append(key)
                conn.execute("UPDATE videos SET data = ? WHERE video_id = ?", (json.dumps(data), video_id))

    def moderate(self, video_id: str, decision: Moderation, *, by: str, at: float) -> bool:
        if by not in MODERATED_BY:
            raise ValueError(f"moderated by must be one of {MODERATED_BY}, not {by!r}")
        with self.db.tx() as conn:
            row = conn.execute("SELECT data FROM videos WHERE video_id = ?", (video_id,)).fetchone()
            if row is None:
                return False
            data = json.loads(row["data"])
            if by == "auto" and data.get("moderated_by") == "human":
                return False
            data.update(moderation=decision.value, moderated_by=by, moderated_at=at)
            conn.execute("UPDATE videos SET data = ? WHERE video_id = ?", (json.dumps(data), video_id))
            return True

    def delete_video(self, video_id: str) -> bool:
        with self.db.tx() as conn:
            conn.execute("DELETE FROM results WHERE video_id = ?", (video_id,))
            return conn.execute("DELETE FROM videos WHERE video_id = ?", (video_id,)).rowcount == 1

    def put_result(self, result: Result, *, replace: bool = False) -> bool:
        with self.db.tx() as conn:
            row = conn.execute(
                "SELECT version FROM results WHERE video_id = ? AND kind = ?", (result.video_id, result.kind)
            ).fetchone()
            if not replace and row is not None and row["version"] == result.version:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO results (video_id, kind, version, created_at, payload) VALUES (?, ?, ?, ?, ?)",
                (result.video_id, result.kind, result.version, result.created_at, json.dumps(result.payload)),
            )
            return True

    def get_results(self, video_id: str) -> dict[str, Result]:
        rows = self.db.read().execute("SELECT * FROM results WHERE video_id = ? ORDER BY kind", (video_id,))
        return {
            r["kind"]: Result(
                r["video_id"], r["kind"], r["version"], json.loads(r["payload"]), r["created_at"]
            )
            for r in rows
        }

    def list_videos(
        self,
        *,
        status: VideoStatus | None = None,
        moderation: Moderation | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        if limit < 1:
            raise BadRequest("the page size must be at least 1")
        where: list[str] = []
        args: list[object] = []
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        if moderation is not None:
            where.append("json_extract(data, '$.moderation') = ?")
            args.append(moderation.value)
        if cursor:
            created_at, video_id = _decode_cursor(cursor)
            where.append("(created_at < ? OR (created_at = ? AND video_id < ?))")
            args += [created_at, created_at, video_id]
        sql = "SELECT data, created_at, video_id FROM videos"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, video_id DESC LIMIT ?"
        rows = self.db.read().execute(sql, [*args, limit + 1]).fetchall()
        items = [Video.from_dict(json.loads(r["data"])) for r in rows[:limit]]
        next_cursor = (
            _encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["video_id"])
            if len(rows) > limit
            else None
        )
        return Page(items=items, cursor=next_cursor)


def _encode_cursor(created_at: float, video_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, video_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at, video_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return float(created_at), str(video_id)
    except (ValueError, TypeError):
        raise BadRequest("the page cursor is not valid; pass back the cursor of the previous page") from None
