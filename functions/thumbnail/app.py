"""thumbnail: "VideoReady" -> the cover in several sizes and a sprite sheet of keyframes."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelmind.observability import instrument
from reelmind.runtime import bootstrap

runtime = bootstrap()


@instrument
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any] | None:
    return runtime.thumbnail.handle_video_ready(event.detail["video_id"])
