"""retrain: a daily EventBridge schedule -> export the interaction log, train the ranker, evaluate it on a
held-out time slice and promote it only when it is not worse than the current one (template.yaml)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from reelmind.observability import instrument
from reelmind.runtime import bootstrap

runtime = bootstrap()


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return runtime.retrain.run().to_dict()
