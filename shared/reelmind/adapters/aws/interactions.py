"""Interaction store on DynamoDB (through PynamoDB), in a table of its own: `InteractionsTable`.

The event log is the platform's busiest write path and has its own lifetime and access patterns, so it
does not share the results table: its capacity, alarms and (later) archiving stay separate. The table
of `template.yaml` has string keys `pk`/`sk` and two indexes, `gsi1` (`gsi1pk`/`gsi1sk`) and `gsi2`
(`gsi2pk`/`gsi2sk`), all attributes projected. Items:

* event - pk `EVENT#<event_id>`, sk `EVENT`; `user_id`, `video_id`, `type`, `at`, `watch_s`,
  `position`, `request_id`. Written with the condition that the key is absent, so an event id is
  stored once and a duplicate is counted, never rewritten.
  - gsi1pk `USER#<user_id>`, gsi1sk `<at>#<event_id>`: a user's history is one query, newest first.
  - gsi2pk `DAY#<yyyy-mm-dd>#<shard>`, gsi2sk `<at>#<event_id>`: the UTC day of `at`, spread over
    `DAY_SHARDS` partitions (crc32 of the event id) so one day's writes do not all land on one index
    partition. `events_between` queries the (day, shard) partitions its window touches, with a key
    condition on the time: the export is a set of queries, never a scan.
  `<at>` is the epoch time zero-padded to 20 characters with 6 decimals, so strings sort as times;
  the exact `at` is filtered again on the number attribute.
* seen - pk `USER#<user_id>`, sk `SEEN#<video_id>`: written (idempotently, in batches) for every
  event, before the event itself, so `seen` is one query on the user's partition.
* counters - pk `VIDEO#<video_id>`, sk `STATS`: `impressions`, `plays`, ... bumped with atomic `ADD`
  updates, one per video per batch, for the events whose conditional put succeeded (the rule in
  `reelmind.domain.engagement`). The counters are added even when a later put of the same batch
  fails (throttled, say), so a retried batch, whose stored events come back as duplicates, never
  counts twice; only a process that dies between the puts and the update leaves its events
  uncounted (an undercount, never a double count; the log itself is exact).

History reads the user index, which is eventually consistent: an event can take a moment to show.

The endpoint is `AWS_ENDPOINT_URL_DYNAMODB` or `AWS_ENDPOINT_URL` when set, the region `AWS_REGION` or
`AWS_DEFAULT_REGION`, as for the other DynamoDB adapters. Throttling becomes `Throttled`.
"""

from __future__ import annotations

import functools
import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from reelmind.adapters.aws.results import _conditional, _dynamo, dynamo_location
from reelmind.domain.engagement import COUNTERS, increments
from reelmind.domain.interactions import Interaction, InteractionType
from reelmind.ports import Stored
from reelmind.ranking.types import VideoStats

EVENT_PREFIX = "EVENT#"
EVENT_SK = "EVENT"
USER_PREFIX = "USER#"
SEEN_PREFIX = "SEEN#"
VIDEO_PREFIX = "VIDEO#"
STATS_SK = "STATS"
DAY_PREFIX = "DAY#"
#: Index partitions per day of events (fixed: changing it would hide events written before).
DAY_SHARDS = 8
#: BatchGetItem takes at most 100 keys.
_BATCH_GET = 100


