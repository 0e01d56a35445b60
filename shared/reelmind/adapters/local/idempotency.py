"""Powertools idempotency records in SQLite, so `@idempotent` handlers behave the same locally as on AWS.

The rules are those of Powertools' DynamoDB persistence layer: a record is written only when no record
exists for the key, when the record has expired, or when it is INPROGRESS and its in-progress expiry (the
invocation's deadline, in milliseconds) has passed; otherwise the existing record is handed back so that
Powertools returns the stored response or reports the call in progress.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from reelmind.adapters.local.sqlite import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    expiration INTEGER NOT NULL,
    in_progress_expiration INTEGER,
    data TEXT NOT NULL DEFAULT '',
    validation TEXT NOT NULL DEFAULT ''
);
"""


class SqlitePersistenceLayer(BasePersistenceLayer):
    """Idempotency records in one SQLite file (`idempotency.db` in the local data folder)."""

    def __init__(self, path: Path) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._db = Database(path, _SCHEMA)

    def _get_record(self, idempotency_key: str) -> DataRecord:
        row = self._db.read().execute("SELECT * FROM idempotency WHERE id = ?", (idempotency_key,)).fetchone()
        if row is None:
            raise IdempotencyItemNotFoundError
        return _record(row)

    def _put_record(self, data_record: DataRecord) -> None:
        now = time.time()
        with self._db.tx() as conn:
            row = conn.execute(
                "SELECT * FROM idempotency WHERE id = ?", (data_record.idempotency_key,)
            ).fetchone()
            if row is not None and not _replaceable(row, now):
                old = _record(row)
                self._validate_payload(data_payload=data_record, stored_data_record=old)
                raise IdempotencyItemAlreadyExistsError(old_data_record=old)
            conn.execute(
                "INSERT OR REPLACE INTO idempotency (id, status, expiration, in_progress_expiration, data, validation)"
                " VALUES (?, ?, ?, ?, '', ?)",
                (
                    data_record.idempotency_key,
                    data_record.status,
                    data_record.expiry_timestamp,
                    data_record.in_progress_expiry_timestamp,
                    data_record.payload_hash if self.payload_validation_enabled else "",
                ),
            )

    def _update_record(self, data_record: DataRecord) -> None:
        with self._db.tx() as conn:
            conn.execute(
                "UPDATE idempotency SET data = ?, expiration = ?, status = ? WHERE id = ?",
                (
                    data_record.response_data,
                    data_record.expiry_timestamp,
                    data_record.status,
                    data_record.idempotency_key,
                ),
            )

    def _delete_record(self, data_record: DataRecord) -> None:
        with self._db.tx() as conn:
            conn.execute("DELETE FROM idempotency WHERE id = ?", (data_record.idempotency_key,))


def _replaceable(row: sqlite3.Row, now: float) -> bool:
    """The conditions under which Powertools' DynamoDB layer overwrites a record."""
    if int(row["expiration"]) < int(now):
        return True
    in_progress = row["in_progress_expiration"]
    return row["status"] == "INPROGRESS" and in_progress is not None and int(in_progress) < int(now * 1000)


def _record(row: sqlite3.Row) -> DataRecord:
    return DataRecord(
        idempotency_key=row["id"],
        status=row["status"],
        expiry_timestamp=row["expiration"],
        in_progress_expiry_timestamp=row["in_progress_expiration"],
        response_data=row["data"],
        payload_hash=row["validation"],
    )
