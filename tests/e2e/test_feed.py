"""The feed end to end: real clips through the local pipeline (the features function runs on each
AnalysisCompleted, wired by template.yaml), interactions posted to the API, GET /users/{id}/feed.

A clip with a banned term on screen is blocked by safety (it also repeats r01's shot, so originality
calls it a duplicate too), a re-encoded re-upload of r02 is a duplicate: neither is ever served; a
reviewer's block and a delete take a video out at once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from reelmind import samples
from reelmind.api.app import create_app
from reelmind.media import transforms
from reelmind.runtime import Runtime
from tests.conftest import local_runtime, upload

Fed = tuple[Runtime, TestClient, dict[str, str]]
#: The clips a feed may show: distinct, allowed, original.
SHOWN = ("r01", "r02", "r03", "r04", "r05", "r06")


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    folder = tmp_path_factory.mktemp("feed")
    specs = {item.spec.name: item.spec for item in samples.retrieval_set()[:6]}
    specs |= {s.name: s for s in samples.text_specs() if s.name == "banned_text"}
    paths = {name: samples.write_clip(spec, folder / f"{name}.mp4").path for name, spec in specs.items()}
    paths["r02.reencoded"] = transforms.reencode(paths["r02"], folder / "r02.reencoded.mp4")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REELMIND_FEED_REFRESH_S", "0.01")  # the snapshot reads changes on every request
        with local_runtime(folder) as runtime:
            ids = {name: upload(runtime, f"uploads/{name}/clip.mp4", path) for name, path in paths.items()}
            yield runtime, TestClient(create_app(runtime)), ids


def _feed(client: TestClient, user: str, limit: int = 20) -> dict[str, object]:
    response = client.get(f"/users/{user}/feed", params={"limit": limit})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _ids(body: dict[str, object]) -> list[str]:
    return [item["video_id"] for item in body["items"]]  # type: ignore[attr-defined,index]


def test_every_processed_video_has_features_and_the_right_eligibility(fed: Fed) -> None:
    runtime, _, ids = fed
    features = runtime.feed.snapshot.store.get_features(list(ids.values()))
    assert set(features) == set(ids.values())
    cat = features[ids["r01"]]
    assert cat.category == "animals" and 0 < cat.quality <= 100 and cat.duration_s > 0
    assert cat.embedding.shape == (384,) and abs(float(np.linalg.norm(cat.embedding)) - 1) < 1e-3
    eligible = {f.video_id: e for f, e, _ in runtime.feed.snapshot.store.changed_since(0.0)}
    assert not eligible[ids["banned_text"]] and not eligible[ids["r02.reencoded"]]
    assert all(eligible[ids[n]] for n in SHOWN)
    assert "blocked" in runtime.features.build(ids["banned_text"]).reasons  # type: ignore[union-attr]
    assert runtime.features.build(ids["r02.reencoded"]).reasons == ("duplicate",)  # type: ignore[union-attr]


def test_a_new_user_gets_every_eligible_video_and_never_a_blocked_or_duplicate_one(fed: Fed) -> None:
    _, client, ids = fed
    body = _feed(client, "newcomer")
    served = _ids(body)
    assert sorted(served) == sorted(ids[n] for n in SHOWN)
    assert {item["reason"] for item in body["items"]} <= {"fresh", "popular"}  # type: ignore[attr-defined,index]
    assert isinstance(body["request_id"], str) and len(body["request_id"]) == 32


def test_watched_videos_leave_the_feed_and_the_rest_come_by_interest(fed: Fed) -> None:
    _, client, ids = fed
    first = _feed(client, "alice")
    now = time.time()
    events = [
        {"event_id": uuid.uuid4().hex, "user_id": "alice", "video_id": ids["r01"], "type": t, "at": now + i,
         "request_id": first["request_id"], **extra}
        for i, (t, extra) in enumerate((("impression", {"position": 0}), ("play", {"watch_s": 2.0}), ("like", {})))
    ]  # fmt: skip
    assert client.post("/events", json={"events": events}).json()["accepted"] == 3
    after = _feed(client, "alice")
    assert ids["r01"] not in _ids(after) and ids["banned_text"] not in _ids(after)
    assert "interest" in {item["reason"] for item in after["items"]}  # type: ignore[attr-defined,index]


def test_a_reviewers_block_and_a_delete_take_a_video_out_at_once(fed: Fed) -> None:
    _, client, ids = fed
    assert ids["r02"] in _ids(_feed(client, "bob"))
    assert client.post(f"/review/{ids['r02']}", json={"decision": "block"}).status_code == 200
    assert ids["r02"] not in _ids(_feed(client, "bob"))
    assert client.post(f"/review/{ids['r02']}", json={"decision": "allow"}).status_code == 200
    assert ids["r02"] in _ids(_feed(client, "bob"))
    assert client.delete(f"/videos/{ids['r03']}").status_code == 200
    assert ids["r03"] not in _ids(_feed(client, "bob"))


@pytest.mark.parametrize("user", ["bad%20id", "a" * 200, "%C3%A9"])
def test_a_bad_user_id_is_a_400(fed: Fed, user: str) -> None:
    _, client, _ = fed
    response = client.get(f"/users/{user}/feed")
    assert response.status_code == 400 and "user id" in response.json()["error"]["message"]
    assert client.get("/users/carol/feed", params={"limit": 0}).status_code == 422
