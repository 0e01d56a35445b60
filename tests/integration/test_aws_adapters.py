"""The AWS adapters against a moto server: the same rules as the local adapters, over real HTTP."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from pynamodb.exceptions import PutError

from reelmind.adapters.aws import blobs as aws_blobs
from reelmind.adapters.aws import results as aws_results
from reelmind.adapters.aws.blobs import S3BlobStore
from reelmind.adapters.aws.events import EventBridgeBus
from reelmind.adapters.aws.results import DynamoResultStore
from reelmind.domain.video import MediaInfo, Video, VideoStatus
from reelmind.errors import BadRequest, InvalidKey, NotFound, Throttled
from reelmind.ports import BlobStore, Event, Result

BAD_KEYS = [
    "",
    "/abs/clip.mp4",
    "../up.mp4",
    "a/../b.mp4",
    "a/./b.mp4",
    "a//b.mp4",
    "a\\b.mp4",
    "dir/",
    "nul\x00.mp4",
]


def _count_calls(client: Any, operation: str) -> list[dict[str, Any]]:
    """Record the parameters of every `operation` request the client sends."""
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        f"before-parameter-build.*.{operation}", lambda params, **_: calls.append(params)
    )
    return calls


#: For stubbed clients: one attempt, so each stubbed error is seen once.
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


# ------------------------------------------------------------------------------------------ blobs
@pytest.fixture
def store(bucket: str) -> S3BlobStore:
    return S3BlobStore(bucket)


@pytest.fixture
def s3(store: S3BlobStore) -> Any:
    """The store's own client (as configured in production), to watch the requests it sends."""
    return store._s3


def test_the_s3_store_is_a_blob_store(bucket: str) -> None:
    assert isinstance(S3BlobStore(bucket), BlobStore)


def test_put_get_head_round_trip(store: S3BlobStore, s3: Any, bucket: str) -> None:
    key = "derived/v1/thumbs/cover 1+x.jpg"  # spaces and '+' are legal in keys
    info = store.put_bytes(key, b"jpeg bytes", content_type="image/jpeg")
    assert (info.key, info.size) == (key, 10)
    assert store.get_bytes(key) == b"jpeg bytes"
    assert store.head(key) == info
    assert s3.head_object(Bucket=bucket, Key=key)["ContentType"] == "image/jpeg"
    assert store.head("derived/v1/missing.jpg") is None
    with pytest.raises(NotFound):
        store.get_bytes("derived/v1/missing.jpg")


