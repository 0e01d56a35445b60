"""A durable in-process queue in SQLite that carries the event shapes AWS delivers.

Two things publish into it: the blob store (an S3 `ObjectCreated` notification record for every
object written) and services (EventBridge envelopes). A runner drains it, handing each message to
the handlers that `template.yaml` subscribes (an S3 notification that the bucket sends to an SQS queue
arrives wrapped in an SQS event, `sqs_event`, as Lambda's poller delivers it), with Lambda's retry
policy and a dead-letter table for messages that keep failing. Messages survive a crash of the process.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from reelmind.adapters.local.sqlite import Database
from reelmind.ports import BlobInfo, Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,            -- 's3' or 'eventbridge'
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    target TEXT                       -- set when a retry is for one handler only
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    body TEXT NOT NULL,
    error TEXT NOT NULL,
    failed_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Message:
    seq: int
    channel: str
    body: dict[str, Any]
    attempts: int
    target: str | None


class LocalQueue:
    def __init__(self, path: Path, region: str = "local") -> None:
        self.db = Database(path, SCHEMA)
        self.region = region

    # -- producers --------------------------------------------------------------------------
    def object_created(self, bucket: str, info: BlobInfo) -> None:
        self._push("s3", s3_notification(bucket, info, self.region))

    def publish(self, envelopes: Sequence[dict[str, Any]]) -> None:
        for envelope in envelopes:
            self._push("eventbridge", envelope)

    def publish_raw(self, channel: str, body: dict[str, Any]) -> None:
        """Enqueue a message as delivered by the platform (a redelivery, a hand-made event)."""
        if channel not in {"s3", "eventbridge"}:
            raise ValueError(f"unknown channel {channel!r}")
        self._push(channel, body)

    def _push(self, channel: str, body: dict[str, Any], target: str | None = None, attempts: int = 0) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO queue (channel, body, attempts, target) VALUES (?, ?, ?, ?)",
                (channel, json.dumps(body), attempts, target),
            )

    # -- consumer ----------------------------------------------------------------------------
    def pop(self) -> Message | None:
        with self.db.tx() as conn:
            row = conn.execute("SELECT * FROM queue ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM queue WHERE seq = ?", (row["seq"],))
        return Message(row["seq"], row["channel"], json.loads(row["body"]), row["attempts"], row["target"])

    def retry(self, message: Message, target: str) -> None:
        self._push(message.channel, message.body, target=target, attempts=message.attempts + 1)

    def dead_letter(self, message: Message, target: str, error: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO dead_letters (channel, target, body, error, failed_at) VALUES (?, ?, ?, ?, ?)",
                (message.channel, target, json.dumps(message.body), error, time.time()),
            )

    def dead_letters(self) -> list[dict[str, Any]]:
        rows = self.db.read().execute("SELECT * FROM dead_letters ORDER BY seq").fetchall()
        return [dict(r) for r in rows]

    def pending(self) -> int:
        return int(self.db.read().execute("SELECT COUNT(*) FROM queue").fetchone()[0])


class LocalEventBus:
    """The `EventBus` port locally: EventBridge envelopes into the queue."""

    def __init__(self, queue: LocalQueue, bus_name: str = "reelmind") -> None:
        self.queue = queue
        self.bus_name = bus_name

    def publish(self, events: Sequence[Event]) -> None:
        self.queue.publish([eventbridge_envelope(e, self.bus_name, self.queue.region) for e in events])


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def s3_notification(bucket: str, info: BlobInfo, region: str) -> dict[str, Any]:
    """The record S3 sends for an `ObjectCreated:Put`, with the key form-encoded as S3 does."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": _now_iso(),
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "local",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": quote_plus(info.key, safe="/"),
                        "size": info.size,
                        "eTag": info.etag,
                        "sequencer": f"{time.time_ns():016X}",
                    },
                },
            }
        ]
    }


#: The account id local events carry, as in the ARNs of local resources.
LOCAL_ACCOUNT = "000000000000"
#: Who sent an S3 notification to a queue, as SQS records it for messages from S3.
S3_SENDER_ID = "AIDAJHIPRHEMV73VRJEBU"


def sqs_record(
    body: dict[str, Any], queue: str, region: str, receive_count: int = 1, sent_at: float | None = None
) -> dict[str, Any]:
    """One message of an SQS event as Lambda's poller hands it over: `body` (an S3 notification) as JSON
    text. The message id is derived from the body, so a retried message keeps its id, as SQS keeps it."""
    text = json.dumps(body)
    digest = hashlib.sha256(text.encode()).hexdigest()
    sent_ms = str(int((time.time() if sent_at is None else sent_at) * 1000))
    return {
        "messageId": str(uuid.UUID(digest[:32])),
        "receiptHandle": f"local-{digest[:16]}-{receive_count}",
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": sent_ms,
            "SenderId": S3_SENDER_ID,
            "ApproximateFirstReceiveTimestamp": sent_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{region}:{LOCAL_ACCOUNT}:{queue}",
        "awsRegion": region,
    }


def sqs_event(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": list(records)}


def eventbridge_envelope(event: Event, bus_name: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": event.detail_type,
        "source": event.source,
        "account": LOCAL_ACCOUNT,
        "time": _now_iso(),
        "region": region,
        "resources": [],
        "detail": event.detail,
        "event-bus-name": bus_name,
    }
