"""What only the AWS adapters do, against a moto server: requests sent, presigned URLs, events, races.

The rules shared with the local adapters are in tests/contract, which runs them on both.
"""

from __future__ import annotations

import base64
import json
import time
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
from reelmind.domain.video import VideoStatus
from reelmind.errors import InvalidKey, Throttled
from reelmind.ports import Event
from tests.contract.test_blob_store import BAD_KEYS, unsafe_calls
from tests.contract.test_result_store import make_video


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


def test_the_content_type_is_stored(store: S3BlobStore, s3: Any, bucket: str, tmp_path: Path) -> None:
    store.put_bytes("derived/v1/cover.jpg", b"jpeg bytes", content_type="image/jpeg")
    assert s3.head_object(Bucket=bucket, Key="derived/v1/cover.jpg")["ContentType"] == "image/jpeg"
    (tmp_path / "clip.mp4").write_bytes(b"mp4")
    store.put_file("uploads/a/clip.mp4", tmp_path / "clip.mp4", content_type="video/mp4")
    assert s3.head_object(Bucket=bucket, Key="uploads/a/clip.mp4")["ContentType"] == "video/mp4"


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
    attempts = unsafe_calls(store, key, tmp_path)
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


@pytest.fixture
def results(table: str) -> DynamoResultStore:
    return DynamoResultStore(table)


def test_a_concurrent_write_is_not_lost(
    results: DynamoResultStore, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between transition's read and its write another writer adds an alias; the transition re-reads."""
    results.create_video(make_video("v1"))
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


def test_dynamodb_throttling_becomes_throttled() -> None:
    cause = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutItem")
    with pytest.raises(Throttled) as err, aws_results._dynamo("put"):
        raise PutError("throttled", cause=cause)
    assert isinstance(err.value.__cause__, PutError)


def test_the_table_comes_from_the_constructor_and_the_endpoint_from_the_environment(
    table: str, dynamodb_endpoint: str, moto_endpoint: str
) -> None:
    store = DynamoResultStore(table)
    assert store._videos.Meta.table_name == table
    assert store._videos.Meta.host == dynamodb_endpoint
    assert DynamoResultStore(table)._videos is store._videos, "model classes are cached per table"
    store.create_video(make_video("v1"))
    local = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)
    assert local.get_item(TableName=table, Key={"pk": {"S": "VIDEO#v1"}, "sk": {"S": "META"}})["Item"]
    assert table not in boto3.client("dynamodb", endpoint_url=moto_endpoint).list_tables()["TableNames"], (
        "tables live in DynamoDB Local, not in moto"
    )


def test_a_job_is_submitted_to_its_sagemaker_async_endpoint(bucket: str, s3: Any) -> None:
    from reelmind.adapters.aws.jobs import SageMakerJobRunner
    from reelmind.errors import ConfigError
    from reelmind.ports import JobRequest

    runner = SageMakerJobRunner(bucket, {"stylize": "reelmind-stylize"})
    request = JobRequest(
        "jabc", "stylize", {"video": "uploads/u/c.mp4"}, {"style": "oil"}, "derived/v1/jobs/jabc/"
    )
    runner.submit(request)
    body = json.loads(s3.get_object(Bucket=bucket, Key="jobs/jabc/request.json")["Body"].read())
    assert body["store"] == f"s3://{bucket}" and body["params"] == {"style": "oil"}
    assert body["inputs"] == {"video": "uploads/u/c.mp4"} and body["output_prefix"] == "derived/v1/jobs/jabc/"
    with pytest.raises(ConfigError, match="REELMIND_ENDPOINT_TTS"):
        runner.submit(JobRequest("jdef", "tts", {}, {"text": "hi", "speed": 1.0}, "jobs/jdef/"))
