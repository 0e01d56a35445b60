"""Retraining the ranker on a schedule: export, train, evaluate, and promote only a model that is not worse.

`start`:
1. export the interaction log of the last `window_s` (an injected callable: `InteractionService.export`,
   which writes Parquet files and returns their blob keys) and read it back;
2. read the features of every video in it (the FeatureStore's `get_features`);
3. label and replay it (`ranking.dataset.build_examples`) to check there is enough to train on, and pick
   the start of the holdout: the latest `holdout_fraction` of impressions in time;
4. write the training set under `exports/ranker/<version>/` (`events/*.parquet`, `videos.npz`,
   `config.json` with the holdout start and the hyperparameters: what the training entry point reads)
   and start the training run `<job_prefix><version>` on it with the `TrainingRunner` (a SageMaker
   training job, or the entry point as a local process), which packs `ranker.onnx` and `coldstart.json`
   into `models/ranker/training/<job>/output/model.tar.gz`.

`finish`, when the run has ended (on SageMaker's completion event, or in `run`):
5. score the holdout with the candidate as it would serve, with the current promoted model, and with the
   popularity ranker (AUC and GAUC per task);
6. write the version under `models/ranker/<version>/` and move `models/ranker/current.json` to it only
   when it beats popularity on mean AUC and its mean AUC is not below the current model's by more than
   `tolerance`. Otherwise the current model stays, and the refused version's metrics say why. A run that
   failed or was stopped is recorded (its version's metrics.json with the reason) and promotes nothing.
   A version already decided is not decided again (a repeated completion event).

`run` does both, waiting for the run in between (`reelmind retrain`; the local runner has ended it by
the time `start` returns). On AWS the schedule only starts, and SageMaker's completion event finishes.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from reelmind.errors import InputError
from reelmind.ports import (
    TRAINING_COMPLETED,
    BlobStore,
    TrainingRequest,
    TrainingRunner,
    TrainingState,
    model_archive_key,
)
from reelmind.ranking.dataset import EventLog, VideoTable, build_examples, from_parquet
from reelmind.ranking.evaluation import popularity_metrics, ranker_metrics
from reelmind.ranking.pipeline import CONFIG_FILE, EVENTS_DIR, VIDEOS_FILE, read_data, write_videos
from reelmind.ranking.serve import OnnxRanker
from reelmind.ranking.store import COLDSTART_FILE, RANKER_FILE, TRAINING_OUTPUT, RankerStore
from reelmind.ranking.types import VideoFeatures

log = logging.getLogger(__name__)

DAY_S = 86_400.0
#: where each version's training set is written (the training job's `train` channel)
TRAINING_DATA = "exports/ranker/"


class NotATrainingRun(InputError):
    """A training run that this retraining did not start (another name)."""


@dataclass(frozen=True, slots=True)
class RetrainConfig:
    window_s: float = 14 * DAY_S
    holdout_fraction: float = 0.2
    tolerance: float = 0.002
    hyperparameters: dict[str, Any] = field(default_factory=lambda: {"epochs": 4})
    job_prefix: str = "reelmind-local-ranker-"  # training runs are named <job_prefix><version>
    poll_s: float = 30.0  # how often `run` asks a runner that trains elsewhere whether it has ended
    max_wait_s: float = 4 * 3600.0


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
    job: str | None = None  # the training run, while it runs or when it failed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RetrainService:
    def __init__(
        self,
        blobs: BlobStore,
        export: Callable[[float, float], list[str]],
        features: Callable[[Sequence[str]], Mapping[str, VideoFeatures]],
        training: TrainingRunner,
        store: RankerStore,
        config: RetrainConfig | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.blobs = blobs
        self.export = export
        self.features = features
        self.training = training
        self.store = store
        self.config = config or RetrainConfig()
        self.clock = clock
        self.sleep = sleep

    def run(
        self, now: float | None = None, hyperparameters: Mapping[str, Any] | None = None
    ) -> RetrainReport:
        """Start a retraining, wait for its training run to end, and finish it."""
        report = self.start(now, hyperparameters)
        if report.job is None:
            return report  # nothing to train on
        deadline = self.clock() + self.config.max_wait_s
        state = self.training.state(report.job)
        while not state.ended and self.clock() < deadline:
            self.sleep(self.config.poll_s)
            state = self.training.state(report.job)
        if not state.ended:
            return report
        return self.finish(state)

    def start(
        self, now: float | None = None, hyperparameters: Mapping[str, Any] | None = None
    ) -> RetrainReport:
        """Export, write the training set and start its training run (a retried start of the same
        version starts nothing more). The report names the run; `finish` decides when it has ended."""
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
        holdout = int((examples.now >= holdout_start).sum())
        version = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        hps = {**self.config.hyperparameters, **(hyperparameters or {})}

        data = f"{TRAINING_DATA}{version}/"
        for i, part in enumerate(parts):
            self.blobs.put_bytes(f"{data}{EVENTS_DIR}/part-{i:05d}.parquet", part, "application/octet-stream")
        with tempfile.TemporaryDirectory(prefix="reelmind-retrain-") as tmp:
            write_videos(Path(tmp) / VIDEOS_FILE, videos)
            self.blobs.put_file(data + VIDEOS_FILE, Path(tmp) / VIDEOS_FILE, "application/octet-stream")
        config = {"holdout_start": holdout_start, "version": version, "hyperparameters": hps}
        self.blobs.put_bytes(data + CONFIG_FILE, json.dumps(config).encode(), "application/json")

        name = self.config.job_prefix + version
        state = self.training.start(TrainingRequest(name, data, TRAINING_OUTPUT, hps))
        started = f"training run {name} " + (state.status.lower() if state.ended else "started")
        log.info("ranker %s: %s", version, started)
        return RetrainReport(version, False, started, examples=len(examples), holdout=holdout, job=name)

    def finish(self, state: TrainingState) -> RetrainReport:
        """Evaluate the model of an ended training run and promote it, or refuse it; record a failed run."""
        if not state.name.startswith(self.config.job_prefix):
            raise NotATrainingRun(
                f"training run {state.name!r} is not a ranker retraining ({self.config.job_prefix}*)"
            )
        version = state.name[len(self.config.job_prefix) :]
        recorded = self.store.metrics(version)
        if "promoted" in recorded:  # decided already: a repeated completion event changes nothing
            fields = set(RetrainReport.__dataclass_fields__)
            return RetrainReport(**{k: v for k, v in recorded.items() if k in fields})
        if not state.ended:
            raise ValueError(f"training run {state.name} has not ended ({state.status})")
        if state.status != TRAINING_COMPLETED:
            report = RetrainReport(
                version,
                False,
                f"training {state.status.lower()}: {state.reason or 'no reason given'}",
                job=state.name,
            )
            self.store.write_metrics(version, report.to_dict())
            log.warning("ranker %s: %s", version, report.reason)
            return report

        with tempfile.TemporaryDirectory(prefix="reelmind-retrain-") as tmp:
            train_dir = Path(tmp) / "train"
            data = f"{TRAINING_DATA}{version}/"
            for info in self.blobs.list(data):
                dest = train_dir / info.key[len(data) :]
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.blobs.download(info.key, dest)
            examples, config = read_data(train_dir)
        holdout = examples.take(np.flatnonzero(examples.now >= float(config["holdout_start"])))
        hps = dict(config.get("hyperparameters", {}))
        files = _unpack(self.blobs.get_bytes(model_archive_key(TRAINING_OUTPUT, state.name)))
        if RANKER_FILE not in files:
            raise ValueError(f"the model of training run {state.name} has no {RANKER_FILE}")
        ranker_bytes, cold_bytes = files[RANKER_FILE], files.get(COLDSTART_FILE)

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
            self.store.promote(version, candidate, self.clock())
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


def _unpack(archive: bytes) -> dict[str, bytes]:
    """The regular files of a model.tar.gz by their base names (SageMaker may write `./ranker.onnx`)."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                out[Path(member.name).name] = handle.read()
    return out
