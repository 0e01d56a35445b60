"""Where ranker versions live and which one serves (no torch here).

In the BlobStore:
```
models/ranker/<version>/ranker.onnx      the multi-task model (its feature spec in its metadata)
models/ranker/<version>/coldstart.json   the cold-start model
models/ranker/<version>/metrics.json     holdout metrics and the promotion decision
models/ranker/current.json               {"version", "promoted_at", "metrics"}: the one that serves
models/ranker/training/<job>/output/     what a training run leaves (model.tar.gz), before it is a version
```
A version's files are written before the pointer moves, so a reader never sees a pointer to a half
written version. `RankerStore.ranker()` and `.cold_start()` are what the feed calls on every request:
the loaded models are cached, and the pointer is read again at most every `check_every_s` seconds, so a
promotion reaches every process within that time without a read per request. When the store cannot be
read (no permission, a damaged file), serving keeps what it had and tries again after the interval.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reelmind.ports import BlobStore
from reelmind.ranking.coldstart import ColdStartModel
from reelmind.ranking.serve import OnnxRanker
from reelmind.ranking.types import Candidate

log = logging.getLogger(__name__)

PREFIX = "models/ranker/"
POINTER = PREFIX + "current.json"
RANKER_FILE, COLDSTART_FILE, METRICS_FILE = "ranker.onnx", "coldstart.json", "metrics.json"
#: where training runs write their packed model folder (not a version)
TRAINING_OUTPUT = PREFIX + "training/"


@dataclass(frozen=True, slots=True)
class Loaded:
    version: str
    ranker: OnnxRanker
    cold_start: ColdStartModel | None
    metrics: dict[str, Any]


class ColdStartScores:
    """A cold-start model as the feed's `ColdStartScorer`: predicted early engagement per candidate."""

    def __init__(self, model: ColdStartModel) -> None:
        self.model = model

    def __call__(self, candidates: Sequence[Candidate], now: float) -> np.ndarray:
        return self.model.predict([c.video for c in candidates]).astype(np.float64)


class RankerStore:
    def __init__(
        self,
        blobs: BlobStore,
        check_every_s: float = 60.0,
        threads: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.blobs = blobs
        self.check_every_s = check_every_s
        self.threads = threads
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded: Loaded | None = None
        self._checked_at: float | None = None

    # ------------------------------------------------------------------ writing (retraining)
    def publish(self, version: str, ranker: bytes, cold_start: bytes | None, metrics: dict[str, Any]) -> None:
        base = f"{PREFIX}{version}/"
        self.blobs.put_bytes(base + RANKER_FILE, ranker, "application/octet-stream")
        if cold_start is not None:
            self.blobs.put_bytes(base + COLDSTART_FILE, cold_start, "application/json")
        self.write_metrics(version, metrics)

    def write_metrics(self, version: str, metrics: dict[str, Any]) -> None:
        self.blobs.put_bytes(
            f"{PREFIX}{version}/{METRICS_FILE}",
            json.dumps(metrics, indent=2, sort_keys=True).encode(),
            "application/json",
        )

    def promote(self, version: str, metrics: dict[str, Any], at: float) -> None:
        if self.blobs.head(f"{PREFIX}{version}/{RANKER_FILE}") is None:
            raise ValueError(f"ranker version {version!r} has no model to promote")
        pointer = {"version": version, "promoted_at": at, "metrics": metrics}
        self.blobs.put_bytes(POINTER, json.dumps(pointer, sort_keys=True).encode(), "application/json")

    # ------------------------------------------------------------------ reading
    def current_version(self) -> str | None:
        if self.blobs.head(POINTER) is None:
            return None
        return str(json.loads(self.blobs.get_bytes(POINTER))["version"])

    def versions(self) -> list[str]:
        found = {info.key[len(PREFIX) :].split("/", 1)[0] for info in self.blobs.list(PREFIX)}
        staging = TRAINING_OUTPUT[len(PREFIX) :].rstrip("/")
        return sorted(v for v in found if v and not v.endswith(".json") and v != staging)

    def metrics(self, version: str) -> dict[str, Any]:
        key = f"{PREFIX}{version}/{METRICS_FILE}"
        return dict(json.loads(self.blobs.get_bytes(key))) if self.blobs.head(key) is not None else {}

    def load(self, version: str) -> Loaded:
        base = f"{PREFIX}{version}/"
        ranker = OnnxRanker.from_bytes(self.blobs.get_bytes(base + RANKER_FILE), self.threads)
        cold = None
        if self.blobs.head(base + COLDSTART_FILE) is not None:
            cold = ColdStartModel.from_bytes(self.blobs.get_bytes(base + COLDSTART_FILE))
        return Loaded(version, ranker, cold, self.metrics(version))

    def current(self) -> Loaded | None:
        """The promoted version, loaded once; the pointer is re-read at most every `check_every_s`."""
        with self._lock:
            now = self._clock()
            if self._checked_at is not None and now - self._checked_at < self.check_every_s:
                return self._loaded
            self._checked_at = now
            try:
                version = self.current_version()
                if version is None:
                    self._loaded = None
                elif self._loaded is None or self._loaded.version != version:
                    self._loaded = self.load(version)
            except Exception as e:
                # Any failure of this optional upgrade (a denied read on AWS is a bare ClientError, a damaged
                # file a ValueError) must not fail a feed request: serving goes on with what it has (or the
                # feed's default ranker) until the next check.
                log.warning(
                    "cannot read the promoted ranker (%s); keeping %s",
                    e,
                    self._loaded and self._loaded.version,
                )
            return self._loaded

    def ranker(self) -> OnnxRanker | None:
        """The promoted ranker, or None before any promotion (the feed then uses its default)."""
        loaded = self.current()
        return None if loaded is None else loaded.ranker

    def cold_start(self) -> ColdStartScores | None:
        """The promoted cold-start model as a scorer, or None."""
        loaded = self.current()
        return None if loaded is None or loaded.cold_start is None else ColdStartScores(loaded.cold_start)
