"""Jobs: `complete` takes in a finished job's manifest (`jobs/{id}.out`, written by SageMaker async
inference or the local worker pool); `transcribe` asks for subtitles of every video with an audio track."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelmind.domain.keys import decode_event_key
from reelmind.runtime import bootstrap

logger = Logger(service="jobs")
runtime = bootstrap()


@logger.inject_lambda_context
def complete(event: dict[str, Any], context: LambdaContext) -> list[str]:
    keys = [decode_event_key(r.s3.get_object.key) for r in S3Event(event).records]
    return [runtime.jobs.complete(key).status.value for key in keys]


@logger.inject_lambda_context
def transcribe(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | None:
    return runtime.jobs.on_video_ready(EventBridgeEvent(event).detail["video_id"])
