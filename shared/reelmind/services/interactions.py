"""Interactions: take the feed's event batches from clients, and export the log as training data.

Ingest. A batch is the JSON object `{"events": [...]}`. An envelope that is not that object, or that
holds more than `EventPolicy.max_events` events, is refused whole (`BadRequest`, `TooLarge`); the
API refuses a body over `EventPolicy.max_bytes` before parsing it. Inside a good envelope each event
is checked on its own, and a bad one is dropped and counted by reason (`Drop`), so one broken event
never costs the others. The answer is `IngestReport`: `{"accepted", "duplicates", "dropped":
{reason: count}}`, where `accepted` counts events stored now and `duplicates` events whose id was
stored already or came earlier in the same batch (a retried batch is all duplicates).

The user is taken from each event's `user_id`: the API authenticates the caller (IAM on AWS, an API
key locally) but knows no end-user identity, so the caller, a trusted app back end or gateway, vouches
for the users named in its events (one batch may carry several users).

Export. `InteractionService.export(start, end)` writes the events with `start <= at < end` as Parquet
files, one per UTC day of `at`, with exactly `EXPORT_COLUMNS`, sorted by (`at`, `event_id`), under
`exports/interactions/<yyyy-mm-dd>/<start>_<end>.parquet` (the window's bounds in UTC, to the
millisecond). The same window always writes the same keys, so a re-export (say after late events
arrived) rewrites them. `read_export(blobs, keys)` reads them back as `Interaction`s. pyarrow is imported
on first use only, so the API does not load it.
"""

from __future__ import annotations

import enum
import io
import json
import math
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from reelmind.domain.interactions import EXPORT_COLUMNS, Interaction, InteractionType
from reelmind.errors import BadRequest, TooLarge
from reelmind.ports import BlobStore, InteractionStore, Stored

#: Longest id (event, user, video, request) in characters.
MAX_ID_CHARS = 128
#: Most watch time one play may report: replays count, but four hours of one short video is a bug.
MAX_WATCH_S = 4 * 3600.0
#: Deepest slot in a feed page an event may name.
MAX_POSITION = 10_000
EXPORT_PREFIX = "exports/interactions/"
_ID_FIELDS = ("event_id", "user_id", "video_id")
#: Unicode categories an id may not contain: control, format (invisible), surrogates, line/paragraph breaks.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class Drop(enum.StrEnum):
    """Why a single event was dropped (the keys of `IngestReport.dropped`)."""

    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"  # an id, the type or the time is absent, null or empty
    INVALID_ID = "invalid_id"  # not a string, too long, or with control or invisible characters
    UNKNOWN_TYPE = "unknown_type"
    INVALID_TIME = "invalid_time"  # not a finite number
    IN_FUTURE = "in_future"  # later than now plus the allowed clock skew
    TOO_OLD = "too_old"  # older than the oldest time accepted
    INVALID_WATCH_TIME = "invalid_watch_time"  # a play without a finite 0 <= watch_s <= MAX_WATCH_S
    UNEXPECTED_WATCH_TIME = "unexpected_watch_time"  # watch_s on an event that is not a play
    INVALID_POSITION = "invalid_position"  # not an integer in 0..MAX_POSITION


@dataclass(frozen=True, slots=True)
class EventPolicy:
    """Limits on what `POST /events` takes (settings `REELMIND_EVENTS_*`)."""

    max_events: int = 500  # events in one batch
    max_bytes: int = 1 << 20  # bytes in one request body
    max_skew_s: float = 300.0  # how far in the future an event's time may be (client clocks drift)
    max_age_s: float = 7 * 86400.0  # how old an event may be (clients buffer while offline)


@dataclass(frozen=True, slots=True)
class IngestReport:
    accepted: int
    duplicates: int
    dropped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "dropped": dict(self.dropped)}


class _Dropped(Exception):
    def __init__(self, reason: Drop) -> None:
        super().__init__(reason.value)
        self.reason = reason


def parse_batch(raw: bytes) -> Any:
    """The JSON of a request body; `BadRequest` when it is not JSON (NaN and Infinity are not JSON)."""

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(raw, parse_constant=no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f'the body is not JSON; expected {{"events": [...]}} ({exc})') from None


