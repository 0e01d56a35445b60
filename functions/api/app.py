"""api: the HTTP API behind API Gateway, through mangum.

Its writes are idempotent by design, so no idempotency layer sits in front: `POST /videos` only signs
an upload, a job's id comes from its kind, video and parameters (asking twice is one job), a review
decision and `DELETE /videos/{id}` set a final state.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from reelmind.api.app import create_app
from reelmind.observability import instrument
from reelmind.runtime import bootstrap

app = Mangum(create_app(bootstrap()), lifespan="off")


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app(event, context)  # type: ignore[no-any-return]
