"""features: keep a video's ranking features current as its analyses complete.

Runs on `AnalysisCompleted` for tags, quality, embed, safety and originality (template.yaml): builds the
video's `VideoFeatures` and feed eligibility from its stored results and puts them in the feature store.
"""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelmind.observability import instrument
from reelmind.runtime import bootstrap

runtime = bootstrap()


@instrument
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    return runtime.features.on_analysis(event.detail["video_id"], event.detail["kind"])
