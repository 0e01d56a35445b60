"""The local runner's wiring read from templates: zip functions by `Handler`, image functions by
`ImageConfig.Command`, a bucket's notifications to a queue and the function polling it, and the real
template.yaml, whose functions all ship as images."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelmind.errors import ConfigError
from reelmind.wiring import read_wiring

ROOT = Path(__file__).parents[2]

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 30
Resources:
  ZipFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/zipped/
      Handler: app.handler
      Runtime: python3.11
      Events:
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref Bucket
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - Name: prefix
                    Value: uploads/
  SharedImageFunction:
    Type: AWS::Serverless::Function
    Metadata:
      Dockerfile: functions/Dockerfile
      DockerContext: .
      DockerTag: v1
      DockerBuildArgs:
        FUNCTION: analyze
    Properties:
      PackageType: Image
      ImageConfig:
        Command: ["app.tags"]
      MemorySize: 1769
      Events:
        Ready:
          Type: EventBridgeRule
          Properties:
            Pattern:
              detail-type: [VideoReady]
  OwnImageFunction:
    Type: AWS::Serverless::Function
    Metadata:
      Dockerfile: Dockerfile
      DockerContext: functions/solo
    Properties:
      PackageType: Image
      ImageConfig:
        Command: ["handlers.main.run"]
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        QueueConfigurations:
          - Event: s3:ObjectCreated:*
            Queue: !GetAtt Clips.Arn
            Filter:
              S3Key:
                Rules:
                  - Name: prefix
                    Value: clips/
                  - Name: suffix
                    Value: .mp4
          - Event: s3:ObjectRemoved:*
            Queue: !GetAtt Removed.Arn
  Clips:
    Type: AWS::SQS::Queue
  Removed:
    Type: AWS::SQS::Queue
  PollingFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/poller/
      Handler: app.handler
      Events:
        Clips:
          Type: SQS
          Properties:
            Queue: !GetAtt Clips.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_zip_and_image_functions_resolve_to_their_handler_modules(tmp_path: Path) -> None:
    # GIVEN a zip function, an image function built from a shared Dockerfile, and one with its own
    wiring = read_wiring(_write(tmp_path, TEMPLATE))
    zipped = wiring.functions["ZipFunction"]
    shared = wiring.functions["SharedImageFunction"]
    own = wiring.functions["OwnImageFunction"]
    # THEN each handler module is where Lambda would import it from
    assert zipped.module_path == tmp_path / "functions/zipped/app.py" and zipped.attribute == "handler"
    assert shared.module_path == tmp_path / "functions/analyze/app.py" and shared.attribute == "tags"
    assert own.module_path == tmp_path / "functions/solo/handlers/main.py" and own.attribute == "run"
    # AND Globals apply to image functions as to zip ones
    assert (shared.timeout_s, shared.memory_mb) == (30, 1769)
    assert [f.logical_id for f in wiring.for_object("uploads/a.mp4")] == ["ZipFunction"]
    assert [f.logical_id for f in wiring.for_event({"detail-type": "VideoReady"})] == ["SharedImageFunction"]


def test_an_image_function_without_a_command_is_refused(tmp_path: Path) -> None:
    text = TEMPLATE.replace('      ImageConfig:\n        Command: ["app.tags"]\n', "")
    with pytest.raises(
        ConfigError, match=r"SharedImageFunction: an image function needs ImageConfig\.Command"
    ):
        read_wiring(_write(tmp_path, text))


def test_every_function_of_the_template_finds_its_handler_module() -> None:
    wiring = read_wiring(ROOT / "template.yaml")
    assert wiring.functions
    for spec in wiring.functions.values():
        assert spec.module_path.is_file(), f"{spec.logical_id}: {spec.module_path} is missing"


def test_a_bucket_notifying_a_queue_reaches_the_function_that_polls_it(tmp_path: Path) -> None:
    # GIVEN a bucket that sends clips/*.mp4 creations to a queue, and a function polling that queue
    wiring = read_wiring(_write(tmp_path, TEMPLATE))
    # THEN a matching key reaches the queue, and through it the function, with its batch settings
    assert wiring.queues_for_object("clips/a b.mp4") == ["Clips"]
    [(spec, trigger)] = wiring.for_queue("Clips")
    assert spec.logical_id == "PollingFunction" and trigger.report_batch_item_failures
    assert trigger.batch_size == 5
    # AND other keys, and other kinds of event (removals), do not
    assert wiring.queues_for_object("clips/a.mov") == wiring.queues_for_object("uploads/a.mp4") == []
    assert wiring.for_queue("Removed") == []
    # AND S3 invokes no function directly for a key only the queue gets
    assert wiring.for_object("clips/a b.mp4") == []


def test_a_queue_named_by_its_url_is_refused(tmp_path: Path) -> None:
    text = TEMPLATE.replace(
        "Queue: !GetAtt Clips.Arn\n            BatchSize", "Queue: !Ref Clips\n            BatchSize"
    )
    with pytest.raises(ConfigError, match=r"PollingFunction: name the queue by its ARN"):
        read_wiring(_write(tmp_path, text))


def test_the_template_sends_uploads_to_ingest_through_its_queue_with_partial_batch_failures() -> None:
    wiring = read_wiring(ROOT / "template.yaml")
    assert wiring.for_object("uploads/u1/clip.mp4") == [], "S3 no longer invokes ingest directly"
    [queue] = wiring.queues_for_object("uploads/u1/clip.mp4")
    [(spec, trigger)] = wiring.for_queue(queue)
    assert spec.logical_id == "IngestFunction" and trigger.report_batch_item_failures
    assert wiring.queues_for_object("derived/v1/keyframes/000001.jpg") == []
    assert [f.logical_id for f in wiring.for_object("jobs/j1.out")] == ["JobCompleteFunction"]
