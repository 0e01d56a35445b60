"""The aws backend end to end, on local servers: the real events of S3 and EventBridge drive the handlers.

S3, SQS, EventBridge and SageMaker are a moto server; the tables are in DynamoDB Local; the OpenSearch
domain is the k-NN test server (`tests/knn_server.py`) for vector indexes and osmem-server for the text
index, behind one endpoint (`opensearch_endpoint`). The bucket notifies an SQS queue of every object created
under the prefix its notification in `template.yaml` names, and ingest gets those messages as Lambda's
SQS poller hands them over (batches of at most the BatchSize of its SQS event); each other function
below gets an EventBridge rule per trigger of `template.yaml` (its own event patterns) with an SQS queue
as the target, so what a handler receives is the message AWS would deliver. Handlers are loaded the way Lambda finds them, from their
`Handler` strings in the template, and invoked in this process.

The first test runs every function an upload reaches: ingest, thumbnail, tags (EfficientNet-Lite0 on
onnxruntime), quality, originality (the k-NN index), transcribe (an asr job submitted to a SageMaker
async endpoint, idempotent per video), ocr, then safety and embed on ocr's announcement (vectors and the
keyword document), and the HTTP API through mangum with API Gateway HTTP API (v2) events, search
included. The others, about replays and crashes, leave out ocr, safety and embed (half a minute more each
on two shared cores, and nothing about retries that the rest do not show). The asr job itself never
finishes: moto accepts the submission but runs no model.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from opensearchpy import OpenSearch

from reelmind import samples
from reelmind.adapters.local.events import LocalQueue
from reelmind.adapters.local.runner import LocalRunner
from reelmind.domain.video import video_id_for_content
from reelmind.files import sha256_file
from reelmind.wiring import FunctionSpec, load_template, read_wiring
from tests.aws_server import REGION, unique
from tests.conftest import load_event

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
#: The event-driven functions this suite runs (see the module docstring for why these).
FUNCTIONS = (
    "ThumbnailFunction",
    "TagsFunction",
    "QualityFunction",
    "OriginalityFunction",
    "TranscribeFunction",
)
RESULTS = {"ingest", "thumbnail", "tags", "quality", "originality"}
#: ... and the functions that every upload reaches, for the first test.
ALL_FUNCTIONS = (*FUNCTIONS, "OcrFunction", "SafetyFunction", "EmbedFunction")
ALL_RESULTS = RESULTS | {"ocr", "safety", "embed"}
LEASE_S = 3
#: The HTTP API's stage: API Gateway puts it in front of every path (`/dev/videos/...`).
STAGE = load_template(TEMPLATE)["Parameters"]["Stage"]["Default"]


@dataclass
class Pipeline:
    """The wired-up servers, and every event handed to a handler, in order."""

    bucket: str
    table: str
    idempotency_table: str
    index_prefix: str
    knn: str
    domain: str
    runner: LocalRunner
    uploads_queue: str
    uploads_batch_size: int
    queues: dict[str, str]
    delivered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def s3(self) -> Any:
        return boto3.client("s3")

    @property
    def sqs(self) -> Any:
        return boto3.client("sqs")

    def spec(self, logical_id: str) -> FunctionSpec:
        return self.runner.wiring.functions[logical_id]

    def receive(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message waiting on the queue (deleted as read)."""
        bodies: list[dict[str, Any]] = []
        while True:
            msgs = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return bodies
            for m in msgs:
                bodies.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    def upload_events(self) -> list[dict[str, Any]]:
        """The S3 notifications that reached the uploads queue, as SQS events the way Lambda's poller
        delivers them to ingest: batches of at most BatchSize records (S3's own test message left out)."""
        arn = self.sqs.get_queue_attributes(QueueUrl=self.uploads_queue, AttributeNames=["QueueArn"])
        records: list[dict[str, Any]] = []
        while True:
            msgs = self.sqs.receive_message(
                QueueUrl=self.uploads_queue,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not msgs:
                break
            for m in msgs:
                self.sqs.delete_message(QueueUrl=self.uploads_queue, ReceiptHandle=m["ReceiptHandle"])
                if json.loads(m["Body"]).get("Event") == "s3:TestEvent":
                    continue
                records.append(
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": m.get("Attributes", {}),
                        "messageAttributes": m.get("MessageAttributes", {}),
                        "md5OfBody": m["MD5OfBody"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": arn["Attributes"]["QueueArn"],
                        "awsRegion": REGION,
                    }
                )
        size = self.uploads_batch_size
        return [{"Records": records[i : i + size]} for i in range(0, len(records), size)]

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.delivered.append((logical_id, event))
        return self.runner.invoke(self.spec(logical_id), event)

    def drain(self) -> dict[str, int]:
        """Deliver the rule targets' messages to their functions until every queue is empty."""
        counts: dict[str, int] = {}
        while True:
            batch = [(fn, body) for fn, url in self.queues.items() for body in self.receive(url)]
            if not batch:
                return counts
            for fn, body in batch:
                self.invoke(fn, body)
                counts[fn] = counts.get(fn, 0) + 1

    # -- what the servers hold -------------------------------------------------------------------
    def items(self) -> list[dict[str, Any]]:
        """Every item of the results table, as DynamoDB Local returns it."""
        client = boto3.client("dynamodb")
        pages = client.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True)
        return [item for page in pages for item in page["Items"]]

    def result_set(self, video_id: str) -> dict[str, tuple[str, str, str]]:
        """kind -> (version, created_at, payload) of every stored result of the video."""
        return {
            item["sk"]["S"].removeprefix("RESULT#"): (
                item["version"]["S"],
                item["created_at"]["N"],
                item["payload"]["S"],
            )
            for item in self.items()
            if item["pk"]["S"] == f"VIDEO#{video_id}" and item["sk"]["S"].startswith("RESULT#")
        }

    def idempotency_records(self) -> list[dict[str, Any]]:
        pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=self.idempotency_table)
        return [item for page in pages for item in page["Items"]]

    def objects(self, prefix: str) -> dict[str, str]:
        """key -> ETag of every object under the prefix."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}

    def indexed(self, name: str, video_id: str) -> int:
        """Documents of the video in the k-NN index `<prefix>-<name>` (asked of the k-NN server itself)."""
        client = OpenSearch(hosts=[self.knn], http_compress=False)
        index = f"{self.index_prefix}-{name}"
        client.indices.refresh(index=index)
        hits = client.search(index=index, body={"size": 10_000, "query": {"match_all": {}}})["hits"]["hits"]
        client.close()
        return sum(1 for h in hits if h["_id"].startswith(video_id))

    def text_document(self, video_id: str) -> dict[str, Any]:
        """The video's keyword document in the text index, through the domain's endpoint."""
        client = OpenSearch(hosts=[self.domain], http_compress=False)
        doc: dict[str, Any] = client.get(index=f"{self.index_prefix}-text", id=video_id)["_source"]
        client.close()
        return doc


def _queue(sqs: Any, name: str) -> tuple[str, str]:
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


@pytest.fixture
def pipeline(
    bucket: str,
    table: str,
    event_bus: str,
    idempotency_table: str,
    knn_endpoint: str,
    opensearch_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Pipeline]:
    """The aws backend's environment on the local servers, the bucket's notification to SQS, and a rule
    per trigger of each function (FUNCTIONS, or the indirect parameter) with an SQS queue as its target."""
    functions: tuple[str, ...] = getattr(request, "param", FUNCTIONS)
    prefix = unique("it")
    env = {
        "REELMIND_BACKEND": "aws",
        "REELMIND_BUCKET": bucket,
        "REELMIND_TABLE": table,
        "REELMIND_EVENT_BUS": event_bus,
        "REELMIND_IDEMPOTENCY_TABLE": idempotency_table,
        "REELMIND_INTERACTIONS_TABLE": unique("reelmind-interactions"),
        "REELMIND_FEATURES_TABLE": unique("reelmind-features"),
        "REELMIND_OPENSEARCH_ENDPOINT": opensearch_endpoint,
        "REELMIND_INDEX_PREFIX": prefix,
        "REELMIND_ENDPOINT_ASR": "reelmind-asr",
        "REELMIND_INGEST_LEASE_S": str(LEASE_S),
        "REELMIND_DATA_DIR": str(tmp_path / "var"),
        "AWS_REGION": REGION,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    wiring = read_wiring(TEMPLATE)
    # the API's base path as the template sets it (`!Sub "/${Stage}"`), with the default stage
    base_path = wiring.functions["ApiFunction"].environment["REELMIND_API_BASE_PATH"]["Fn::Sub"]
    monkeypatch.setenv("REELMIND_API_BASE_PATH", base_path.replace("${Stage}", STAGE))
    sqs, events = boto3.client("sqs"), boto3.client("events")

    # the queue ingest polls, and what the template's bucket notification sends to it
    [ingest_trigger] = wiring.functions["IngestFunction"].sqs_triggers
    [upload_trigger] = [n for n in wiring.notifications if n.queue == ingest_trigger.queue]
    uploads_url, uploads_arn = _queue(sqs, unique("uploads"))
    rules: list[dict[str, Any]] = [{"Name": "prefix", "Value": upload_trigger.prefix}]
    if upload_trigger.suffix:
        rules.append({"Name": "suffix", "Value": upload_trigger.suffix})
    boto3.client("s3").put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": uploads_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": rules}},
                }
            ]
        },
    )

    queues: dict[str, str] = {}
    for logical_id in functions:
        url, arn = _queue(sqs, unique(logical_id.lower()))
        queues[logical_id] = url
        for i, trigger in enumerate(wiring.functions[logical_id].rule_triggers):
            rule = f"{logical_id}-{i}"
            events.put_rule(Name=rule, EventBusName=event_bus, EventPattern=json.dumps(trigger.pattern))
            events.put_targets(Rule=rule, EventBusName=event_bus, Targets=[{"Id": "queue", "Arn": arn}])

    runner = LocalRunner(wiring, LocalQueue(tmp_path / "unused-queue.db"))
    yield Pipeline(
        bucket,
        table,
        idempotency_table,
        prefix,
        knn_endpoint,
        opensearch_endpoint,
        runner,
        uploads_url,
        ingest_trigger.batch_size,
        queues,
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The "cuts" sample: four shots with hard cuts and a tone track (so transcribe asks for an asr job)."""
    [spec] = [s for s in samples.standard_specs() if s.name == "cuts"]
    return samples.write_clip(spec, tmp_path_factory.mktemp("clip") / "cuts.mp4").path