class ByUser(GlobalSecondaryIndex["EventItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ByDay(GlobalSecondaryIndex["EventItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class EventItem(Model):
    """One interaction event; unbound (no table) until subclassed by `_models`."""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = UnicodeAttribute()
    video_id = UnicodeAttribute()
    type = UnicodeAttribute()
    at = NumberAttribute()
    watch_s = NumberAttribute(null=True)
    position = NumberAttribute(null=True)
    request_id = UnicodeAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    by_user = ByUser()
    by_day = ByDay()

    def to_interaction(self) -> Interaction:
        return Interaction(
            event_id=self.pk.removeprefix(EVENT_PREFIX),
            user_id=self.user_id,
            video_id=self.video_id,
            type=InteractionType(self.type),
            at=float(self.at),
            watch_s=None if self.watch_s is None else float(self.watch_s),
            position=None if self.position is None else int(self.position),
            request_id=self.request_id,
        )


class SeenItem(Model):
    """A video the user had an event for; unbound until subclassed by `_models`."""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class StatsItem(Model):
    """The counters of one video; unbound until subclassed by `_models`."""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    impressions = NumberAttribute(null=True)
    plays = NumberAttribute(null=True)
    long_views = NumberAttribute(null=True)
    likes = NumberAttribute(null=True)
    follows = NumberAttribute(null=True)
    shares = NumberAttribute(null=True)

    def to_stats(self) -> VideoStats:
        return VideoStats(**{name: int(getattr(self, name) or 0) for name in COUNTERS})


@functools.cache
def _models(
    table: str, endpoint: str | None, region_name: str | None
) -> tuple[type[EventItem], type[SeenItem], type[StatsItem]]:
    """Model classes bound to one table (cached: one class, and so one connection, per table)."""

    class BoundEventItem(EventItem):
        class Meta:
            table_name = table
            host = endpoint
            region = region_name

    class BoundSeenItem(SeenItem):
        class Meta:
            table_name = table
            host = endpoint
            region = region_name

    class BoundStatsItem(StatsItem):
        class Meta:
            table_name = table
            host = endpoint
            region = region_name

    return BoundEventItem, BoundSeenItem, BoundStatsItem


def time_key(at: float, event_id: str = "") -> str:
    """The sortable form of a time (and event id) used in index sort keys."""
    return f"{at:020.6f}#{event_id}"


def day_of(at: float) -> date:
    return datetime.fromtimestamp(at, UTC).date()


def day_partition(day: date, shard: int) -> str:
    return f"{DAY_PREFIX}{day.isoformat()}#{shard}"


def shard_of(event_id: str) -> int:
    return zlib.crc32(event_id.encode()) % DAY_SHARDS


class DynamoInteractionStore:
    """The `InteractionStore` port on the DynamoDB table named `table` (see the module docstring)."""

    def __init__(self, table: str, *, long_view_s: float) -> None:
        self.table = table
        self.long_view_s = long_view_s
        host, region = dynamo_location()
        self._events, self._seen, self._stats = _models(table, host, region)

    def _event_item(self, e: Interaction) -> EventItem:
        key = time_key(e.at, e.event_id)
        return self._events(
            EVENT_PREFIX + e.event_id,
            EVENT_SK,
            user_id=e.user_id,
            video_id=e.video_id,
            type=e.type.value,
            at=e.at,
            watch_s=e.watch_s,
            position=e.position,
            request_id=e.request_id,
            gsi1pk=USER_PREFIX + e.user_id,
            gsi1sk=key,
            gsi2pk=day_partition(day_of(e.at), shard_of(e.event_id)),
            gsi2sk=key,
        )

    def put_events(self, events: Sequence[Interaction]) -> Stored:
        pairs = dict.fromkeys((e.user_id, e.video_id) for e in events)
        with _dynamo("record seen videos"), self._seen.batch_write() as batch:
            for user_id, video_id in pairs:
                batch.save(self._seen(USER_PREFIX + user_id, SEEN_PREFIX + video_id))
        stored = 0
        bumps: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        try:
            for e in events:
                item = self._event_item(e)
                with _dynamo(f"store event {e.event_id!r}"):
                    if not _conditional(item.save, condition=self._events.pk.does_not_exist()):
                        continue
                stored += 1
                for name, n in increments(e, self.long_view_s).items():
                    bumps[e.video_id][name] += n
        finally:
            self._add_counters(bumps)
        return Stored(stored=stored, duplicates=len(events) - stored)

    def _add_counters(self, bumps: dict[str, dict[str, int]]) -> None:
        s = self._stats
        for video_id, counts in bumps.items():
            actions = [getattr(s, name).add(n) for name, n in counts.items() if n]
            if actions:
                with _dynamo(f"count events of video {video_id!r}"):
                    s(VIDEO_PREFIX + video_id, STATS_SK).update(actions=actions)

    def history(self, user_id: str, limit: int) -> list[Interaction]:
        if limit < 1:
            return []
        with _dynamo(f"read the history of user {user_id!r}"):
            items = self._events.by_user.query(USER_PREFIX + user_id, scan_index_forward=False, limit=limit)
            return [item.to_interaction() for item in items]

    def seen(self, user_id: str) -> set[str]:
        s = self._seen
        with _dynamo(f"read the videos user {user_id!r} has seen"):
            items = s.query(USER_PREFIX + user_id, s.sk.startswith(SEEN_PREFIX))
            return {item.sk.removeprefix(SEEN_PREFIX) for item in items}

    def video_stats(self, video_ids: Sequence[str]) -> dict[str, VideoStats]:
        ids = list(dict.fromkeys(video_ids))
        out: dict[str, VideoStats] = {}
        with _dynamo("read video counters"):
            for i in range(0, len(ids), _BATCH_GET):
                keys = [(VIDEO_PREFIX + v, STATS_SK) for v in ids[i : i + _BATCH_GET]]
                for item in self._stats.batch_get(keys):
                    out[item.pk.removeprefix(VIDEO_PREFIX)] = item.to_stats()
        return out

    def events_between(self, start: float, end: float) -> Iterator[Interaction]:
        if not start < end:
            return
        e = self._events
        # Every sort key of a time that rounds to end's key sorts below "<end>$" ('$' follows '#').
        low, high = time_key(start), f"{end:020.6f}$"
        day, last = day_of(start), day_of(end)
        while day <= last:
            for shard in range(DAY_SHARDS):
                condition: Any = ByDay.gsi2sk.between(low, high)
                with _dynamo(f"read events of {day.isoformat()}"):
                    for item in e.by_day.query(day_partition(day, shard), range_key_condition=condition):
                        if start <= item.at < end:
                            yield item.to_interaction()
            day += timedelta(days=1)
