"""Retraining the ranker on a schedule: export, train, evaluate, and promote only a model that is not worse.

One run:
1. export the interaction log of the last `window_s` (an injected callable: `InteractionService.export`,
   which writes Parquet files and returns their blob keys) and read it back;
2. read the features of every video in it (the FeatureStore's `get_features`);
3. label and replay it (`ranking.dataset.build_examples`) and hold out the latest `holdout_fraction` of
   impressions in time;
4. train on the rest with the injected trainer (in process, the SageMaker entry point as a local
   process, or a training job), which writes `ranker.onnx` and `coldstart.json`;
5. score the holdout with the candidate as it would serve, with the current promoted model, and with the
   popularity ranker (AUC and GAUC per task);
6. write the version under `models/ranker/<version>/` and move `models/ranker/current.json` to it only
   when it beats popularity on mean AUC and its mean AUC is not below the current model's by more than
   `tolerance`. Otherwise the current model stays, and the refused version's metrics say why.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from reelmind.ports import BlobStore
from reelmind.ranking.dataset import EventLog, VideoTable, build_examples, from_parquet
from reelmind.ranking.evaluation import popularity_metrics, ranker_metrics
from reelmind.ranking.pipeline import CONFIG_FILE, EVENTS_DIR, VIDEOS_FILE, write_videos
from reelmind.ranking.serve import OnnxRanker
from reelmind.ranking.store import RankerStore
from reelmind.ranking.trainers import Trainer
from reelmind.ranking.types import VideoFeatures

log = logging.getLogger(__name__)

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class RetrainConfig:
    window_s: float = 14 * DAY_S
    holdout_fraction: float = 0.2
    tolerance: float = 0.002
    hyperparameters: dict[str, Any] = field(default_factory=lambda: {"epochs": 4})


@dataclass(frozen=True, slots=True)
class RetrainReport:
    version: str | None
    promoted: bool
    reason: str
    candidate: dict[str, float] = field(default_factory=dict)
    current_version: str | None = None
    current: dict[str, float] | None = None
    popularity: dict[str, float] = field(default_factory=dict)
    examples: int = 0
    holdout: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RetrainService:
    def __init__(
        self,
        blobs: BlobStore,
        export: Callable[[float, float], list[str]],
        features: Callable[[Sequence[str]], Mapping[str, VideoFeatures]],
        trainer: Trainer,
        store: RankerStore,
        config: RetrainConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.blobs = blobs
        self.export = export
        self.features = features
        self.trainer = trainer
        self.store = store
        self.config = config or RetrainConfig()
        self.clock = clock

    def run(
        self, now: float | None = None, hyperparameters: Mapping[str, Any] | None = None
    ) -> RetrainReport:
        now = self.clock() if now is None else now
        keys = self.export(now - self.config.window_s, now)
        parts = [self.blobs.get_bytes(k) for k in keys]
        if not parts:
            return RetrainReport(None, False, "no interactions in the window")
        events = EventLog.concat([from_parquet(p) for p in parts])
        ids = sorted({str(v) for v in events.video_id})
        videos = [f for f in self.features(ids).values() if f.embedding.size]
        if not videos:
            return RetrainReport(None, False, "no features for the videos in the log")
        examples = build_examples(events, VideoTable.of(videos))
        if len(examples) < 10:
            return RetrainReport(None, False, f"only {len(examples)} labelled impressions")
        holdout_start = float(np.quantile(examples.now, 1.0 - self.config.holdout_fraction))
        holdout = examples.take(np.flatnonzero(examples.now >= holdout_start))
        version = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        hps = {**self.config.hyperparameters, **(hyperparameters or {})}

        with tempfile.TemporaryDirectory(prefix="reelmind-retrain-") as tmp:
            train_dir, model_dir = Path(tmp) / "train", Path(tmp) / "model"
            (train_dir / EVENTS_DIR).mkdir(parents=True)
            for i, part in enumerate(parts):
                (train_dir / EVENTS_DIR / f"part-{i:05d}.parquet").write_bytes(part)
            write_videos(train_dir / VIDEOS_FILE, videos)
            (train_dir / CONFIG_FILE).write_text(
                json.dumps({"holdout_start": holdout_start, "version": version})
            )
            self.trainer(train_dir, model_dir, hps)
            ranker_bytes = (model_dir / "ranker.onnx").read_bytes()
            cold = model_dir / "coldstart.json"
            cold_bytes = cold.read_bytes() if cold.exists() else None

        candidate = ranker_metrics(OnnxRanker.from_bytes(ranker_bytes), holdout)
        popularity = popularity_metrics(holdout)
        current_version = self.store.current_version()
        current: dict[str, float] | None = None
        if current_version is not None:
            try:
                current = ranker_metrics(self.store.load(current_version).ranker, holdout)
            except ValueError as e:  # a model of other features (say another embedding size): not comparable
                log.warning("the current ranker %s cannot score this holdout: %s", current_version, e)
        promoted, reason = self._decide(candidate, popularity, current)
        report = RetrainReport(
            version,
            promoted,
            reason,
            candidate,
            current_version,
            current,
            popularity,
            len(examples),
            len(holdout),
        )
        self.store.publish(version, ranker_bytes, cold_bytes, {**report.to_dict(), "hyperparameters": hps})
        if promoted:
            self.store.promote(version, candidate, now)
        log.info("ranker %s: %s (%s)", version, "promoted" if promoted else "refused", reason)
        return report

    def _decide(
        self, candidate: dict[str, float], popularity: dict[str, float], current: dict[str, float] | None
    ) -> tuple[bool, str]:
        mean = candidate["mean_auc"]
        if not mean > popularity["mean_auc"]:
            return False, f"mean AUC {mean:.4f} does not beat popularity's {popularity['mean_auc']:.4f}"
        if current is not None and mean < current["mean_auc"] - self.config.tolerance:
            return False, f"mean AUC {mean:.4f} is below the current model's {current['mean_auc']:.4f}"
        if current is None:
            return True, f"mean AUC {mean:.4f}, popularity {popularity['mean_auc']:.4f}; no current model"
        return True, f"mean AUC {mean:.4f}, current {current['mean_auc']:.4f}"
