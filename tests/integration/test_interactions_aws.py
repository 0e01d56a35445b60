"""The DynamoDB interaction store beyond the contract: its item keys, and counters that survive a batch
failing halfway (a retry after the failure never counts an event twice)."""

from __future__ import annotations

import boto3
import pytest
from pynamodb.exceptions import PutError

from reelmind.adapters.aws.interactions import DAY_SHARDS, DynamoInteractionStore, shard_of
from reelmind.domain.interactions import Interaction, InteractionType
from reelmind.ports import Stored
from reelmind.ranking.types import VideoStats

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z


def _play(event_id: str, request_id: str | None = None) -> Interaction:
    return Interaction(event_id, "u1", "v1", InteractionType.PLAY, T0, 30.0, 0, request_id)


def test_an_event_item_is_keyed_by_its_id_and_indexed_by_user_and_day(interactions_table: str) -> None:
    DynamoInteractionStore(interactions_table, long_view_s=10.0).put_events([_play("e1")])
    item = boto3.client("dynamodb").get_item(
        TableName=interactions_table, Key={"pk": {"S": "EVENT#e1"}, "sk": {"S": "EVENT"}}
    )["Item"]
    assert item["gsi1pk"] == {"S": "USER#u1"}
    assert item["gsi1sk"]["S"] == f"{T0:020.6f}#e1"
    assert item["gsi2pk"] == {"S": f"DAY#2026-11-18#{shard_of('e1')}"}
    assert 0 <= shard_of("e1") < DAY_SHARDS
    assert len({shard_of(f"e{i}") for i in range(100)}) == DAY_SHARDS  # ids spread over every shard


def test_a_batch_that_fails_halfway_keeps_its_counters_and_a_retry_adds_none(interactions_table: str) -> None:
    store = DynamoInteractionStore(interactions_table, long_view_s=10.0)
    # An item over DynamoDB's 400 KB limit is refused: the batch fails after its first event was stored.
    batch = [_play("e1"), _play("e2", request_id="r" * 500_000)]
    with pytest.raises(PutError):
        store.put_events(batch)
    assert store.video_stats(["v1"]) == {"v1": VideoStats(plays=1, long_views=1)}
    # The client retries with the bad event fixed: e1 is a duplicate, only e2 counts.
    assert store.put_events([_play("e1"), _play("e2")]) == Stored(stored=1, duplicates=1)
    assert store.video_stats(["v1"]) == {"v1": VideoStats(plays=2, long_views=2)}
