"""Build the adapters and services from settings: the one place where the backend is chosen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reelmind.adapters.local.events import LocalQueue
from reelmind.adapters.local.runner import LocalRunner, RunStats
from reelmind.errors import ConfigError
from reelmind.models.registry import ModelRegistry
from reelmind.ports import BlobStore, EventBus, ResultStore, VectorIndex
from reelmind.services.analysis import AnalysisService, Analyzer
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
    models: ModelRegistry
    analysis: AnalysisService
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
    models = ModelRegistry(settings.model_dir, settings.model_threads)
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
        models=models,
        analysis=AnalysisService(
            blobs, results, events, _analyzers(settings, models, results, _vector_index(settings))
        ),
        local=local,
    )


VISUAL_DIM = 1280


def _vector_index(settings: Settings) -> Callable[[str, int], VectorIndex]:
    """Named vector indexes, opened on first use."""

    def open_index(name: str, dim: int) -> VectorIndex:
        if settings.backend == "local":
            from reelmind.adapters.local.vectors import HnswVectorIndex

            return HnswVectorIndex(settings.data_dir.resolve() / "vectors" / name, dim)
        raise ConfigError(
            f"the {name!r} vector index needs OpenSearch on the aws backend, which this deployment lacks"
        )

    return open_index


def _analyzers(
    settings: Settings,
    models: ModelRegistry,
    results: ResultStore,
    vectors: Callable[[str, int], VectorIndex],
) -> dict[str, Callable[[], Analyzer]]:
    """Each analyzer built on first use, so a function opens only the models it runs."""
    from reelmind.domain.policy import SafetyPolicy
    from reelmind.domain.taxonomy import default_taxonomy
    from reelmind.models.ocr import OCR_MODELS, OcrEngine
    from reelmind.models.vision import ImageClassifier, NsfwScorer, NudityDetector
    from reelmind.services import analyzers as a

    def classifier() -> ImageClassifier:
        return ImageClassifier(models.session("efficientnet-lite0"))

    classifier_ref = models.spec("efficientnet-lite0").ref
    return {
        "tags": lambda: a.TagsAnalyzer(
            classifier(), classifier_ref, default_taxonomy().with_overrides(settings.tag_thresholds)
        ),
        "ocr": lambda: a.OcrAnalyzer(
            lambda: OcrEngine(models, max_side=settings.ocr_max_side),
            [models.spec(n).ref for n in OCR_MODELS],
            a.OcrConfig(max_frames=settings.ocr_max_frames),
        ),
        "safety": lambda: a.SafetyAnalyzer(
            NsfwScorer(models.session("open-nsfw")),
            NudityDetector(models.session("nudenet-320n")),
            [models.spec("open-nsfw").ref, models.spec("nudenet-320n").ref],
            SafetyPolicy.load(settings.safety_policy),
            results,
        ),
        "quality": a.QualityAnalyzer,
        "originality": lambda: a.OriginalityAnalyzer(
            classifier(),
            classifier_ref,
            lambda: vectors("originality", VISUAL_DIM),
            results,
            candidates=settings.originality_candidates,
        ),
    }


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
