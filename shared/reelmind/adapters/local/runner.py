"""Deliver queued events to the handlers the template names, the way Lambda invokes them.

Each handler module is loaded from its file by the template's `Handler` string (the library never
imports `functions/`), once per runner, like a warm Lambda container. An S3 notification goes to the
functions S3 invokes for the key, and, wrapped in an SQS event, to the functions polling a queue the
bucket notifies for it. A failing invocation (an exception, or the message reported in
`batchItemFailures` by a function whose SQS event has `ReportBatchItemFailures`) is retried twice, like
Lambda's asynchronous invocation, then recorded as a dead letter.
"""

from __future__ import annotations

import importlib.util
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from reelmind.adapters.local.events import LocalQueue, Message, sqs_event, sqs_record
from reelmind.domain.keys import decode_event_key
from reelmind.errors import ConfigError, InvalidKey
from reelmind.wiring import FunctionSpec, SqsTrigger, Wiring

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(slots=True)
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "local"
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class BatchItemFailed(Exception):
    """The handler answered that it failed a message of its SQS batch: the message goes back to the queue."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One invocation a message makes: the function, and the queue it arrives through (None: directly)."""

    spec: FunctionSpec
    queue: SqsTrigger | None = None


@dataclass(slots=True)
class RunStats:
    delivered: int = 0
    failed_attempts: int = 0
    dead_letters: int = 0
    by_function: dict[str, int] = field(default_factory=dict)

    def merged(self, other: RunStats) -> RunStats:
        by = dict(self.by_function)
        for name, n in other.by_function.items():
            by[name] = by.get(name, 0) + n
        return RunStats(
            self.delivered + other.delivered,
            self.failed_attempts + other.failed_attempts,
            self.dead_letters + other.dead_letters,
            by,
        )


class LocalRunner:
    def __init__(self, wiring: Wiring, queue: LocalQueue, max_attempts: int = 3) -> None:
        self.wiring = wiring
        self.queue = queue
        self.max_attempts = max_attempts
        self._modules: dict[str, ModuleType] = {}

    def handler(self, spec: FunctionSpec) -> Handler:
        module = self._modules.get(spec.logical_id)
        if module is None:
            path = spec.module_path
            name = f"_reelmind_fn_{spec.logical_id}_{id(self):x}"
            loader_spec = importlib.util.spec_from_file_location(name, path)
            if loader_spec is None or loader_spec.loader is None or not path.is_file():
                raise ConfigError(f"{spec.logical_id}: handler module {path} not found")
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
            self._modules[spec.logical_id] = module
        fn: Handler = getattr(module, spec.attribute)
        return fn

    def invoke(self, spec: FunctionSpec, event: dict[str, Any]) -> Any:
        context = LambdaContext(spec.logical_id, spec.memory_mb, spec.timeout_s)
        return self.handler(spec)(event, context)

    def targets(self, message: Message) -> list[FunctionSpec]:
        return [d.spec for d in self.deliveries(message)]

    def deliveries(self, message: Message) -> list[Delivery]:
        if message.channel == "s3":
            raw = message.body["Records"][0]["s3"]["object"]["key"]
            try:
                key = decode_event_key(raw)
            except InvalidKey:
                key = raw  # the handler records the refusal; routing only needs the prefix
            found = [Delivery(spec) for spec in self.wiring.for_object(key)] + [
                Delivery(spec, trigger)
                for queue in self.wiring.queues_for_object(key)
                for spec, trigger in self.wiring.for_queue(queue)
            ]
        else:
            found = [Delivery(spec) for spec in self.wiring.for_event(message.body)]
        if message.target is not None:
            # a retry is for one handler only; a target the template no longer routes to is still tried
            return [d for d in found if d.spec.logical_id == message.target] or [
                Delivery(self.wiring.functions[message.target])
            ]
        return found

    def deliver(self, delivery: Delivery, message: Message) -> None:
        """Invoke the handler with the message in the shape its trigger delivers; raise if it failed."""
        if delivery.queue is None:
            self.invoke(delivery.spec, message.body)
            return
        record = sqs_record(
            message.body, delivery.queue.queue, self.queue.region, receive_count=message.attempts + 1
        )
        response = self.invoke(delivery.spec, sqs_event([record]))
        if not delivery.queue.report_batch_item_failures or not isinstance(response, dict):
            return  # without ReportBatchItemFailures Lambda deletes the batch whatever the answer
        failed = [f.get("itemIdentifier") for f in response.get("batchItemFailures") or []]
        if failed:
            raise BatchItemFailed(
                f"{delivery.spec.logical_id} reported message {record['messageId']} as a batch item failure"
            )

    def run_until_idle(self, max_messages: int = 100_000) -> RunStats:
        stats = RunStats()
        for _ in range(max_messages):
            message = self.queue.pop()
            if message is None:
                break
            for delivery in self.deliveries(message):
                spec = delivery.spec
                try:
                    self.deliver(delivery, message)
                except Exception as exc:
                    stats.failed_attempts += 1
                    if message.attempts + 1 < self.max_attempts:
                        log.warning(
                            "%s failed (attempt %d), will retry: %s",
                            spec.logical_id,
                            message.attempts + 1,
                            exc,
                        )
                        self.queue.retry(message, spec.logical_id)
                    else:
                        log.error(
                            "%s failed %d times; dead-lettered: %s", spec.logical_id, self.max_attempts, exc
                        )
                        self.queue.dead_letter(
                            message, spec.logical_id, "".join(traceback.format_exception(exc))
                        )
                        stats.dead_letters += 1
                else:
                    stats.delivered += 1
                    stats.by_function[spec.logical_id] = stats.by_function.get(spec.logical_id, 0) + 1
        return stats
