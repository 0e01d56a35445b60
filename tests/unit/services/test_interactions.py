"""InteractionService: each bad event dropped with its reason, bad envelopes refused, duplicates counted,
and the Parquet export read back exactly. On the local store and blob folder (the real adapters)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelmind.adapters.local.blobs import FolderBlobStore
from reelmind.adapters.local.interactions import SqliteInteractionStore
from reelmind.domain.interactions import EXPORT_COLUMNS, Interaction, InteractionType
from reelmind.errors import BadRequest, TooLarge
from reelmind.ranking.types import VideoStats
from reelmind.services.interactions import (
    MAX_ID_CHARS,
    EventPolicy,
    InteractionService,
    parse_batch,
    read_export,
    to_parquet,
)

NOW = 1_795_000_000.0  # 2026-11-18T11:06:40Z
DAY = 86400.0
POLICY = EventPolicy(max_events=20, max_bytes=1 << 16, max_skew_s=300.0, max_age_s=7 * DAY)


@pytest.fixture
def service(tmp_path: Path) -> InteractionService:
    store = SqliteInteractionStore(tmp_path / "interactions.db", long_view_s=10.0)
    return InteractionService(store, FolderBlobStore(tmp_path / "blobs"), POLICY, clock=lambda: NOW)


def good(event_id: str = "e1", **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": event_id,
        "user_id": "u1",
        "video_id": "v1",
        "type": "play",
        "at": NOW - 60,
        "watch_s": 12.0,
        "position": 3,
        "request_id": "r1",
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not ...}


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("not an object", "not_an_object"),
        (["e1", "u1"], "not_an_object"),
        (good(event_id=...), "missing_field"),
        (good(user_id=""), "missing_field"),
        (good(video_id=None), "missing_field"),
        (good(type=...), "missing_field"),
        (good(at=...), "missing_field"),
        (good(event_id="x" * (MAX_ID_CHARS + 1)), "invalid_id"),
        (good(user_id="u\x001"), "invalid_id"),
        (good(video_id="v\n1"), "invalid_id"),
        (good(video_id="v\u200b1"), "invalid_id"),  # zero-width space: invisible
        (good(event_id="\ud800"), "invalid_id"),  # a lone surrogate cannot be stored as UTF-8
        (good(user_id=42), "invalid_id"),
        (good(event_id=" e1"), "invalid_id"),
        (good(request_id="r\x7f"), "invalid_id"),
        (good(type="purchase"), "unknown_type"),
        (good(type="PLAY"), "unknown_type"),
        (good(type=1), "unknown_type"),
        (good(at="yesterday"), "invalid_time"),
        (good(at=True), "invalid_time"),
        (good(at=float("nan")), "invalid_time"),
        (good(at=NOW + 301), "in_future"),
        (good(at=NOW - 7 * DAY - 1), "too_old"),
        (good(at=-1.0), "too_old"),
        (good(watch_s=-0.5), "invalid_watch_time"),
        (good(watch_s=...), "invalid_watch_time"),
        (good(watch_s=None), "invalid_watch_time"),
        (good(watch_s=1e9), "invalid_watch_time"),
        (good(watch_s="12"), "invalid_watch_time"),
        (good(watch_s=float("inf")), "invalid_watch_time"),
        (good(type="like", watch_s=3.0), "unexpected_watch_time"),
        (good(position=-1), "invalid_position"),
        (good(position=2.5), "invalid_position"),
        (good(position=True), "invalid_position"),
        (good(position=10**9), "invalid_position"),
    ],
)
def test_a_bad_event_is_dropped_with_its_reason_and_the_rest_stored(
    service: InteractionService, event: object, reason: str
) -> None:
    report = service.ingest({"events": [event, good("ok")]})
    assert report.to_dict() == {"accepted": 1, "duplicates": 0, "dropped": {reason: 1}}
    assert [e.event_id for e in service.store.history("u1", 10)] == ["ok"]


@pytest.mark.parametrize(
    "event",
    [
        good(),
        good(type="impression", watch_s=None, position=0),
        good(type="skip", watch_s=..., position=..., request_id=...),
        good(type="like", watch_s=None, request_id=None),
        good(at=NOW + 299),  # within the clock skew
        good(at=NOW - 7 * DAY + 1),
        good(watch_s=0),
        good(user_id="用户-7", video_id="v#1/é", event_id="x" * MAX_ID_CHARS),
        {**good(), "app_version": "3.1"},  # unknown fields are ignored
    ],
)
def test_good_events_are_stored(service: InteractionService, event: dict[str, Any]) -> None:
    assert service.ingest({"events": [event]}).to_dict() == {"accepted": 1, "duplicates": 0, "dropped": {}}
    [stored] = service.store.history(event["user_id"], 1)
    assert stored.event_id == event["event_id"] and stored.at == event["at"]
    assert stored.watch_s == (None if event.get("watch_s") is None else float(event["watch_s"]))


def test_duplicates_inside_a_batch_and_across_batches_are_counted_not_stored(
    service: InteractionService,
) -> None:
    first = service.ingest({"events": [good("a"), good("b", type="impression", watch_s=None), good("a")]})
    assert first.to_dict() == {"accepted": 2, "duplicates": 1, "dropped": {}}
    second = service.ingest({"events": [good("a"), good("c", type="like", watch_s=None), good("c")]})
    assert second.to_dict() == {"accepted": 1, "duplicates": 2, "dropped": {}}
    assert sorted(e.event_id for e in service.store.history("u1", 10)) == ["a", "b", "c"]
    assert service.store.video_stats(["v1"]) == {
        "v1": VideoStats(impressions=1, plays=1, long_views=1, likes=1)
    }


@pytest.mark.parametrize(
    "batch", [None, [], "events", {"events": None}, {"events": {"e1": {}}}, {"evts": []}, 7]
)
def test_a_malformed_envelope_is_a_bad_request(service: InteractionService, batch: object) -> None:
    with pytest.raises(BadRequest):
        service.ingest(batch)


def test_too_many_events_is_refused_whole(service: InteractionService) -> None:
    with pytest.raises(TooLarge, match="at most 20"):
        service.ingest({"events": [good(f"e{i}") for i in range(21)]})
    assert service.store.history("u1", 1) == []
    assert service.ingest({"events": [good(f"e{i}") for i in range(20)]}).accepted == 20


def test_an_empty_batch_stores_nothing(service: InteractionService) -> None:
    assert service.ingest({"events": []}).to_dict() == {"accepted": 0, "duplicates": 0, "dropped": {}}


@pytest.mark.parametrize("raw", [b"", b"{", b'{"events": [NaN]}', b'{"events": Infinity}', b"\xff\xfe{}"])
def test_a_body_that_is_not_json_is_a_bad_request(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_batch(raw)


def test_parse_batch_reads_json() -> None:
    assert parse_batch(b'{"events": [{"at": 1.5}]}') == {"events": [{"at": 1.5}]}


# -- export --------------------------------------------------------------------------------------------
def _events(service: InteractionService) -> list[Interaction]:
    """Events over three UTC days (2026-11-16 .. 2026-11-18) plus one outside the window."""
    raw = [
        good("d1-a", at=NOW - 2 * DAY, user_id="u2"),
        good("d1-b", at=NOW - 2 * DAY + 5, type="impression", watch_s=None, request_id=None),
        good("d2-a", at=NOW - DAY, type="like", watch_s=None, position=None),
        good("d3-a", at=NOW - 30, type="share", watch_s=None),
        good("d3-b", at=NOW - 40, type="skip", watch_s=None, position=None, request_id=None),
        good("outside", at=NOW - 6 * DAY),
    ]
    assert service.ingest({"events": raw}).accepted == len(raw)
    return [e for e in service.store.events_between(0, NOW + 1) if e.event_id != "outside"]


def test_export_writes_one_file_per_day_with_exactly_the_export_columns(service: InteractionService) -> None:
    expected = _events(service)
    start, end = NOW - 3 * DAY, NOW
    keys = service.export(start, end)
    assert keys == [
        "exports/interactions/2026-11-16/20261115T110640.000Z_20261118T110640.000Z.parquet",
        "exports/interactions/2026-11-17/20261115T110640.000Z_20261118T110640.000Z.parquet",
        "exports/interactions/2026-11-18/20261115T110640.000Z_20261118T110640.000Z.parquet",
    ]
    table = pq.read_table(io.BytesIO(service.blobs.get_bytes(keys[0])))
    assert tuple(table.column_names) == EXPORT_COLUMNS
    assert table.schema.field("at").type == pa.float64() and table.schema.field("position").type == pa.int64()
    assert table.column("event_id").to_pylist() == ["d1-a", "d1-b"]

    back = read_export(service.blobs, keys)
    assert sorted(back, key=lambda e: e.event_id) == sorted(expected, key=lambda e: e.event_id)
    assert [e.event_id for e in back] == ["d1-a", "d1-b", "d2-a", "d3-b", "d3-a"]  # each day by time


def test_re_exporting_a_window_rewrites_the_same_keys(service: InteractionService) -> None:
    _events(service)
    start, end = NOW - 3 * DAY, NOW
    keys = service.export(start, end)
    before = {k: service.blobs.get_bytes(k) for k in keys}
    assert service.export(start, end) == keys
    assert {k: service.blobs.get_bytes(k) for k in keys} == before
    # A late event for the first day: the re-export rewrites that day's file with it.
    service.ingest({"events": [good("late", at=NOW - 2 * DAY + 1)]})
    assert service.export(start, end) == keys
    assert [e.event_id for e in read_export(service.blobs, keys[:1])] == ["d1-a", "late", "d1-b"]
    assert sorted(b.key for b in service.blobs.list("exports/")) == sorted(keys)


def test_an_empty_window_writes_nothing_and_a_wrong_one_is_refused(service: InteractionService) -> None:
    _events(service)
    assert service.export(NOW + 10, NOW + 20) == []
    with pytest.raises(BadRequest):
        service.export(NOW, NOW)
    with pytest.raises(BadRequest):
        service.export(float("nan"), NOW)


def test_read_export_refuses_a_file_with_other_columns(service: InteractionService) -> None:
    out = io.BytesIO()
    pq.write_table(pa.table({"event_id": ["e"], "user_id": ["u"]}), out)
    service.blobs.put_bytes("exports/interactions/bad.parquet", out.getvalue())
    with pytest.raises(BadRequest, match="not an interactions export"):
        read_export(service.blobs, ["exports/interactions/bad.parquet"])


_ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
_interactions = st.builds(
    Interaction,
    event_id=_ids,
    user_id=_ids,
    video_id=_ids,
    type=st.sampled_from(list(InteractionType)),
    at=st.floats(0, 4e9, allow_nan=False),
    watch_s=st.none() | st.floats(0, 1e4, allow_nan=False),
    position=st.none() | st.integers(0, 10_000),
    request_id=st.none() | _ids,
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_interactions, max_size=20))
def test_parquet_round_trips_any_events(
    tmp_path_factory: pytest.TempPathFactory, events: list[Interaction]
) -> None:
    blobs = FolderBlobStore(tmp_path_factory.mktemp("blobs"))
    blobs.put_bytes("exports/interactions/x.parquet", to_parquet(events))
    assert read_export(blobs, ["exports/interactions/x.parquet"]) == events
