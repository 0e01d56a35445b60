"""The content analyzers, one Lambda function each (template.yaml names `app.tags`, `app.embed`, ...).

Each takes an EventBridge event naming a video ("VideoReady", "AnalysisRequested",
"AnalysisCompleted") and runs its analyzer; models open on first use, once per process.
"""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelmind.observability import instrument
from reelmind.runtime import bootstrap

runtime = bootstrap()
Handler = Callable[[dict[str, Any], LambdaContext], dict[str, str]]


def _handler(kind: str) -> Handler:
    def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
        detail = EventBridgeEvent(event).detail
        return runtime.analysis.run(kind, detail["video_id"], force=bool(detail.get("force"))).summary()

    return instrument(handle)


tags, ocr, safety, quality, originality, embed = map(
    _handler, ("tags", "ocr", "safety", "quality", "originality", "embed")
)
