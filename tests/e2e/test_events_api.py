"""POST /events through the FastAPI app on a local runtime: a good batch is stored once and shows in
history, seen and the counters; each malformed case is a 4xx or a counted drop, never a second copy;
the export of what was posted reads back equal."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reelmind.api.app import create_app
from reelmind.domain.interactions import Interaction
from reelmind.ranking.types import VideoStats
from reelmind.runtime import Runtime, bootstrap
from reelmind.services.interactions import read_export
from reelmind.settings import Settings

MB = 1 << 20


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


def event(event_id: str, type_: str = "impression", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "user_id": "u1",
        "video_id": "v1",
        "type": type_,
        "at": time.time() - 30,
    } | fields


def post(client: TestClient, events: list[Any], **kwargs: Any) -> Any:
    return client.post("/events", json={"events": events}, **kwargs)


def stored_ids(runtime: Runtime, user_id: str = "u1") -> list[str]:
    return sorted(e.event_id for e in runtime.interactions.store.history(user_id, 10_000))


def test_a_good_batch_is_stored_once_and_read_by_the_feed(client: TestClient, runtime: Runtime) -> None:
    batch = [
        event("i1", position=0, request_id="feed-1"),
        event("i2", video_id="v2", position=1, request_id="feed-1"),
        event("p1", "play", watch_s=14.0, position=0, request_id="feed-1"),
        event("l1", "like"),
        event("s2", "skip", video_id="v2"),
    ]
    response = post(client, batch)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 5, "duplicates": 0, "dropped": {}}

    store = runtime.interactions.store
    assert [e.event_id for e in store.history("u1", 3)] == ["s2", "l1", "p1"]  # newest first
    assert store.seen("u1") == {"v1", "v2"}
    assert store.video_stats(["v1", "v2"]) == {
        "v1": VideoStats(impressions=1, plays=1, long_views=1, likes=1),
        "v2": VideoStats(impressions=1),
    }
    # The same batch again (a client retry): all duplicates, nothing counted twice.
    assert post(client, batch).json() == {"accepted": 0, "duplicates": 5, "dropped": {}}
    assert store.video_stats(["v1"])["v1"] == VideoStats(impressions=1, plays=1, long_views=1, likes=1)
    assert len(stored_ids(runtime)) == 5


def test_bad_events_are_dropped_and_counted_by_reason(client: TestClient, runtime: Runtime) -> None:
    now = time.time()
    batch = [
        event("ok"),
        event("t", "purchase"),
        event("w", "play", watch_s=-3.0),
        event("f", at=now + 3600),
        event("o", at=now - 30 * 86400),
        event("x", "like", watch_s=5.0),
        event("c", user_id="u\x00"),
        event("", video_id="v9"),
        "not an event",
        event("ok"),  # twice in one batch
    ]
    response = post(client, batch)
    assert response.status_code == 200
    assert response.json() == {
        "accepted": 1,
        "duplicates": 1,
        "dropped": {
            "in_future": 1,
            "invalid_id": 1,
            "invalid_watch_time": 1,
            "missing_field": 1,
            "not_an_object": 1,
            "too_old": 1,
            "unexpected_watch_time": 1,
            "unknown_type": 1,
        },
    }
    assert stored_ids(runtime) == ["ok"]
    assert post(client, [event("ok"), event("new")]).json() == {"accepted": 1, "duplicates": 1, "dropped": {}}
    assert stored_ids(runtime) == ["new", "ok"]


def _big_batch(size: int) -> bytes:
    """A JSON batch of well-formed events, at least `size` bytes."""
    one = event("e", request_id="r" * 100)
    count = size // len(json.dumps(one)) + 1
    events = [one | {"event_id": f"e{i:08d}-" + "x" * 100} for i in range(count)]
    return json.dumps({"events": events}).encode()


def test_a_10mb_batch_is_refused_with_413_and_nothing_is_stored(client: TestClient, runtime: Runtime) -> None:
    body = _big_batch(10 * MB)
    assert len(body) >= 10 * MB
    response = client.post("/events", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "too_large"
    assert str(runtime.settings.events_max_bytes) in response.json()["error"]["message"]
    assert stored_ids(runtime) == []


def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(
    client: TestClient, runtime: Runtime
) -> None:
    body = _big_batch(2 * MB)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    response = client.post("/events", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert f"over the {runtime.settings.events_max_bytes}-byte limit" in response.json()["error"]["message"]
    assert stored_ids(runtime) == []


def test_a_batch_just_under_the_limit_is_taken(settings: Settings) -> None:
    runtime = bootstrap(replace(settings, events_max_bytes=4096, events_max_batch=100))
    client = TestClient(create_app(runtime))
    events = [event(f"e{i}", position=i) for i in range(20)]
    body = json.dumps({"events": events}).encode()
    assert 2048 < len(body) <= 4096
    response = client.post("/events", content=body, headers={"content-type": "application/json"})
    assert response.json()["accepted"] == 20
    over = json.dumps({"events": [*events, *(event(f"f{i}") for i in range(20))]}).encode()
    assert client.post("/events", content=over).status_code == 413
    assert len(stored_ids(runtime)) == 20


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"content": b"{not json"}, 400),
        ({"content": b'{"events": [NaN]}'}, 400),
        ({"json": [{"event_id": "e1"}]}, 400),
        ({"json": {"events": "e1"}}, 400),
        ({"json": {"records": []}}, 400),
        ({"json": {"events": [{"event_id": f"e{i}"} for i in range(501)]}}, 413),
        ({"content": b"{}", "headers": {"content-length": "lots"}}, 400),
    ],
)
def test_a_malformed_envelope_is_a_typed_4xx(
    client: TestClient, runtime: Runtime, kwargs: dict[str, Any], status: int
) -> None:
    response = client.post("/events", **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] in {"bad_request", "too_large"}
    assert stored_ids(runtime) == []


def test_events_need_the_api_key_when_keys_are_configured(settings: Settings) -> None:
    runtime = bootstrap(replace(settings, api_keys=frozenset({"k-123"})))
    client = TestClient(create_app(runtime))
    assert post(client, [event("e1")]).status_code == 401
    assert post(client, [event("e1")], headers={"x-api-key": "k-123"}).json()["accepted"] == 1
    assert stored_ids(runtime) == ["e1"]


def test_posted_events_export_and_read_back_equal(client: TestClient, runtime: Runtime) -> None:
    now = time.time()
    posted = [
        event("a", at=now - 3 * 86400, user_id="u2", position=2),
        event("b", "play", at=now - 86400, watch_s=3.5, request_id="r-1"),
        event("c", "share", at=now - 600),
        event("d", "follow", at=now - 60, video_id="v7"),
    ]
    assert post(client, posted).json()["accepted"] == 4
    start, end = now - 2 * 86400, now
    keys = runtime.interactions.export(start, end)
    assert keys and all(k.startswith("exports/interactions/") and k.endswith(".parquet") for k in keys)
    got = read_export(runtime.blobs, keys)
    expected = [Interaction.from_dict(e) for e in posted if start <= e["at"] < end]
    assert sorted(got, key=lambda e: e.at) == expected
    assert runtime.interactions.export(start, end) == keys
