"""Ranker retraining on the aws backend, against a moto server: the SageMaker training job a retraining
starts, and the completion handler that SageMaker's "SageMaker Training Job State Change" event invokes.

moto records a training job but runs nothing (it reports every job Completed at once), so the test plays
the training container's part: it copies the job's `train` channel out of the bucket, runs the entry
point as SageMaker runs it (`SM_CHANNEL_TRAIN`, `SM_MODEL_DIR`, the job's string hyperparameters as
`--name value`), and packs the model folder into the `model.tar.gz` where the job's `ModelArtifacts` say
it is. Everything else is the code that runs on AWS: the S3 blob store, the SageMaker runner, and the
handler loaded from its `ImageConfig.Command` in template.yaml.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from reelmind.adapters.aws.blobs import S3BlobStore
from reelmind.adapters.aws.training import SageMakerTrainingRunner
from reelmind.adapters.local.events import LocalQueue
from reelmind.adapters.local.runner import LocalRunner
from reelmind.adapters.local.training import pack_model
from reelmind.ports import TrainingRequest
from reelmind.ranking.simulator import SimConfig, make_world, simulate
from reelmind.ranking.store import POINTER, TRAINING_OUTPUT, RankerStore
from reelmind.ranking.trainers import ENTRY_POINT
from reelmind.ranking.types import VideoFeatures
from reelmind.services.retrain import TRAINING_DATA, RetrainConfig, RetrainService
from reelmind.wiring import matches, read_wiring
from tests.aws_server import TEMPLATE
from tests.conftest import load_event
from tests.e2e.test_retrain import CONFIG, HPS, SimulatedExport

STAGE = "dev"
PREFIX = f"reelmind-{STAGE}-ranker-"
IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/reelmind-ranker-training:latest"
ROLE = "arn:aws:iam::123456789012:role/reelmind-dev-RankerTrainingRole"


def _calls(client: Any, operation: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        f"before-parameter-build.*.{operation}", lambda params, **_: calls.append(params)
    )
    return calls


def _runner(bucket: str) -> SageMakerTrainingRunner:
    return SageMakerTrainingRunner(bucket, IMAGE, ROLE, "ml.m5.large", client=boto3.client("sagemaker"))


def test_a_version_starts_exactly_one_training_job_on_its_data(bucket: str) -> None:
    runner = _runner(bucket)
    creates = _calls(runner._sagemaker, "CreateTrainingJob")
    name = PREFIX + "20261127T000000Z"
    request = TrainingRequest(
        name, f"{TRAINING_DATA}20261127T000000Z/", TRAINING_OUTPUT, {"epochs": 2, "long_term": True}
    )

    first = runner.start(request)
    again = runner.start(request)  # a retried start of the same version

    assert first.name == again.name == name and len(creates) == 1
    sagemaker = boto3.client("sagemaker")
    assert [
        j["TrainingJobName"] for j in sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"]
    ] == [name]
    job = sagemaker.describe_training_job(TrainingJobName=name)
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert job["RoleArn"] == ROLE
    [channel] = job["InputDataConfig"]
    assert channel["ChannelName"] == "train"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{bucket}/exports/ranker/20261127T000000Z/"
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{bucket}/models/ranker/training/"
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == (
        f"s3://{bucket}/models/ranker/training/{name}/output/model.tar.gz"
    )
    assert (
        job["ResourceConfig"]["InstanceType"] == "ml.m5.large" and job["ResourceConfig"]["InstanceCount"] == 1
    )
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] > 0
    assert job["HyperParameters"] == {"epochs": "2", "long_term": "1"}


def test_the_state_of_a_job_never_started_is_not_found(bucket: str) -> None:
    from reelmind.errors import NotFound

    with pytest.raises(NotFound, match="no training job"):
        _runner(bucket).state(PREFIX + "19990101T000000Z")


def test_a_start_without_image_or_role_is_a_config_error(bucket: str) -> None:
    from reelmind.errors import ConfigError

    runner = SageMakerTrainingRunner(bucket, None, ROLE, client=boto3.client("sagemaker"))
    with pytest.raises(ConfigError, match="REELMIND_TRAINING_IMAGE"):
        runner.start(TrainingRequest(PREFIX + "x", "exports/ranker/x/", TRAINING_OUTPUT, {}))


def test_the_template_rule_takes_the_sample_event_and_only_ranker_jobs() -> None:
    wiring = read_wiring(TEMPLATE)
    [trigger] = wiring.functions["RetrainCompleteFunction"].rule_triggers
    pattern = json.loads(
        json.dumps(trigger.pattern).replace('{"Fn::Sub": "reelmind-${Stage}-ranker-"}', f'"{PREFIX}"')
    )
    event = load_event("sagemaker_training_job_state_change.json")
    assert matches(pattern, event)
    other = copy.deepcopy(event)
    other["detail"]["TrainingJobName"] = "someone-elses-job"
    assert not matches(pattern, other)
    running = copy.deepcopy(event)
    running["detail"]["TrainingJobStatus"] = "InProgress"
    assert not matches(pattern, running)


def _train_as_sagemaker_does(bucket: str, name: str, work: Path) -> None:
    """The training container's part: the channel in, the entry point run, model.tar.gz out."""
    job = boto3.client("sagemaker").describe_training_job(TrainingJobName=name)
    blobs = S3BlobStore(bucket)
    channel_uri = job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    channel_prefix = channel_uri.removeprefix(f"s3://{bucket}/")
    train_dir, model_dir = work / "input" / "data" / "train", work / "model"
    for info in blobs.list(channel_prefix):
        dest = train_dir / info.key[len(channel_prefix) :]
        dest.parent.mkdir(parents=True, exist_ok=True)
        blobs.download(info.key, dest)
    args = [sys.executable, str(ENTRY_POINT)]
    for key, value in job["HyperParameters"].items():
        args += [f"--{key.replace('_', '-')}", value]
    env = {
        **os.environ,
        "SM_CHANNEL_TRAIN": str(train_dir),
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DATA_DIR": str(work / "output" / "data"),
        "SM_HPS": json.dumps(job["HyperParameters"]),
    }
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"].removeprefix(f"s3://{bucket}/")
    blobs.put_bytes(artifact, pack_model(model_dir), "application/gzip")


