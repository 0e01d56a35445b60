"""api: the HTTP API behind API Gateway, through mangum (which strips the stage from request paths).

Its writes are idempotent by design, so no idempotency layer sits in front: `POST /videos` only signs
an upload, a job's id comes from its kind, video and parameters (asking again returns the running or
finished job instead of submitting it again), a review decision and `DELETE /videos/{id}` set a final
state.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from reelmind.api.app import create_app
from reelmind.observability import instrument
from reelmind.runtime import bootstrap

runtime = bootstrap()
app = Mangum(create_app(runtime), lifespan="off", api_gateway_base_path=runtime.settings.api_base_path)


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app(event, context)  # type: ignore[no-any-return]
