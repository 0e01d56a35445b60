"""Powertools Logger, Tracer and Metrics, made once per process and shared by every handler.

Their settings come from the environment that `template.yaml` declares once in Globals
(`POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`, `POWERTOOLS_LOG_LEVEL`, ...). The Tracer turns
itself off outside Lambda; metrics are written (as CloudWatch EMF on stdout) only inside Lambda too, so a
local run's output is not mixed with metric documents.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

_H = TypeVar("_H", bound=Callable[..., Any])


def in_lambda() -> bool:
    """The same signal Powertools' Tracer uses to know it runs inside Lambda."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def instrument(handler: _H) -> _H:
    """Lambda context in every log line, one trace segment per invocation, and the cold-start metric.

    Responses are not attached to traces: API bodies and analyzer payloads can exceed X-Ray's limits.
    """
    wrapped: Any = tracer.capture_lambda_handler(handler, capture_response=False)
    if in_lambda():
        wrapped = metrics.log_metrics(wrapped, capture_cold_start_metric=True)
    out: _H = logger.inject_lambda_context(wrapped, clear_state=True)
    return out