def _event(name: str, bucket: str, status: str = "Completed", reason: str = "") -> dict[str, Any]:
    """The sample event, for this job and bucket."""
    text = (Path(__file__).parents[1] / "events" / "sagemaker_training_job_state_change.json").read_text()
    text = text.replace("reelmind-dev-ranker-20261127T000000Z", name)
    text = text.replace("reelmind-media-111122223333-us-east-1-dev", bucket)
    event: dict[str, Any] = json.loads(text)
    event["detail"]["TrainingJobStatus"] = status
    if reason:
        event["detail"]["FailureReason"] = reason
        event["detail"].pop("ModelArtifacts")
    return event


def test_the_completion_handler_publishes_and_promotes_and_a_failed_job_promotes_nothing(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(CONFIG)
    log = simulate(world).log
    videos = {v.video_id: v for v in world.videos.features}

    def features(ids: Sequence[str]) -> dict[str, VideoFeatures]:
        return {i: videos[i] for i in ids if i in videos}

    blobs = S3BlobStore(bucket)
    store = RankerStore(blobs, check_every_s=0.0)
    config = RetrainConfig(hyperparameters=HPS, job_prefix=PREFIX)
    service = RetrainService(blobs, SimulatedExport(blobs, log), features, _runner(bucket), store, config)
    now = float(log.at.max()) + 1.0

    # GIVEN the schedule's start: the training set is in the bucket and the job is created on it
    started = service.start(now)
    assert started.job is not None and started.version is not None and not started.promoted
    assert started.job == PREFIX + started.version and started.examples > 0
    data = {i.key for i in blobs.list(f"exports/ranker/{started.version}/")}
    assert {f"exports/ranker/{started.version}/{n}" for n in ("videos.npz", "config.json")} <= data
    assert any(k.endswith(".parquet") for k in data)
    assert store.current_version() is None and store.metrics(started.version) == {}
    _train_as_sagemaker_does(bucket, started.job, tmp_path / "job")

    # WHEN SageMaker's completion event reaches the handler that template.yaml wires to it
    for name, value in {
        "REELMIND_BACKEND": "aws",
        "REELMIND_BUCKET": bucket,
        "REELMIND_TABLE": "unused-results",
        "REELMIND_EVENT_BUS": "unused-bus",
        "REELMIND_INTERACTIONS_TABLE": "unused-interactions",
        "REELMIND_FEATURES_TABLE": "unused-features",
        "REELMIND_TRAINING_JOB_PREFIX": PREFIX,
        "REELMIND_DATA_DIR": str(tmp_path / "var"),
    }.items():
        monkeypatch.setenv(name, value)
    wiring = read_wiring(TEMPLATE)
    spec = wiring.functions["RetrainCompleteFunction"]
    runner = LocalRunner(wiring, LocalQueue(tmp_path / "unused-queue.db"))
    report = runner.invoke(spec, _event(started.job, bucket))

    # THEN the version is published, evaluated on the holdout and promoted (the simulated log of the local
    # retraining test, where a model trained this long beats popularity)
    assert report["promoted"], report["reason"]
    assert report["version"] == started.version and report["holdout"] > 0
    assert store.current_version() == started.version
    files = {i.key.rsplit("/", 1)[1] for i in blobs.list(f"models/ranker/{started.version}/")}
    assert files == {"ranker.onnx", "coldstart.json", "metrics.json"}
    ranker = store.ranker()
    assert ranker is not None and ranker.version == started.version
    assert store.versions() == [started.version]
    # a repeated event decides nothing again
    pointer = blobs.get_bytes(POINTER)
    assert runner.invoke(spec, _event(started.job, bucket)) == report
    assert blobs.get_bytes(POINTER) == pointer

    # AND a job that fails is recorded with its reason and promotes nothing
    failing = service.start(now + 3600.0)
    assert failing.job is not None and failing.version is not None and failing.version != started.version
    reason = "AlgorithmError: ExecuteUserScriptError: no impressions before the holdout start"
    failed = runner.invoke(spec, _event(failing.job, bucket, "Failed", reason))
    assert not failed["promoted"] and reason in failed["reason"]
    assert store.current_version() == started.version and blobs.get_bytes(POINTER) == pointer
    recorded = store.metrics(failing.version)
    assert recorded["promoted"] is False and reason in recorded["reason"] and recorded["job"] == failing.job
    assert blobs.head(f"models/ranker/{failing.version}/ranker.onnx") is None


def test_the_schedule_handler_exports_the_stores_and_starts_the_job_of_the_schedules_time(
    bucket: str, interactions_table: str, features_table: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daily schedule's event: the interaction log and features from DynamoDB, the training set in the
    bucket, one job named for the schedule's time (a retried invocation starts no second one)."""
    from reelmind.adapters.aws.features import DynamoFeatureStore
    from reelmind.adapters.aws.interactions import DynamoInteractionStore

    world = make_world(SimConfig(seed=3, n_users=12, n_videos=30, n_authors=6, days=1))
    log = simulate(world).log
    DynamoInteractionStore(interactions_table, long_view_s=10.0).put_events(log.interactions())
    features = DynamoFeatureStore(features_table)
    for video in world.videos.features:
        features.put_features(video, eligible=True, updated_at=video.created_at)
    at = datetime.fromtimestamp(float(log.at.max()) + 60.0, UTC).replace(microsecond=0)
    for name, value in {
        "REELMIND_BACKEND": "aws",
        "REELMIND_BUCKET": bucket,
        "REELMIND_TABLE": "unused-results",
        "REELMIND_EVENT_BUS": "unused-bus",
        "REELMIND_INTERACTIONS_TABLE": interactions_table,
        "REELMIND_FEATURES_TABLE": features_table,
        "REELMIND_TRAINING_JOB_PREFIX": PREFIX,
        "REELMIND_TRAINING_IMAGE": IMAGE,
        "REELMIND_TRAINING_ROLE_ARN": ROLE,
        "REELMIND_TRAINING_INSTANCE_TYPE": "ml.c5.xlarge",
        "REELMIND_DATA_DIR": str(tmp_path / "var"),
    }.items():
        monkeypatch.setenv(name, value)
    wiring = read_wiring(TEMPLATE)
    spec = wiring.functions["RetrainFunction"]
    assert set(spec.environment) >= {
        "REELMIND_TRAINING_IMAGE",
        "REELMIND_TRAINING_ROLE_ARN",
        "REELMIND_TRAINING_INSTANCE_TYPE",
        "REELMIND_TRAINING_JOB_PREFIX",
    }
    runner = LocalRunner(wiring, LocalQueue(tmp_path / "unused-queue.db"))
    event = load_event("eventbridge_schedule.json")
    event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")

    report = runner.invoke(spec, event)
    again = runner.invoke(spec, event)  # Lambda retries an asynchronous invocation with the same event

    version = at.strftime("%Y%m%dT%H%M%SZ")
    assert report["version"] == version and report["job"] == PREFIX + version and not report["promoted"]
    assert report["examples"] == int((log.type == "impression").sum())
    assert again["job"] == report["job"]
    sagemaker = boto3.client("sagemaker")
    jobs = sagemaker.list_training_jobs(NameContains=PREFIX + version)["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in jobs] == [PREFIX + version]
    job = sagemaker.describe_training_job(TrainingJobName=PREFIX + version)
    assert job["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge" and job["HyperParameters"] == {
        "epochs": "4"
    }
    blobs = S3BlobStore(bucket)
    assert blobs.head(f"exports/ranker/{version}/config.json") is not None
    assert blobs.head(f"exports/ranker/{version}/videos.npz") is not None
