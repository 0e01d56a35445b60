"""ingest: an object landed under uploads/ -> a registered video with shots, keyframes and audio."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelmind.observability import instrument
from reelmind.runtime import bootstrap

runtime = bootstrap()


@instrument
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> list[dict[str, Any]]:
    return [runtime.ingest.handle_object_created(r.s3.get_object.key).to_dict() for r in event.records]