def _api_get(
    pipeline: Pipeline, path: str, query: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """GET through the API function's mangum handler with an API Gateway HTTP API (v2) event, whose
    paths start with the stage, as on a deployed stack."""
    event = load_event("apigw_http_get_videos.json")
    assert event["requestContext"]["stage"] == STAGE
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/{STAGE}{path}"
    event["rawQueryString"] = urllib.parse.urlencode(query or {})
    event["queryStringParameters"] = query
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    response = pipeline.invoke("ApiFunction", event)
    return response["statusCode"], json.loads(response["body"])


def _video(pipeline: Pipeline, video_id: str) -> dict[str, Any]:
    [video] = [i for i in pipeline.items() if i["pk"]["S"] == f"VIDEO#{video_id}" and i["sk"]["S"] == "META"]
    return video


def _ingest_upload(pipeline: Pipeline, key: str, clip: Path) -> str:
    pipeline.s3.upload_file(str(clip), pipeline.bucket, key)
    [event] = pipeline.upload_events()
    [message] = event["Records"]
    assert message["eventSource"] == "aws:sqs"
    [record] = json.loads(message["body"])["Records"]
    assert record["eventSource"] == "aws:s3" and record["eventName"].startswith("ObjectCreated:")
    assert pipeline.invoke("IngestFunction", event) == {"batchItemFailures": []}
    video_id = video_id_for_content(sha256_file(clip))
    assert _video(pipeline, video_id)["status"]["S"] == "READY"
    return video_id


@pytest.mark.parametrize("pipeline", [ALL_FUNCTIONS], indirect=True, ids=["every-function"])
def test_an_upload_runs_through_the_functions_on_real_events_and_the_api_serves_it(
    pipeline: Pipeline, clip: Path
) -> None:
    video_id = _ingest_upload(pipeline, "uploads/u1/cuts clip.mp4", clip)

    counts = pipeline.drain()
    # each function got its event once, through its own rule: VideoReady, or ocr's AnalysisCompleted
    assert counts == dict.fromkeys(ALL_FUNCTIONS, 1)

    # DynamoDB Local: the video is READY and moderated, with one result of each kind.
    assert set(pipeline.result_set(video_id)) == ALL_RESULTS
    [video] = [i for i in pipeline.items() if i["pk"]["S"] == f"VIDEO#{video_id}" and i["sk"]["S"] == "META"]
    assert video["status"]["S"] == "READY" and video["gsi2pk"]["S"].startswith("MODERATION#")
    # The k-NN indexes hold the fingerprints and the video's visual and semantic vectors; the text
    # index (osmem-server) its keyword document; the bucket its derived files.
    assert pipeline.indexed("originality", video_id) >= 1
    assert pipeline.indexed("visual", video_id) == pipeline.indexed("semantic", video_id) == 1
    assert pipeline.indexed("regions", video_id) >= 5
    assert "cuts" in pipeline.text_document(video_id)["fields"]["title"].split()
    derived = pipeline.objects(f"derived/{video_id}/")
    assert any("/keyframes/" in k for k in derived) and any(
        "/thumbnail" in k or "cover" in k for k in derived
    )
    # transcribe submitted one asr job to the (moto) SageMaker endpoint: the request in S3, the job running.
    [job] = [i for i in pipeline.items() if i["pk"]["S"].startswith("JOB#")]
    assert job["status"]["S"] == "running" and json.loads(job["data"]["S"])["attempts"] == 1
    job_id = job["pk"]["S"].removeprefix("JOB#")
    assert f"jobs/{job_id}/request.json" in pipeline.objects("jobs/")
    # ... under an idempotency record in DynamoDB Local, completed with the job as its response
    [record] = pipeline.idempotency_records()
    assert record["id"]["S"].startswith("reelmind.transcribe#") and record["status"]["S"] == "COMPLETED"
    assert json.loads(record["data"]["S"])["job_id"] == job_id

    status, body = _api_get(pipeline, f"/videos/{video_id}")
    assert status == 200, body
    assert body["video_id"] == video_id and body["status"] == "READY"
    assert set(body["results"]) >= ALL_RESULTS
    status, body = _api_get(pipeline, "/videos/vdoesnotexist0000000000")
    assert status == 404 and body["error"]["code"]
    # search reads both kinds of index: the title's words find the video
    status, body = _api_get(pipeline, "/search", {"q": "cuts clip"})
    assert status == 200, body
    assert video_id in [item["video_id"] for item in body["items"]]


def test_events_replayed_twice_and_out_of_order_leave_one_result_set(pipeline: Pipeline, clip: Path) -> None:
    video_id = _ingest_upload(pipeline, "uploads/u1/cuts.mp4", clip)
    pipeline.drain()
    first = list(pipeline.delivered)
    results, files = pipeline.result_set(video_id), pipeline.objects("")
    vectors = pipeline.indexed("originality", video_id)
    items = len(pipeline.items())

    # every event again, newest first, twice: the S3 notification last
    for function, event in [*reversed(first), *reversed(first)]:
        pipeline.invoke(function, event)
    assert pipeline.drain() == {}, "a replayed event announces nothing new"

    assert pipeline.result_set(video_id) == results, "not one result rewritten"
    assert pipeline.objects("") == files, "no file rewritten or added"
    assert pipeline.indexed("originality", video_id) == vectors
    assert len(pipeline.items()) == items
    [job] = [i for i in pipeline.items() if i["pk"]["S"].startswith("JOB#")]
    assert json.loads(job["data"]["S"])["attempts"] == 1, "the asr job was submitted once"
    assert len(pipeline.idempotency_records()) == 1


_KILL_AFTER_WRITES = """
import os, signal, sys
from reelmind.adapters.aws.blobs import S3BlobStore
from reelmind.adapters.local.events import LocalQueue
from reelmind.adapters.local.runner import LocalRunner
from reelmind.wiring import read_wiring

writes = []
put = S3BlobStore.put_bytes

def put_then_die(self, key, data, content_type=None):
    put(self, key, data, content_type)
    writes.append(key)
    if len(writes) == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)

S3BlobStore.put_bytes = put_then_die
runner = LocalRunner(read_wiring(__import__("pathlib").Path(sys.argv[1])), LocalQueue(__import__("pathlib").Path(sys.argv[2])))
runner.invoke(runner.wiring.functions["IngestFunction"], __import__("json").loads(sys.stdin.read()))
"""


def test_an_ingest_killed_midway_and_retried_leaves_one_video_and_only_its_files(
    pipeline: Pipeline, clip: Path, tmp_path: Path
) -> None:
    pipeline.s3.upload_file(str(clip), pipeline.bucket, "uploads/u1/cuts.mp4")
    [event] = pipeline.upload_events()

    # GIVEN an ingest process killed by SIGKILL after it wrote three derived files
    done = subprocess.run(
        [sys.executable, "-c", _KILL_AFTER_WRITES, str(TEMPLATE), str(tmp_path / "q.db"), "3"],
        input=json.dumps(event),
        text=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=300,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    [video] = [i for i in pipeline.items() if i["sk"]["S"] == "META" and i["pk"]["S"].startswith("VIDEO#")]
    video_id = video["pk"]["S"].removeprefix("VIDEO#")
    assert video["status"]["S"] == "PROCESSING"
    assert len(pipeline.objects(f"derived/{video_id}/")) == 3
    assert pipeline.result_set(video_id) == {}

    # WHEN the queue delivers the same message again: refused while the dead worker's lease runs (the
    # whole batch failed, so it stays on the queue), then done
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from reelmind.errors import Busy

    with pytest.raises(BatchProcessingError) as refused:
        pipeline.invoke("IngestFunction", event)
    assert [type(info[1]) for info in refused.value.child_exceptions] == [Busy]
    time.sleep(LEASE_S + 0.5)
    assert pipeline.invoke("IngestFunction", event) == {"batchItemFailures": []}
    pipeline.drain()

    # THEN one video, one result set, and exactly the files its ingest result names
    assert _video(pipeline, video_id)["status"]["S"] == "READY"
    assert [i["pk"]["S"] for i in pipeline.items() if i["sk"]["S"] == "META"].count(f"VIDEO#{video_id}") == 1
    assert set(pipeline.result_set(video_id)) == RESULTS
    status, body = _api_get(pipeline, f"/videos/{video_id}")
    assert status == 200 and body["status"] == "READY"
    ingest = json.loads(pipeline.result_set(video_id)["ingest"][2])
    named = {kf["key"] for kf in ingest["keyframes"]} | {ingest["signals"]["key"]}
    if ingest.get("audio"):
        named.add(ingest["audio"]["key"])
    stored = {k for k in pipeline.objects(f"derived/{video_id}/") if "/keyframes/" in k or k.endswith(".wav")}
    assert stored == {k for k in named if "/keyframes/" in k or k.endswith(".wav")}, "no stray partial files"


_KILL_BEFORE_ANNOUNCING = """
import json, os, pathlib, signal, sys
from reelmind.adapters.aws.events import EventBridgeBus
from reelmind.adapters.local.events import LocalQueue
from reelmind.adapters.local.runner import LocalRunner
from reelmind.wiring import read_wiring

EventBridgeBus.publish = lambda self, events: os.kill(os.getpid(), signal.SIGKILL)
runner = LocalRunner(read_wiring(pathlib.Path(sys.argv[1])), LocalQueue(pathlib.Path(sys.argv[2])))
runner.invoke(runner.wiring.functions[sys.argv[3]], json.loads(sys.stdin.read()))
"""


def test_an_analyzer_killed_between_its_result_and_its_announcement_announces_on_retry(
    pipeline: Pipeline, clip: Path, event_bus: str, tmp_path: Path
) -> None:
    """safety and embed start on "AnalysisCompleted": a result stored but never announced must not
    stay unannounced when the platform retries the event."""
    audit_url, audit_arn = _queue(pipeline.sqs, unique("audit"))
    events = boto3.client("events")
    pattern = {"source": ["reelmind"], "detail-type": ["AnalysisCompleted"], "detail": {"kind": ["quality"]}}
    events.put_rule(Name="audit", EventBusName=event_bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="audit", EventBusName=event_bus, Targets=[{"Id": "q", "Arn": audit_arn}])
    video_id = _ingest_upload(pipeline, "uploads/u1/cuts.mp4", clip)
    [ready] = pipeline.receive(pipeline.queues["QualityFunction"])

    # GIVEN quality killed by SIGKILL as it announces its stored result
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _KILL_BEFORE_ANNOUNCING,
            str(TEMPLATE),
            str(tmp_path / "q.db"),
            "QualityFunction",
        ],
        input=json.dumps(ready),
        text=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=300,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    stored = pipeline.result_set(video_id)["quality"]
    assert pipeline.receive(audit_url) == []

    # WHEN the platform retries the event
    outcome = pipeline.invoke("QualityFunction", ready)

    # THEN the result is kept as it was, and announced now
    assert outcome["status"] == "unchanged"
    assert pipeline.result_set(video_id)["quality"] == stored
    [announced] = pipeline.receive(audit_url)
    assert announced["detail"] == {
        "video_id": video_id,
        "kind": "quality",
        "version": stored[0],
        "status": "ok",
    }
