"""retrain: `handler`, on a daily EventBridge schedule, exports the interaction log and starts the ranker's
training run on it (a SageMaker training job);
`complete`, on SageMaker's "SageMaker Training Job State Change" of such a job, evaluates the model on a
held-out time slice and promotes it only when it is not worse than the current one, or records why the
job failed (template.yaml)."""

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelmind.adapters.aws.training import job_state
from reelmind.observability import instrument
from reelmind.runtime import bootstrap

runtime = bootstrap()


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # the schedule's time, not the clock: a retried invocation names the same version, so the same job
    return runtime.retrain.start(datetime.fromisoformat(EventBridgeEvent(event).time).timestamp()).to_dict()


@instrument
def complete(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return runtime.retrain.finish(job_state(EventBridgeEvent(event).detail)).to_dict()
