"""The local runner delivers a bucket's notification to the function polling the notified queue as an SQS
event, and treats a message the function reports in `batchItemFailures` as failed: retried, then kept as a
dead letter, as other failures are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reelmind.adapters.local.events import LocalQueue
from reelmind.adapters.local.runner import LocalRunner
from reelmind.ports import BlobInfo
from reelmind.wiring import read_wiring

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        QueueConfigurations:
          - Event: s3:ObjectCreated:*
            Queue: !GetAtt Uploads.Arn
            Filter:
              S3Key:
                Rules:
                  - Name: prefix
                    Value: uploads/
  Uploads:
    Type: AWS::SQS::Queue
  Poller:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Events:
        Uploads:
          Type: SQS
          Properties:
            Queue: !GetAtt Uploads.Arn
            FunctionResponseTypes: [ReportBatchItemFailures]
  Direct:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.direct
      Events:
        Jobs:
          Type: S3
          Properties:
            Bucket: !Ref Bucket
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - Name: prefix
                    Value: jobs/
"""

#: Records every event; fails the messages whose S3 key contains "fail", as a partial batch response.
HANDLER = """\
import json

EVENTS = []


def handler(event, context):
    EVENTS.append(event)
    failed = [r["messageId"] for r in event["Records"] if "fail" in r["body"]]
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


def direct(event, context):
    EVENTS.append(event)
"""


def _runner(tmp_path: Path, template: str = TEMPLATE) -> tuple[LocalRunner, LocalQueue]:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text(HANDLER, encoding="utf-8")
    (tmp_path / "template.yaml").write_text(template, encoding="utf-8")
    queue = LocalQueue(tmp_path / "queue.db")
    return LocalRunner(read_wiring(tmp_path / "template.yaml"), queue), queue


def _events(runner: LocalRunner, logical_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = runner.handler(runner.wiring.functions[logical_id]).__globals__["EVENTS"]
    return events


def _created(queue: LocalQueue, key: str) -> None:
    queue.object_created("media", BlobInfo(key=key, size=10, etag="e"))


def test_an_upload_arrives_at_the_poller_as_an_sqs_event_holding_the_s3_notification(tmp_path: Path) -> None:
    runner, queue = _runner(tmp_path)
    _created(queue, "uploads/a b.mp4")
    _created(queue, "jobs/j1.out")

    stats = runner.run_until_idle()

    assert stats.by_function == {"Poller": 1, "Direct": 1} and stats.dead_letters == 0
    [sqs] = _events(runner, "Poller")
    [direct] = _events(runner, "Direct")  # each function has its own module, as each Lambda its own process
    [record] = sqs["Records"]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"].endswith(":Uploads")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    [s3] = json.loads(record["body"])["Records"]
    assert s3["eventSource"] == "aws:s3" and s3["s3"]["object"]["key"] == "uploads/a+b.mp4"
    # a function S3 invokes directly gets the notification itself
    assert direct["Records"][0]["s3"]["object"]["key"] == "jobs/j1.out"


def test_a_reported_batch_item_failure_is_retried_then_dead_lettered(tmp_path: Path) -> None:
    runner, queue = _runner(tmp_path)
    _created(queue, "uploads/fail.mp4")

    stats = runner.run_until_idle()

    assert stats.failed_attempts == 3 and stats.dead_letters == 1 and stats.delivered == 0
    records = [e["Records"][0] for e in _events(runner, "Poller")]
    # the same message each time, as SQS delivers it again, with its receive count going up
    assert len({r["messageId"] for r in records}) == 1
    assert [r["attributes"]["ApproximateReceiveCount"] for r in records] == ["1", "2", "3"]
    [dead] = queue.dead_letters()
    assert dead["target"] == "Poller" and "batch item failure" in dead["error"]
    assert json.loads(dead["body"])["Records"][0]["s3"]["object"]["key"] == "uploads/fail.mp4"


def test_without_report_batch_item_failures_the_answer_is_ignored_as_lambda_does(tmp_path: Path) -> None:
    runner, queue = _runner(
        tmp_path, TEMPLATE.replace("FunctionResponseTypes: [ReportBatchItemFailures]", "")
    )
    _created(queue, "uploads/fail.mp4")

    stats = runner.run_until_idle()

    assert stats.by_function == {"Poller": 1} and stats.failed_attempts == 0 and queue.dead_letters() == []
