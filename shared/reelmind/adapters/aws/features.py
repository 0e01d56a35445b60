"""Ranking features on DynamoDB (`FeaturesTable` of template.yaml, through PynamoDB).

One item per video, hash key `video_id`: `category`, `quality`, `embedding` (the semantic vector as
float16 bytes, a Binary attribute: 768 bytes for 384-d, the same bytes the SQLite adapter keeps),
`created_at`, `duration_s`, `author_id`, `eligible`, `updated_at`, and `shard`.

`changed_since` is a query, never a scan: index `by_update` has `shard` as its partition key and
`updated_at` (a number) as its sort key, with every attribute projected. `shard` is `F0`..`F3`, from a
hash of the video id, so writes spread over four index partitions instead of one hot one; a read
queries each shard for `updated_at > t` and merges the four ascending streams. Index reads are
eventually consistent: a feed snapshot re-reads a short overlap behind its watermark to catch a write
that became visible late.

The table is its own (not items in `ResultsTable`): it is read whole by every feed process, has its
own key and index, and its capacity and retention are tuned apart from the results.
"""

from __future__ import annotations

import functools
import heapq
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

from pynamodb.attributes import BinaryAttribute, BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from reelmind.adapters.aws.results import _dynamo, dynamo_location
from reelmind.adapters.local.features import pack_embedding, unpack_embedding
from reelmind.ranking.types import VideoFeatures

#: Partitions of the `by_update` index (changing it needs a backfill of `shard`).
SHARDS = 4
INDEX = "by_update"


def shard_of(video_id: str) -> str:
    return f"F{zlib.crc32(video_id.encode()) % SHARDS}"


class ByUpdate(GlobalSecondaryIndex["FeatureItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = INDEX
        projection = AllProjection()

    shard = UnicodeAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class FeatureItem(Model):
    """A video's features; unbound (no table) until subclassed by `_model`."""

    video_id = UnicodeAttribute(hash_key=True)
    category = UnicodeAttribute(default="")
    quality = NumberAttribute()
    embedding = BinaryAttribute(legacy_encoding=False)
    created_at = NumberAttribute()
    duration_s = NumberAttribute()
    author_id = UnicodeAttribute(default="")
    eligible = BooleanAttribute()
    updated_at = NumberAttribute()
    shard = UnicodeAttribute()
    by_update = ByUpdate()


@functools.cache
def _model(table: str, endpoint: str | None, region_name: str | None) -> type[FeatureItem]:
    class BoundFeatureItem(FeatureItem):
        class Meta:
            table_name = table
            host = endpoint
            region = region_name

    return BoundFeatureItem


class DynamoFeatureStore:
    """The `FeatureStore` port on the DynamoDB table named `table`."""

    def __init__(self, table: str) -> None:
        host, region = dynamo_location()
        self._items = _model(table, host, region)

    def put_features(self, features: VideoFeatures, *, eligible: bool, updated_at: float) -> None:
        f = features
        item = self._items(
            f.video_id,
            category=f.category,
            quality=float(f.quality),
            embedding=pack_embedding(f.embedding),
            created_at=float(f.created_at),
            duration_s=float(f.duration_s),
            author_id=f.author_id,
            eligible=bool(eligible),
            updated_at=float(updated_at),
            shard=shard_of(f.video_id),
        )
        with _dynamo(f"put features of {f.video_id!r}"):
            item.save()

    def get_features(self, video_ids: Sequence[str]) -> dict[str, VideoFeatures]:
        ids = list(dict.fromkeys(video_ids))
        if not ids:
            return {}
        with _dynamo(f"get features of {len(ids)} videos"):
            return {item.video_id: _features(item) for item in self._items.batch_get(ids)}

    def changed_since(self, updated_at: float) -> Iterator[tuple[VideoFeatures, bool, float]]:
        streams = [self._shard(f"F{s}", float(updated_at)) for s in range(SHARDS)]
        for item in heapq.merge(*streams, key=lambda i: float(i.updated_at)):
            yield _features(item), bool(item.eligible), float(item.updated_at)

    def _shard(self, shard: str, after: float) -> Iterator[FeatureItem]:
        with _dynamo(f"read feature changes of shard {shard}"):
            yield from self._items.by_update.query(
                shard, self._items.updated_at > after, scan_index_forward=True
            )


def _features(item: Any) -> VideoFeatures:
    return VideoFeatures(
        video_id=str(item.video_id),
        category=str(item.category or ""),
        quality=float(item.quality),
        embedding=unpack_embedding(bytes(item.embedding)),
        created_at=float(item.created_at),
        duration_s=float(item.duration_s),
        author_id=str(item.author_id or ""),
    )
