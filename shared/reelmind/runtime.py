"""Build the adapters and services from settings: the one place where the backend is chosen."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reelmind.adapters.local.events import LocalQueue
from reelmind.adapters.local.runner import LocalRunner, RunStats
from reelmind.errors import ConfigError
from reelmind.ports import BlobStore, EventBus, ResultStore
from reelmind.services.catalog import CatalogService, UploadPolicy
from reelmind.services.ingest import IngestConfig, IngestService
from reelmind.services.thumbnail import ThumbnailConfig, ThumbnailService
from reelmind.settings import Settings


@dataclass(slots=True)
class Local:
    """What only the local backend has: the queue its events travel on and the runner that drains it."""

    queue: LocalQueue
    runner: LocalRunner
    blob_root: Path

    def drain(self) -> RunStats:
        return self.runner.run_until_idle()


@dataclass(slots=True)
class Runtime:
    settings: Settings
    blobs: BlobStore
    results: ResultStore
    events: EventBus
    ingest: IngestService
    thumbnail: ThumbnailService
    catalog: CatalogService
    local: Local | None = None


def bootstrap(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings.from_env()
    local: Local | None = None
    if settings.backend == "local":
        blobs, results, events, local = _local(settings)
    elif settings.backend == "aws":
        blobs, results, events = _aws(settings)
    else:  # pragma: no cover - Settings validates this
        raise ConfigError(f"unknown backend {settings.backend!r}")
    return Runtime(
        settings=settings,
        blobs=blobs,
        results=results,
        events=events,
        ingest=IngestService(
            blobs,
            results,
            events,
            IngestConfig(
                limits=settings.limits,
                lease_s=settings.ingest_lease_s,
                max_keyframes=settings.max_keyframes,
            ),
        ),
        thumbnail=ThumbnailService(
            blobs,
            results,
            ThumbnailConfig(
                widths=settings.thumbnail_widths,
                fmt=settings.thumbnail_format,
            ),
        ),
        catalog=CatalogService(
            blobs, results, UploadPolicy(settings.limits.max_bytes, settings.upload_url_ttl_s)
        ),
        local=local,
    )


def _local(settings: Settings) -> tuple[BlobStore, ResultStore, EventBus, Local]:
    from reelmind.adapters.local.blobs import FolderBlobStore
    from reelmind.adapters.local.events import LocalEventBus
    from reelmind.adapters.local.results import SqliteResultStore
    from reelmind.wiring import read_wiring

    data = settings.data_dir.resolve()
    queue = LocalQueue(data / "queue.db")
    blobs = FolderBlobStore(data / "blobs", on_created=lambda info: queue.object_created("local", info))
    results = SqliteResultStore(data / "results.db")
    runner = LocalRunner(read_wiring(settings.template_path), queue)
    return blobs, results, LocalEventBus(queue), Local(queue=queue, runner=runner, blob_root=blobs.root)


def _aws(settings: Settings) -> tuple[BlobStore, ResultStore, EventBus]:
    from reelmind.adapters.aws.blobs import S3BlobStore
    from reelmind.adapters.aws.events import EventBridgeBus
    from reelmind.adapters.aws.results import DynamoResultStore

    assert settings.bucket and settings.table and settings.event_bus
    return S3BlobStore(settings.bucket), DynamoResultStore(settings.table), EventBridgeBus(settings.event_bus)
