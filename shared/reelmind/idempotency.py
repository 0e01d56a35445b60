"""Powertools idempotency for the handlers whose side effects are not idempotent by design.

Most of ReelMind is idempotent by construction: ingest keys a video by its bytes and works under a lease,
analyzers and thumbnails store one result per version, job ids come from what a job computes. What is
not is *submitting* a job: two deliveries of one "VideoReady" that arrive together both find the asr
job QUEUED and both invoke the SageMaker endpoint, which runs (and bills) each request. Handlers like
that take `@idempotent_on(...)`: the first delivery holds an INPROGRESS record until it finishes (or its
Lambda deadline passes, after a crash), a concurrent one fails with `IdempotencyAlreadyInProgressError`
and is retried by the platform, and later ones get the stored response without running.

The records live in DynamoDB on AWS (`REELMIND_IDEMPOTENCY_TABLE`, the stack's `IdempotencyTable`) and in
`idempotency.db` in the local data folder otherwise, so the same decorator runs in both places.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent,
)

from reelmind.errors import ConfigError
from reelmind.settings import Settings

#: How long a finished call's response is kept and replayed to duplicates.
EXPIRES_AFTER_S = 24 * 3600


def persistence_layer(settings: Settings) -> BasePersistenceLayer:
    if settings.backend == "local":
        from reelmind.adapters.local.idempotency import SqlitePersistenceLayer

        return SqlitePersistenceLayer(settings.data_dir.resolve() / "idempotency.db")
    if not settings.idempotency_table:
        raise ConfigError("the aws backend needs REELMIND_IDEMPOTENCY_TABLE for idempotent handlers")
    from reelmind.adapters.aws.idempotency import dynamodb_persistence_layer

    return dynamodb_persistence_layer(settings.idempotency_table)


def idempotent_on(settings: Settings, name: str, key: str) -> Callable[[Any], Any]:
    """A Lambda handler decorator: one run per value of the JMESPath `key` in the event.

    `name` prefixes the record's key instead of the handler's module path, which the local runner makes
    unique per load, so that every process and the platform agree on it.
    """
    config = IdempotencyConfig(
        event_key_jmespath=key, raise_on_no_idempotency_key=True, expires_after_seconds=EXPIRES_AFTER_S
    )
    decorator: Callable[[Any], Any] = idempotent(
        persistence_store=persistence_layer(settings), config=config, key_prefix=f"reelmind.{name}"
    )
    return decorator