def test_put_file_and_download(store: S3BlobStore, s3: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src.mp4"
    src.write_bytes(bytes(range(256)) * 40)
    info = store.put_file("uploads/a/clip.mp4", src, content_type="video/mp4")
    assert info.size == 10_240 and info == store.head("uploads/a/clip.mp4")
    assert s3.head_object(Bucket=bucket, Key="uploads/a/clip.mp4")["ContentType"] == "video/mp4"
    dest = store.download("uploads/a/clip.mp4", tmp_path / "dest.mp4")
    assert dest == tmp_path / "dest.mp4" and dest.read_bytes() == src.read_bytes()
    with pytest.raises(NotFound):
        store.download("uploads/a/none.mp4", tmp_path / "none.mp4")


def test_list_pages_through_everything_under_the_prefix(
    store: S3BlobStore, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws_blobs, "LIST_PAGE_SIZE", 2)
    keys = [f"derived/v1/k{i}.jpg" for i in range(5)]
    for key in [*keys, "derived/v10/other.jpg", "uploads/x.mp4"]:
        store.put_bytes(key, key.encode())
    pages = _count_calls(s3, "ListObjectsV2")
    listed = list(store.list("derived/v1/"))
    assert [b.key for b in listed] == keys
    assert [b.size for b in listed] == [len(k) for k in keys]
    assert len(pages) == 3, "5 keys at 2 per page take 3 requests"
    assert len(list(store.list(""))) == 7


def test_delete_prefix_deletes_in_batches_and_only_under_the_prefix(
    store: S3BlobStore, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws_blobs, "DELETE_BATCH", 2)
    for i in range(5):
        store.put_bytes(f"derived/v1/k{i}", b"x")
    store.put_bytes("derived/v10/keep", b"x")
    deletes = _count_calls(s3, "DeleteObjects")
    assert store.delete_prefix("derived/v1/") == 5
    assert [len(call["Delete"]["Objects"]) for call in deletes] == [2, 2, 1]
    assert [b.key for b in store.list("derived/")] == ["derived/v10/keep"]
    assert store.delete_prefix("derived/v1/") == 0
    with pytest.raises(InvalidKey):
        store.delete_prefix("")


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_unsafe_keys_are_refused_before_any_request(
    store: S3BlobStore, s3: Any, tmp_path: Path, key: str
) -> None:
    sent: list[str] = []
    s3.meta.events.register("before-send.s3.*", lambda request, **_: sent.append(request.url))
    (tmp_path / "f").write_bytes(b"x")
    attempts: list[Callable[[], object]] = [
        lambda: store.put_bytes(key, b"x"),
        lambda: store.put_file(key, tmp_path / "f"),
        lambda: store.get_bytes(key),
        lambda: store.download(key, tmp_path / "out"),
        lambda: store.head(key),
        lambda: store.presign_upload(key, 10, 60),
        lambda: store.url_for(key),
    ]
    if key not in {"", "dir/"}:  # both are legal prefixes: the whole bucket and a folder
        attempts.append(lambda: store.list(key))
    for attempt in attempts:
        with pytest.raises(InvalidKey):
            attempt()
    assert sent == []


def _policy_allows(upload_fields: dict[str, str], bucket: str, key: str, size: int) -> bool:
    """Evaluate a POST policy's conditions as S3 does (moto accepts any POST without checking them)."""
    policy = json.loads(base64.b64decode(upload_fields["policy"]))
    if datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")) <= datetime.now(UTC):
        return False
    form = {**upload_fields, "bucket": bucket, "key": key}
    for cond in policy["conditions"]:
        if isinstance(cond, dict):
            [(name, value)] = cond.items()
            if form.get(name) != value:
                return False
        elif cond[0] == "content-length-range":
            if not cond[1] <= size <= cond[2]:
                return False
        elif cond[0] == "eq":
            if form.get(cond[1].lstrip("$")) != cond[2]:
                return False
        elif cond[0] == "starts-with":
            if not str(form.get(cond[1].lstrip("$"), "")).startswith(cond[2]):
                return False
        else:  # pragma: no cover - a condition this helper does not know
            return False
    return True


def test_a_presigned_post_uploads_exactly_that_key_within_the_size_limit(
    store: S3BlobStore, bucket: str
) -> None:
    key = "uploads/u1/my clip+1.mp4"
    upload = store.presign_upload(key, max_bytes=1024, expires_in_s=300)
    assert (upload.key, upload.max_bytes, upload.expires_in_s) == (key, 1024, 300)
    assert upload.fields["key"] == key
    assert upload.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256", "SSE-KMS buckets need SigV4"

    conditions = json.loads(base64.b64decode(upload.fields["policy"]))["conditions"]
    assert ["content-length-range", 1, 1024] in conditions
    assert {"key": key} in conditions and {"bucket": bucket} in conditions
    assert _policy_allows(upload.fields, bucket, key, 1000)
    assert not _policy_allows(upload.fields, bucket, key, 1025), "a file over max_bytes is refused"
    assert not _policy_allows(upload.fields, bucket, key, 0), "an empty file is refused"
    assert not _policy_allows(upload.fields, bucket, "uploads/u1/other.mp4", 1000), "another key is refused"

    body = b"\x00\x00\x00\x18ftypmp42" + b"x" * 988
    resp = httpx.post(upload.url, data=upload.fields, files={"file": ("clip.mp4", body, "video/mp4")})
    assert resp.status_code == 204, resp.text
    assert store.get_bytes(key) == body

    with pytest.raises(InvalidKey):
        store.presign_upload("uploads/${filename}", 1024, 300)


def test_url_for_is_a_working_presigned_get(store: S3BlobStore) -> None:
    store.put_bytes("derived/v1/cover.jpg", b"cover", content_type="image/jpeg")
    url = store.url_for("derived/v1/cover.jpg", expires_in_s=120)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=120" in url
    resp = httpx.get(url)
    assert resp.status_code == 200 and resp.content == b"cover"


def test_s3_throttling_becomes_throttled(bucket: str) -> None:
    client = boto3.client("s3", config=NO_RETRY)
    with Stubber(client) as stub:
        stub.add_client_error("get_object", service_error_code="SlowDown", http_status_code=503)
        with pytest.raises(Throttled) as err:
            S3BlobStore(bucket, client=client).get_bytes("derived/v1/a.jpg")
    assert isinstance(err.value.__cause__, ClientError)


# ----------------------------------------------------------------------------------------- events
def test_published_events_reach_a_rule_target(event_bus: str) -> None:
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue_url = sqs.create_queue(QueueName=f"{event_bus}-target")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="all-reelmind",
        EventBusName=event_bus,
        EventPattern=json.dumps({"source": ["reelmind"], "detail-type": ["VideoReady"]}),
    )
    events.put_targets(Rule="all-reelmind", EventBusName=event_bus, Targets=[{"Id": "q", "Arn": queue_arn}])

    calls = _count_calls(events, "PutEvents")
    sent = [Event("VideoReady", {"video_id": f"v{i}", "n": i}) for i in range(23)]
    EventBridgeBus(event_bus, client=events).publish([*sent, Event("Other", {"n": -1})])
    assert [len(c["Entries"]) for c in calls] == [10, 10, 4]
    assert {e["EventBusName"] for c in calls for e in c["Entries"]} == {event_bus}

    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while len(received) < len(sent) and time.monotonic() < deadline:
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        received += [json.loads(m["Body"]) for m in msgs]
    assert {(m["source"], m["detail-type"]) for m in received} == {("reelmind", "VideoReady")}
    assert sorted((m["detail"] for m in received), key=lambda d: d["n"]) == [e.detail for e in sent]


