"""Shared fixtures: generated clips with known ground truth, a fresh local runtime, a Lambda context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reelmind import samples
from reelmind.adapters.local.runner import LambdaContext
from reelmind.runtime import Runtime, bootstrap
from reelmind.settings import Settings
from tests.aws_server import (
    bucket,
    dynamodb_endpoint,
    event_bus,
    features_table,
    idempotency_table,
    interactions_table,
    knn_endpoint,
    moto_endpoint,
    opensearch_endpoint,
    osmem_endpoint,
    table,
)

#: The local servers' fixtures, registered here once so that every suite shares one lazily started server
#: of each (moto, DynamoDB Local, osmem-server, the k-NN test server).
__all__ = [
    "bucket",
    "dynamodb_endpoint",
    "event_bus",
    "features_table",
    "idempotency_table",
    "interactions_table",
    "knn_endpoint",
    "moto_endpoint",
    "opensearch_endpoint",
    "osmem_endpoint",
    "table",
]

EVENTS = Path(__file__).parent / "events"


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, samples.ClipTruth]:
    return samples.write_standard(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="session")
def reuploads(
    clips: dict[str, samples.ClipTruth], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[str, Path]]:
    """The originality set: every standard clip, the extra distinct clips, and six transformed copies of
    each (re-encoded, half size, cropped, mirrored, watermarked, trimmed). name -> (origin, path)."""
    from reelmind.media import transforms

    folder = tmp_path_factory.mktemp("reuploads")
    originals = {name: truth.path for name, truth in clips.items()}
    for spec in samples.originality_specs():
        originals[spec.name] = samples.write_clip(spec, folder / f"{spec.name}.mp4").path
    files = {name: (name, path) for name, path in originals.items()}
    for name, path in originals.items():
        for kind, transform in transforms.TRANSFORMS.items():
            files[f"{name}.{kind}"] = (name, transform(path, folder / f"{name}.{kind}.mp4"))
    return files


#: Every result a video with an audio track ends with, once the local pipeline has run.
ALL_RESULTS = {"ingest", "thumbnail", "tags", "ocr", "safety", "quality", "originality", "embed", "asr"}


@contextmanager
def local_runtime(folder: Path) -> Iterator[Runtime]:
    """A local runtime on `folder`, for module-scoped fixtures (handler modules bootstrap from the env)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REELMIND_BACKEND", "local")
        mp.setenv("REELMIND_DATA_DIR", str(folder / "var"))
        runtime = bootstrap(Settings.from_env())
        assert runtime.local is not None
        yield runtime


def upload(runtime: Runtime, key: str, path: Path) -> str:
    """Put a file under uploads/, run every queued function, return the video id it became."""
    assert runtime.local is not None
    runtime.blobs.put_file(key, path)
    stats = runtime.local.drain()
    assert stats.dead_letters == 0, (key, stats)
    [video] = runtime.results.list_videos(limit=1).items
    return video.video_id


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Local settings on a fresh data folder; also exported, since handler modules bootstrap from the env."""
    monkeypatch.setenv("REELMIND_BACKEND", "local")
    monkeypatch.setenv("REELMIND_DATA_DIR", str(tmp_path / "var"))
    return Settings.from_env()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    yield bootstrap(settings)


def runtime_with(settings: Settings, **limits: Any) -> Runtime:
    return bootstrap(replace(settings, limits=replace(settings.limits, **limits)))


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext(function_name="test", memory_limit_in_mb=512, timeout_s=30)


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data
