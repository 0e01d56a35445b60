"""Jobs: `complete` takes in a finished job's manifest (`jobs/{id}.out`, written by SageMaker async
inference or the local worker pool); `transcribe` asks for subtitles of every video with an audio track,
once per video (Powertools idempotency: concurrent duplicates of "VideoReady" must not submit twice)."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelmind.domain.keys import decode_event_key
from reelmind.idempotency import idempotent_on
from reelmind.observability import instrument
from reelmind.runtime import bootstrap

runtime = bootstrap()


@instrument
def complete(event: dict[str, Any], context: LambdaContext) -> list[str]:
    keys = [decode_event_key(r.s3.get_object.key) for r in S3Event(event).records]
    return [runtime.jobs.complete(key).status.value for key in keys]


@instrument
@idempotent_on(runtime.settings, "transcribe", "detail.video_id")
def transcribe(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | None:
    return runtime.jobs.on_video_ready(EventBridgeEvent(event).detail["video_id"])
