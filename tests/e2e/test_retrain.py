"""Retraining end to end on a small simulated log: export -> train -> evaluate -> promote, and a worse
model refused while the current one keeps serving.

Everything is real except the source of the log: the simulator writes its events as Parquet export files
into a blob folder (what `InteractionService.export` does with the stored events), and its videos stand
in for the feature store. Training runs the SageMaker entry point as a local process once, and in
process otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reelmind.adapters.local.blobs import FolderBlobStore
from reelmind.adapters.local.training import LocalTrainingRunner
from reelmind.ports import BlobStore
from reelmind.ranking.dataset import EventLog, to_parquet
from reelmind.ranking.serve import OnnxRanker
from reelmind.ranking.simulator import SimConfig, World, make_world, simulate
from reelmind.ranking.store import POINTER, RankerStore
from reelmind.ranking.trainers import SubprocessTrainer, in_process
from reelmind.ranking.types import TASKS, Candidate, UserHistory, VideoFeatures
from reelmind.services.retrain import RetrainConfig, RetrainReport, RetrainService

CONFIG = SimConfig(seed=21, n_users=150, n_videos=260, n_authors=50, days=5)
HPS = {"epochs": 3}


class SimulatedExport:
    """Writes the simulated log in the window as one Parquet file per UTC day, as the export does."""

    def __init__(self, blobs: BlobStore, log: EventLog) -> None:
        self.blobs, self.log = blobs, log

    def __call__(self, start: float, end: float) -> list[str]:
        rows = np.flatnonzero((self.log.at >= start) & (self.log.at < end))
        days = np.array([datetime.fromtimestamp(t, UTC).date().isoformat() for t in self.log.at[rows]])
        keys = []
        for day in sorted(set(days.tolist())):
            key = f"exports/interactions/{day}/{start:.0f}_{end:.0f}.parquet"
            self.blobs.put_bytes(key, to_parquet(self.log.take(rows[days == day])))
            keys.append(key)
        return keys


@pytest.fixture(scope="module")
def world() -> World:
    return make_world(CONFIG)


@pytest.fixture(scope="module")
def setup(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RetrainService, RankerStore, float]:
    blobs = FolderBlobStore(tmp_path_factory.mktemp("retrain") / "blobs")
    log = simulate(world).log
    videos = {v.video_id: v for v in world.videos.features}

    def features(ids: Sequence[str]) -> dict[str, VideoFeatures]:
        return {i: videos[i] for i in ids if i in videos}

    store = RankerStore(blobs, check_every_s=0.0)
    service = RetrainService(
        blobs,
        SimulatedExport(blobs, log),
        features,
        LocalTrainingRunner(blobs, in_process),
        store,
        RetrainConfig(hyperparameters=HPS),
    )
    return service, store, float(log.at.max()) + 1.0


@pytest.fixture(scope="module")
def first(setup: tuple[RetrainService, RankerStore, float]) -> RetrainReport:
    service, store, now = setup
    # the first model is trained by the SageMaker entry point, run as a local process
    subprocess_service = RetrainService(
        service.blobs,
        service.export,
        service.features,
        LocalTrainingRunner(service.blobs, SubprocessTrainer()),
        store,
        service.config,
    )
    return subprocess_service.run(now - 3600.0)


def test_the_first_model_is_trained_evaluated_and_promoted(
    first: RetrainReport, setup: tuple[RetrainService, RankerStore, float], world: World
) -> None:
    _, store, now = setup
    assert first.promoted, first.reason
    assert first.version is not None and store.current_version() == first.version
    assert first.candidate["mean_auc"] > first.popularity["mean_auc"]
    assert set(first.candidate) >= {f"auc/{t}" for t in TASKS} | {f"gauc/{t}" for t in TASKS}
    files = {info.key for info in store.blobs.list(f"models/ranker/{first.version}/")}
    assert files == {
        f"models/ranker/{first.version}/{n}" for n in ("ranker.onnx", "coldstart.json", "metrics.json")
    }
    metrics = json.loads(store.blobs.get_bytes(f"models/ranker/{first.version}/metrics.json"))
    assert metrics["promoted"] is True and metrics["holdout"] == first.holdout > 0
    # serving picks it up: the ranker and the cold-start scorer of that version
    ranker = store.ranker()
    assert isinstance(ranker, OnnxRanker) and ranker.version == first.version
    candidates = [Candidate(v) for v in world.videos.features[:6]]
    scores = ranker.score(UserHistory("someone"), candidates, now)
    assert all(scores[t].shape == (6,) for t in TASKS)
    cold = store.cold_start()
    assert cold is not None and cold(candidates, now).shape == (6,)


def test_a_worse_model_is_refused_and_the_current_one_stays(
    first: RetrainReport, setup: tuple[RetrainService, RankerStore, float]
) -> None:
    service, store, now = setup
    pointer = store.blobs.get_bytes(POINTER)
    worse = service.run(now, hyperparameters={"shuffle_labels": 1})
    assert not worse.promoted
    assert worse.version is not None and worse.version != first.version
    assert worse.current_version == first.version and worse.current is not None
    assert worse.candidate["mean_auc"] < worse.current["mean_auc"] - 0.002
    assert store.blobs.get_bytes(POINTER) == pointer
    assert store.current_version() == first.version
    refused = json.loads(store.blobs.get_bytes(f"models/ranker/{worse.version}/metrics.json"))
    assert refused["promoted"] is False and "AUC" in refused["reason"]
    assert first.version is not None
    assert sorted(store.versions()) == sorted([first.version, worse.version])


def test_a_model_as_good_as_the_current_one_is_promoted(
    first: RetrainReport, setup: tuple[RetrainService, RankerStore, float]
) -> None:
    service, store, now = setup
    again = service.run(now + 60.0)
    assert again.promoted, again.reason
    assert store.current_version() == again.version != first.version


def test_serving_rereads_the_pointer_at_most_every_interval(
    first: RetrainReport, setup: tuple[RetrainService, RankerStore, float]
) -> None:
    _, store, _ = setup
    clock = [0.0]
    reader = RankerStore(store.blobs, check_every_s=30.0, clock=lambda: clock[0])
    before = reader.ranker()
    assert before is not None and before.version == store.current_version()
    blobs = store.blobs
    saved = blobs.get_bytes(POINTER)
    versions = [v for v in store.versions() if v != before.version]
    blobs.put_bytes(POINTER, json.dumps({"version": versions[0], "promoted_at": 0, "metrics": {}}).encode())
    try:
        clock[0] = 29.0
        assert reader.ranker() is before  # cached: the pointer is not read again yet
        clock[0] = 31.0
        after = reader.ranker()
        assert after is not None and after.version == versions[0]
    finally:
        blobs.put_bytes(POINTER, saved)


def test_no_events_no_model(tmp_path: Path) -> None:
    blobs = FolderBlobStore(tmp_path / "blobs")
    store = RankerStore(blobs)
    service = RetrainService(
        blobs, lambda start, end: [], lambda ids: {}, LocalTrainingRunner(blobs, in_process), store
    )
    report = service.run(1_800_000_000.0)
    assert not report.promoted and report.version is None
    assert store.current_version() is None and store.ranker() is None and store.cold_start() is None


def test_the_local_runtime_retrains_from_its_own_stores_and_the_feed_serves_the_result(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The wiring: events in the interaction store, features in the feature store, the real export, the
    SageMaker entry point as a local process; the feed then ranks with the promoted model."""
    from reelmind.cli import main
    from tests.conftest import local_runtime

    log = simulate(world).log
    monkeypatch.setenv("REELMIND_RANKER_CHECK_S", "0.001")  # serving re-reads the pointer at once
    with local_runtime(tmp_path) as runtime:
        runtime.interactions.store.put_events(log.interactions())
        for video in world.videos.features:
            runtime.features.store.put_features(video, eligible=True, updated_at=video.created_at)
        assert runtime.feed.ranker().version != "unknown"
        before = runtime.feed.ranker().version
        report = runtime.retrain.run(float(log.at.max()) + 1.0)
        assert report.promoted, report.reason
        assert report.examples == int((log.type == "impression").sum())
        assert runtime.rankers.current_version() == report.version
        assert runtime.feed.ranker().version == report.version != before
        assert runtime.blobs.head(f"models/ranker/{report.version}/coldstart.json") is not None
        # the CLI runs the same service; its window ends now, long after the simulated days
        capsys.readouterr()
        assert main(["retrain", "--epochs", "1"]) == 0
        assert json.loads(capsys.readouterr().out)["reason"] == "no interactions in the window"
        assert runtime.rankers.current_version() == report.version


