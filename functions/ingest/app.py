"""ingest: SQS messages from UploadsQueue, each an S3 notification of an upload -> a registered video.

A bad upload ends as a FAILED video inside the service and its message is done with; only a message whose
ingest raised (Busy, Throttled, any TransientError, anything unexpected) returns to the queue.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes import S3Event, SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelmind.observability import instrument, logger
from reelmind.runtime import bootstrap

runtime = bootstrap()
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    """One message: an S3 notification, or S3's `s3:TestEvent` (it has no Records: nothing to do)."""
    for r in S3Event({"Records": [], **record.json_body}).records:
        left = lambda_context.get_remaining_time_in_millis() / 1000 if lambda_context else None
        outcome = runtime.ingest.handle_object_created(r.s3.get_object.key, time_left_s=left)
        logger.info("upload handled", extra=outcome.to_dict())


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event, record_handler, processor, context)