def _id(d: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = d.get(name)
    if value is None or value == "":
        if required:
            raise _Dropped(Drop.MISSING_FIELD)
        return None
    if (
        not isinstance(value, str)
        or len(value) > MAX_ID_CHARS
        or value != value.strip()
        or any(unicodedata.category(c) in _BAD_CATEGORIES for c in value)
    ):
        raise _Dropped(Drop.INVALID_ID)
    return value


def _number(value: object) -> float | None:
    """A finite JSON number as float; None for anything else (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_event(raw: object, now: float, policy: EventPolicy) -> Interaction:
    """One event of a batch, checked; raises `_Dropped` with the reason when it is not acceptable."""
    if not isinstance(raw, dict):
        raise _Dropped(Drop.NOT_AN_OBJECT)
    event_id, user_id, video_id = (_id(raw, name) for name in _ID_FIELDS)
    assert event_id is not None and user_id is not None and video_id is not None
    kind = raw.get("type")
    if kind is None or kind == "":
        raise _Dropped(Drop.MISSING_FIELD)
    if kind not in InteractionType._value2member_map_:
        raise _Dropped(Drop.UNKNOWN_TYPE)
    type_ = InteractionType(kind)
    if raw.get("at") is None:
        raise _Dropped(Drop.MISSING_FIELD)
    at = _number(raw["at"])
    if at is None:
        raise _Dropped(Drop.INVALID_TIME)
    if at > now + policy.max_skew_s:
        raise _Dropped(Drop.IN_FUTURE)
    if at < now - policy.max_age_s:
        raise _Dropped(Drop.TOO_OLD)
    watch_s: float | None = None
    if type_ is InteractionType.PLAY:
        watch_s = _number(raw.get("watch_s"))
        if watch_s is None or not 0 <= watch_s <= MAX_WATCH_S:
            raise _Dropped(Drop.INVALID_WATCH_TIME)
    elif raw.get("watch_s") is not None:
        raise _Dropped(Drop.UNEXPECTED_WATCH_TIME)
    position = raw.get("position")
    if position is not None and (
        isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= MAX_POSITION
    ):
        raise _Dropped(Drop.INVALID_POSITION)
    request_id = _id(raw, "request_id", required=False)
    return Interaction(event_id, user_id, video_id, type_, at, watch_s, position, request_id)


class InteractionService:
    """Ingest of event batches and export of the log. `store` is the port the feed also reads
    (history, seen, video_stats); `blobs` receives the exports."""

    def __init__(
        self,
        store: InteractionStore,
        blobs: BlobStore,
        policy: EventPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.policy = policy or EventPolicy()
        self.clock = clock

    def ingest(self, batch: object) -> IngestReport:
        """Validate a parsed batch `{"events": [...]}` and store its good events once each."""
        if not isinstance(batch, dict) or not isinstance(batch.get("events"), list):
            raise BadRequest('expected a JSON object {"events": [...]} with a list of events')
        raw_events: list[object] = batch["events"]
        if len(raw_events) > self.policy.max_events:
            raise TooLarge(
                f"the batch has {len(raw_events)} events; send at most {self.policy.max_events} per request"
            )
        now = self.clock()
        dropped: Counter[str] = Counter()
        events: list[Interaction] = []
        ids: set[str] = set()
        repeated = 0
        for raw in raw_events:
            try:
                event = parse_event(raw, now, self.policy)
            except _Dropped as d:
                dropped[d.reason.value] += 1
                continue
            if event.event_id in ids:
                repeated += 1
                continue
            ids.add(event.event_id)
            events.append(event)
        stored = self.store.put_events(events) if events else Stored(0, 0)
        return IngestReport(stored.stored, stored.duplicates + repeated, dict(sorted(dropped.items())))

    def export(self, start: float, end: float) -> list[str]:
        """Write the events with `start <= at < end` as Parquet, one file per UTC day that has events;
        the keys written, oldest day first. Re-exporting a window rewrites the same keys."""
        if not (math.isfinite(start) and math.isfinite(end) and start < end):
            raise BadRequest(f"the export window needs finite times with start < end, not [{start}, {end})")
        by_day: dict[date, list[Interaction]] = defaultdict(list)
        for event in self.store.events_between(start, end):
            by_day[datetime.fromtimestamp(event.at, UTC).date()].append(event)
        window = f"{_stamp(start)}_{_stamp(end)}"
        keys: list[str] = []
        for day in sorted(by_day):
            key = f"{EXPORT_PREFIX}{day.isoformat()}/{window}.parquet"
            rows = sorted(by_day[day], key=lambda e: (e.at, e.event_id))
            self.blobs.put_bytes(key, to_parquet(rows), "application/vnd.apache.parquet")
            keys.append(key)
        return keys


def _stamp(t: float) -> str:
    """A time as `YYYYmmddTHHMMSS.mmmZ` (UTC), for export keys."""
    moment = datetime.fromtimestamp(t, UTC)
    return moment.strftime("%Y%m%dT%H%M%S") + f".{moment.microsecond // 1000:03d}Z"


def _schema() -> Any:
    import pyarrow as pa

    schema = pa.schema(
        [
            ("event_id", pa.string()),
            ("user_id", pa.string()),
            ("video_id", pa.string()),
            ("type", pa.string()),
            ("at", pa.float64()),
            ("watch_s", pa.float64()),
            ("position", pa.int64()),
            ("request_id", pa.string()),
        ]
    )
    assert tuple(schema.names) == EXPORT_COLUMNS
    return schema


def to_parquet(events: Sequence[Interaction]) -> bytes:
    """Events as one Parquet file (bytes) with exactly `EXPORT_COLUMNS`, in the order given."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([e.to_dict() for e in events], schema=_schema())
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def read_export(blobs: BlobStore, keys: Sequence[str]) -> list[Interaction]:
    """The events of exported files, file by file in the order of `keys` (each file sorted by time).
    `BadRequest` when a file does not have exactly `EXPORT_COLUMNS`."""
    import pyarrow.parquet as pq

    events: list[Interaction] = []
    for key in keys:
        table = pq.read_table(io.BytesIO(blobs.get_bytes(key)))
        if tuple(table.column_names) != EXPORT_COLUMNS:
            raise BadRequest(f"{key} is not an interactions export: its columns are {table.column_names}")
        events += [Interaction.from_dict(row) for row in table.to_pylist()]
    return events