def test_failed_entries_raise_throttled_and_stop_before_the_next_batch(moto_endpoint: str) -> None:
    client = boto3.client("events", config=NO_RETRY)
    refused = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"EventId": f"e{i}"} for i in range(9)] + [refused]},
        )
        with pytest.raises(Throttled, match="ThrottlingException"):
            EventBridgeBus("bus", client=client).publish([Event("VideoReady", {"n": i}) for i in range(15)])
        stub.assert_no_pending_responses()


def test_a_throttled_put_events_call_becomes_throttled(moto_endpoint: str) -> None:
    client = boto3.client("events", config=NO_RETRY)
    with Stubber(client) as stub:
        stub.add_client_error("put_events", service_error_code="ThrottlingException", http_status_code=400)
        with pytest.raises(Throttled) as err:
            EventBridgeBus("bus", client=client).publish([Event("VideoReady", {})])
    assert isinstance(err.value.__cause__, ClientError)


# ---------------------------------------------------------------------------------------- results
MEDIA = MediaInfo("mp4", 2.0, 1000, 320, 180, 25.0, 50, "h264", "aac", 44100, 4000)


def _video(video_id: str, created_at: float = 1_700_000_000.0, **kw: Any) -> Video:
    fields: dict[str, Any] = {
        "video_id": video_id,
        "source_key": f"uploads/{video_id}.mp4",
        "status": VideoStatus.PROCESSING,
        "created_at": created_at,
        "updated_at": created_at,
        **kw,
    }
    return Video(**fields)


@pytest.fixture
def results(table: str) -> DynamoResultStore:
    return DynamoResultStore(table)