def test_a_damaged_pointer_keeps_the_loaded_ranker(
    first: RetrainReport, setup: tuple[RetrainService, RankerStore, float]
) -> None:
    _, store, _ = setup
    clock = [0.0]
    reader = RankerStore(store.blobs, check_every_s=10.0, clock=lambda: clock[0])
    loaded = reader.ranker()
    assert loaded is not None
    saved = store.blobs.get_bytes(POINTER)
    store.blobs.put_bytes(POINTER, json.dumps({"version": "never-published"}).encode())
    try:
        clock[0] = 11.0
        assert reader.ranker() is loaded
    finally:
        store.blobs.put_bytes(POINTER, saved)


def test_a_store_that_cannot_be_read_gives_no_ranker_instead_of_an_error(tmp_path: Path) -> None:
    class Denied(FolderBlobStore):
        def head(self, key: str) -> None:  # type: ignore[override]
            raise PermissionError("AccessDenied")

    reader = RankerStore(Denied(tmp_path / "blobs"), check_every_s=0.0)
    assert reader.ranker() is None and reader.cold_start() is None


def test_a_failed_training_run_is_recorded_and_promotes_nothing(
    first: RetrainReport, setup: tuple[RetrainService, RankerStore, float]
) -> None:
    """The local runner records a failing trainer as SageMaker records a failed job, once per version."""
    service, store, now = setup
    calls: list[set[str]] = []

    def failing(train_dir: Path, model_dir: Path, hyperparameters: dict[str, Any]) -> None:
        calls.append({str(p.relative_to(train_dir).parent) for p in train_dir.rglob("*") if p.is_file()})
        raise RuntimeError("training failed (exit 1): out of memory")

    pointer = store.blobs.get_bytes(POINTER)
    runner = LocalTrainingRunner(store.blobs, failing)
    broken = RetrainService(service.blobs, service.export, service.features, runner, store, service.config)
    report = broken.run(now + 7200.0)
    assert not report.promoted and report.version is not None and report.job is not None
    assert "out of memory" in report.reason and report.reason.startswith("training failed")
    assert store.metrics(report.version)["reason"] == report.reason
    assert store.blobs.head(f"models/ranker/{report.version}/ranker.onnx") is None
    assert store.blobs.get_bytes(POINTER) == pointer
    # the same version again: the run is not repeated, the decision not taken again
    assert broken.run(now + 7200.0) == report and len(calls) == 1
    assert calls[0] == {".", "events"}  # the channel as SageMaker lays it out: config, videos, events/
