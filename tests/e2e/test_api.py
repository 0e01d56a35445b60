"""The HTTP API: local uploads, listing, a video with every result, typed errors, auth, and mangum."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reelmind import samples
from reelmind.api.app import create_app
from reelmind.runtime import Runtime, bootstrap
from reelmind.settings import Settings
from tests.conftest import ALL_RESULTS, load_event


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


def _upload(client: TestClient, path: Path, name: str = "my clip.mp4") -> dict:
    with path.open("rb") as fh:
        response = client.post("/videos", files={"file": (name, fh, "video/mp4")})
    assert response.status_code == 201, response.text
    return response.json()


def test_upload_then_read_back_every_result(client: TestClient, clips: dict[str, samples.ClipTruth]) -> None:
    body = _upload(client, clips["cuts"].path)
    video = body["video"]
    assert body["key"].startswith("uploads/") and body["key"].endswith("/my clip.mp4")
    assert video["status"] == "READY"
    assert set(video["results"]) == ALL_RESULTS
    assert video["moderation"] == "allow"

    got = client.get(f"/videos/{video['video_id']}").json()
    assert got["media"]["width"] == 320 and len(got["results"]["ingest"]["shots"]) == 4
    cover_url = got["results"]["thumbnail"]["cover"]["sizes"][0]["url"]
    image = client.get(cover_url)
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"

    listed = client.get("/videos").json()
    assert [v["video_id"] for v in listed["items"]] == [video["video_id"]]


def test_list_is_paginated_and_filterable(
    client: TestClient, clips: dict[str, samples.ClipTruth], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    _upload(client, bad, "bad.mp4")
    for name in ("cuts", "silent", "vertical"):
        _upload(client, clips[name].path, f"{name}.mp4")
    first = client.get("/videos", params={"limit": 2}).json()
    second = client.get("/videos", params={"limit": 2, "cursor": first["cursor"]}).json()
    ids = [v["video_id"] for v in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 4 and second["cursor"] is None
    failed = client.get("/videos", params={"status": "FAILED"}).json()["items"]
    assert [v["error_code"] for v in failed] == ["unsupported_media"]


def test_a_bad_upload_is_recorded_as_failed(client: TestClient, tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello\n" * 100)
    video = _upload(client, bad, "notes.mp4")["video"]
    assert video["status"] == "FAILED" and video["error_code"] == "unsupported_media"
    assert video["results"] == {}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("get", "/videos/vnope", {}, 404, "not_found"),
        ("get", "/videos", {"params": {"cursor": "%%%"}}, 400, "bad_request"),
        ("post", "/videos", {"json": {"filename": "report.pdf"}}, 400, "bad_request"),
        (
            "post",
            "/videos",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "bad_request",
        ),
        ("get", "/blobs/uploads/x.mp4", {}, 404, "not_found"),
        ("get", "/blobs/derived/..%2F..%2Fresults.db", {}, 400, "invalid_key"),
    ],
)
def test_errors_are_typed_json(
    client: TestClient, method: str, path: str, kwargs: dict, status: int, code: str
) -> None:
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_a_json_request_returns_an_upload_target(client: TestClient) -> None:
    response = client.post("/videos", json={"filename": "我的 clip.MP4"})
    assert response.status_code == 201
    upload = response.json()["upload"]
    assert upload["key"].startswith("uploads/") and upload["key"].endswith(".mp4")
    assert upload["max_bytes"] > 0


def test_uploads_over_the_size_limit_are_refused(
    settings: Settings, clips: dict[str, samples.ClipTruth]
) -> None:
    runtime = bootstrap(replace(settings, limits=replace(settings.limits, max_bytes=10_000)))
    client = TestClient(create_app(runtime))
    with clips["cuts"].path.open("rb") as fh:
        response = client.post("/videos", files={"file": ("big.mp4", fh, "video/mp4")})
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert runtime.results.list_videos().items == []


def test_api_keys_are_required_when_configured(settings: Settings) -> None:
    client = TestClient(create_app(bootstrap(replace(settings, api_keys=frozenset({"s3cret-key"})))))
    assert client.get("/videos").status_code == 401
    assert client.get("/videos", headers={"x-api-key": "wrong"}).status_code == 401
    assert client.get("/videos", headers={"x-api-key": "s3cret-key"}).status_code == 200
    assert client.get("/videos", headers={"authorization": "Bearer s3cret-key"}).status_code == 200
    assert client.get("/health").status_code == 200


def test_the_lambda_handler_serves_an_api_gateway_event(
    runtime: Runtime, clips: dict[str, samples.ClipTruth], lambda_context: object
) -> None:
    assert runtime.local is not None
    runtime.blobs.put_file("uploads/a/cuts.mp4", clips["cuts"].path)
    runtime.local.drain()
    spec = runtime.local.runner.wiring.functions["ApiFunction"]
    event = load_event("apigw_http_get_videos.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/videos"
    response = runtime.local.runner.invoke(spec, event)
    assert response["statusCode"] == 200
    items = json.loads(response["body"])["items"]
    assert len(items) == 1 and items[0]["status"] == "READY"


def test_the_review_queue_and_a_reviewer_s_decision(
    client: TestClient, runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    from reelmind.domain.video import Moderation

    first = _upload(client, clips["silent"].path, "a.mp4")["video"]["video_id"]
    second = _upload(client, clips["vertical"].path, "b.mp4")["video"]["video_id"]
    # GIVEN the safety verdict sent one video to review and blocked the other
    runtime.results.moderate(first, Moderation.REVIEW, by="auto", at=1.0)
    runtime.results.moderate(second, Moderation.BLOCK, by="auto", at=1.0)

    queue = client.get("/review").json()
    assert [v["video_id"] for v in queue["items"]] == [first]
    assert queue["items"][0]["safety"]["action"] == "allow", "the stored verdict comes along"
    assert [v["video_id"] for v in client.get("/videos").json()["items"]] == [first], "blocked is hidden"
    assert client.get(f"/videos/{second}").json()["moderation"] == "block", "but still readable by id"

    decided = client.post(f"/review/{first}", json={"decision": "allow"})
    assert decided.status_code == 200 and decided.json()["moderation"] == "allow"
    assert decided.json()["moderated_by"] == "human"
    assert client.get("/review").json()["items"] == []
    runtime.results.moderate(first, Moderation.BLOCK, by="auto", at=2.0)
    assert client.get(f"/videos/{first}").json()["moderation"] == "allow", (
        "automation never overrides a person"
    )

    assert client.post(f"/review/{first}", json={"decision": "maybe"}).status_code == 400
    assert client.post(f"/review/{first}", content=b"not json").status_code == 400
    missing = client.post("/review/vnope", json={"decision": "block"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