def test_create_video_only_once(results: DynamoResultStore) -> None:
    first = _video("v1", title="first", media=MEDIA, sha256="ab" * 32)
    assert results.create_video(first) is True
    assert results.create_video(_video("v1", title="second")) is False
    assert results.get_video("v1") == first
    assert results.get_video("nope") is None


def test_claim_takes_a_lease_that_expires_and_can_be_released(results: DynamoResultStore) -> None:
    results.create_video(_video("v1"))
    assert results.claim("v1", now=100.0, lease_s=30) is True
    assert results.claim("v1", now=110.0, lease_s=30) is False, "the lease is live until 130"
    assert results.claim("v1", now=130.0, lease_s=30) is True, "an expired lease can be taken"
    results.release("v1")
    assert results.claim("v1", now=131.0, lease_s=30) is True, "a released lease can be taken"

    assert results.transition("v1", VideoStatus.READY, expected=[VideoStatus.PROCESSING])
    assert results.claim("v1", now=10_000.0, lease_s=30) is False, "a READY video is never claimed"
    results.release("v1")
    assert results.get_video("v1").status is VideoStatus.READY  # type: ignore[union-attr]

    assert results.claim("missing", now=0.0, lease_s=30) is False
    results.release("missing")
    assert results.get_video("missing") is None, "release must not create an item"


def test_transition_checks_the_expected_status(results: DynamoResultStore) -> None:
    results.create_video(_video("v1"))
    before = results.get_video("v1")
    changed = results.transition(
        "v1", VideoStatus.FAILED, expected=[VideoStatus.READY], changes={"error": "x", "error_code": "y"}
    )
    assert changed is False
    assert results.get_video("v1") == before
    assert results.list_videos(status=VideoStatus.FAILED).items == []

    assert results.claim("v1", now=100.0, lease_s=60)
    changed = results.transition(
        "v1",
        VideoStatus.FAILED,
        expected=[VideoStatus.PROCESSING, VideoStatus.READY],
        changes={"error": "bad file", "error_code": "corrupt_media", "updated_at": 5.0},
    )
    assert changed is True
    after = results.get_video("v1")
    assert after is not None
    assert (after.status, after.error, after.error_code, after.updated_at) == (
        VideoStatus.FAILED,
        "bad file",
        "corrupt_media",
        5.0,
    )
    assert [v.video_id for v in results.list_videos(status=VideoStatus.FAILED).items] == ["v1"]
    assert results.list_videos(status=VideoStatus.PROCESSING).items == []
    assert results.transition("missing", VideoStatus.READY, expected=list(VideoStatus)) is False


def test_transition_clears_the_lease(results: DynamoResultStore) -> None:
    results.create_video(_video("v1"))
    assert results.claim("v1", now=100.0, lease_s=60)
    assert results.transition("v1", VideoStatus.PROCESSING, expected=[VideoStatus.PROCESSING])
    assert results.claim("v1", now=101.0, lease_s=60), "the transition gave the lease back"


