"""Turn AWS client errors into the project's typed errors.

Throttling becomes `Throttled` (a `TransientError`, so the platform retries the event); a missing
object becomes `NotFound`. Any other error is re-raised unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

from reelmind.errors import NotFound, Throttled

#: Error codes AWS uses to say "slow down" (botocore's own list for its standard retry mode).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)

#: Codes for an absent object: GetObject says `NoSuchKey`, HeadObject (no body) only `404`.
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def error_code(error: ClientError) -> str:
    """The AWS error code of a `ClientError` ('' when the response has none)."""
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Re-raise throttling as `Throttled` and a missing object as `NotFound`, naming `what` failed."""
    try:
        yield
    except S3UploadFailedError as e:
        # The transfer manager wraps the client error it caught; look through to it.
        cause = e.__cause__ or e.__context__
        if isinstance(cause, ClientError) and error_code(cause) in THROTTLING_CODES:
            raise Throttled(f"{what}: AWS throttled the request ({error_code(cause)}); retry later") from e
        raise
    except ClientError as e:
        code = error_code(e)
        if code in THROTTLING_CODES:
            raise Throttled(f"{what}: AWS throttled the request ({code}); retry later") from e
        if code in NOT_FOUND_CODES:
            raise NotFound(f"{what}: not found") from e
        raise
