"""The Powertools idempotency records, on SQLite (local) and on DynamoDB Local (aws): one decorator,
the same answers.

The handler below counts its runs; each test drives it through `@idempotent` as Lambda would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyKeyError,
)

from reelmind.adapters.local.runner import LambdaContext
from reelmind.idempotency import persistence_layer
from reelmind.settings import Settings

ADAPTERS = ["local", "aws"]


@pytest.fixture(params=ADAPTERS)
def layer(request: pytest.FixtureRequest, tmp_path: Path) -> BasePersistenceLayer:
    if request.param == "aws":
        table = request.getfixturevalue("idempotency_table")
        return persistence_layer(Settings(backend="aws", idempotency_table=table))
    return persistence_layer(Settings(backend="local", data_dir=tmp_path / "var"))


class Counter:
    """A handler that records each event it really ran on; `during` runs inside it (to crash or re-enter)."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self.during: Callable[[dict[str, Any], Any], None] | None = None

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.runs.append(event)
        if self.during is not None:
            self.during(event, context)
        return {"job": f"j-{event['video_id']}", "n": len(self.runs)}


def decorate(layer: BasePersistenceLayer, fn: Counter) -> Callable[[dict[str, Any], Any], Any]:
    config = IdempotencyConfig(event_key_jmespath="video_id", raise_on_no_idempotency_key=True)

    @idempotent(persistence_store=layer, config=config, key_prefix="test.counter")
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return fn(event, context)

    return handler  # type: ignore[no-any-return]


def context(timeout_s: int = 30) -> LambdaContext:
    return LambdaContext(function_name="test", memory_limit_in_mb=128, timeout_s=timeout_s)


def test_a_duplicate_gets_the_first_response_without_running(layer: BasePersistenceLayer) -> None:
    counter = Counter()
    handler = decorate(layer, counter)
    first = handler({"video_id": "v1", "id": "event-1"}, context())
    again = handler({"video_id": "v1", "id": "event-2"}, context())
    other = handler({"video_id": "v2", "id": "event-3"}, context())
    assert first == again == {"job": "j-v1", "n": 1}
    assert other == {"job": "j-v2", "n": 2}
    assert [e["id"] for e in counter.runs] == ["event-1", "event-3"]


def test_a_failed_run_leaves_no_record_so_the_retry_runs(layer: BasePersistenceLayer) -> None:
    counter = Counter()
    handler = decorate(layer, counter)

    def fail_once(event: dict[str, Any], _context: Any) -> None:
        counter.during = None
        raise RuntimeError("the endpoint refused the job")

    counter.during = fail_once
    with pytest.raises(RuntimeError):
        handler({"video_id": "v1"}, context())
    assert handler({"video_id": "v1"}, context()) == {"job": "j-v1", "n": 2}
    assert len(counter.runs) == 2


def test_a_concurrent_duplicate_is_refused_while_the_first_runs(layer: BasePersistenceLayer) -> None:
    counter = Counter()
    handler = decorate(layer, counter)
    refused: list[BaseException] = []

    def duplicate_arrives(event: dict[str, Any], _context: Any) -> None:
        counter.during = None
        with pytest.raises(IdempotencyAlreadyInProgressError) as err:
            handler(dict(event), context())
        refused.append(err.value)

    counter.during = duplicate_arrives
    assert handler({"video_id": "v1"}, context()) == {"job": "j-v1", "n": 1}
    assert len(refused) == 1 and len(counter.runs) == 1


def test_a_run_killed_midway_blocks_retries_until_its_deadline_passes(layer: BasePersistenceLayer) -> None:
    """A process killed inside the handler cannot remove its INPROGRESS record (SystemExit is not an
    Exception, so Powertools keeps the record, as after a real kill); the record stands for the
    invocation's remaining time, then a retry runs."""
    counter = Counter()
    handler = decorate(layer, counter)

    def killed(_event: dict[str, Any], _context: Any) -> None:
        counter.during = None
        raise SystemExit(137)

    counter.during = killed
    with pytest.raises(SystemExit):
        handler({"video_id": "v1"}, context(timeout_s=1))
    with pytest.raises(IdempotencyAlreadyInProgressError):
        handler({"video_id": "v1"}, context())
    time.sleep(1.2)
    assert handler({"video_id": "v1"}, context()) == {"job": "j-v1", "n": 2}
    assert handler({"video_id": "v1"}, context()) == {"job": "j-v1", "n": 2}
    assert len(counter.runs) == 2


def test_an_event_without_the_key_is_refused(layer: BasePersistenceLayer) -> None:
    counter = Counter()
    with pytest.raises(IdempotencyKeyError):
        decorate(layer, counter)({"other": 1}, context())
    assert counter.runs == []
