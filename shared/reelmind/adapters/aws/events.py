"""Event bus on EventBridge: each `Event` becomes one PutEvents entry on the named bus."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.config import Config

from reelmind.adapters.aws.errors import aws_errors
from reelmind.errors import Throttled
from reelmind.ports import Event

#: PutEvents accepts at most this many entries per request.
PUT_EVENTS_BATCH = 10


class EventBridgeBus:
    """The `EventBus` port on one bus; `client` is an EventBridge client (one from the environment if None)."""

    def __init__(self, bus_name: str, client: Any = None) -> None:
        self.bus_name = bus_name
        # Any: no stub package for the EventBridge client is a dependency.
        self._events: Any = client or boto3.client("events", config=Config(retries={"mode": "standard"}))

    def publish(self, events: Sequence[Event]) -> None:
        """Send in batches of ten, in order.

        PutEvents can accept some entries of a batch and refuse others (it says so in
        `FailedEntryCount`, not with an error). Then `Throttled` is raised before the next batch, so
        the caller's retry re-sends from that batch on; subscribers must tolerate duplicates, as they
        must with EventBridge's at-least-once delivery anyway.
        """
        for start in range(0, len(events), PUT_EVENTS_BATCH):
            batch = events[start : start + PUT_EVENTS_BATCH]
            entries = [
                {
                    "Source": event.source,
                    "DetailType": event.detail_type,
                    "Detail": json.dumps(event.detail),
                    "EventBusName": self.bus_name,
                }
                for event in batch
            ]
            with aws_errors(f"put events on bus {self.bus_name!r}"):
                resp = self._events.put_events(Entries=entries)
            if int(resp.get("FailedEntryCount", 0)) > 0:
                failed = [
                    f"{event.detail_type}: {entry.get('ErrorCode')}"
                    for event, entry in zip(batch, resp.get("Entries", []), strict=False)
                    if entry.get("ErrorCode")
                ]
                raise Throttled(
                    f"EventBridge refused {resp['FailedEntryCount']} of {len(batch)} events on bus "
                    f"{self.bus_name!r} ({'; '.join(failed) or 'no error codes given'}); retry later"
                )