def test_a_concurrent_write_is_not_lost(
    results: DynamoResultStore, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between transition's read and its write another writer adds an alias; the transition re-reads."""
    results.create_video(_video("v1"))
    other = DynamoResultStore(table)
    real_get = results._get
    raced: list[bool] = []

    def get_then_race(video_id: str) -> Any:
        item = real_get(video_id)
        if not raced:
            raced.append(True)
            other.add_alias(video_id, "uploads/copy.mp4")
        return item

    monkeypatch.setattr(results, "_get", get_then_race)
    assert results.transition(
        "v1", VideoStatus.READY, expected=[VideoStatus.PROCESSING], changes={"title": "t"}
    )
    video = results.get_video("v1")
    assert video is not None
    assert (video.status, video.title, video.aliases) == (VideoStatus.READY, "t", ["uploads/copy.mp4"])


def test_add_alias(results: DynamoResultStore) -> None:
    results.create_video(_video("v1"))
    results.add_alias("v1", "uploads/b.mp4")
    results.add_alias("v1", "uploads/b.mp4")
    results.add_alias("v1", "uploads/v1.mp4")  # the source key itself
    results.add_alias("v1", "uploads/c.mp4")
    assert results.get_video("v1").aliases == ["uploads/b.mp4", "uploads/c.mp4"]  # type: ignore[union-attr]
    results.add_alias("missing", "uploads/d.mp4")
    assert results.get_video("missing") is None


def test_put_result_is_idempotent_per_version(results: DynamoResultStore) -> None:
    results.create_video(_video("v1"))
    results.create_video(_video("v2"))
    assert results.put_result(Result("v1", "tags", "m1", {"tags": ["cat"]}, 1.0)) is True
    assert results.put_result(Result("v1", "tags", "m1", {"tags": ["dog"]}, 2.0)) is False
    assert results.get_results("v1")["tags"] == Result("v1", "tags", "m1", {"tags": ["cat"]}, 1.0)

    assert results.put_result(Result("v1", "tags", "m2", {"tags": ["dog"]}, 3.0)) is True
    assert results.put_result(Result("v1", "ingest", "i1", {"shots": [{"index": 0}]}, 4.0)) is True
    assert results.put_result(Result("v2", "tags", "m2", {"tags": []}, 5.0)) is True
    assert results.get_results("v1") == {
        "ingest": Result("v1", "ingest", "i1", {"shots": [{"index": 0}]}, 4.0),
        "tags": Result("v1", "tags", "m2", {"tags": ["dog"]}, 3.0),
    }
    assert results.get_results("nope") == {}
    assert results.get_video("v1") is not None, "results do not touch the video item"


def test_list_videos_newest_first_with_cursor_and_status_filter(results: DynamoResultStore) -> None:
    statuses = [VideoStatus.PROCESSING, VideoStatus.READY, VideoStatus.FAILED]
    for i in range(8):
        results.create_video(_video(f"v{i}", created_at=1_700_000_000.0 + i))
        if statuses[i % 3] is not VideoStatus.PROCESSING:
            results.transition(f"v{i}", statuses[i % 3], expected=[VideoStatus.PROCESSING])
    results.create_video(_video("v7b", created_at=1_700_000_007.0))  # ties break by id, descending

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = results.list_videos(limit=3, cursor=cursor)
        pages.append([v.video_id for v in page.items])
        if page.cursor is None:
            break
        cursor = page.cursor
    assert pages == [["v7b", "v7", "v6"], ["v5", "v4", "v3"], ["v2", "v1", "v0"]]

    ready = results.list_videos(status=VideoStatus.READY, limit=2)
    assert [v.video_id for v in ready.items] == ["v7", "v4"]
    assert all(v.status is VideoStatus.READY for v in ready.items)
    rest = results.list_videos(status=VideoStatus.READY, limit=2, cursor=ready.cursor)
    assert ([v.video_id for v in rest.items], rest.cursor) == (["v1"], None)
    assert [v.video_id for v in results.list_videos(status=VideoStatus.PROCESSING).items] == [
        "v7b",
        "v6",
        "v3",
        "v0",
    ]

    with pytest.raises(BadRequest):
        results.list_videos(cursor="not a cursor")
    with pytest.raises(BadRequest):
        results.list_videos(limit=0)


def test_dynamodb_throttling_becomes_throttled() -> None:
    cause = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutItem")
    with pytest.raises(Throttled) as err, aws_results._dynamo("put"):
        raise PutError("throttled", cause=cause)
    assert isinstance(err.value.__cause__, PutError)


def test_the_table_comes_from_the_constructor_and_the_endpoint_from_the_environment(
    table: str, moto_endpoint: str
) -> None:
    store = DynamoResultStore(table)
    assert store._videos.Meta.table_name == table
    assert store._videos.Meta.host == moto_endpoint
    assert DynamoResultStore(table)._videos is store._videos, "model classes are cached per table"
