"""Build the adapters and services from settings: the one place where the backend is chosen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reelmind.adapters.local.events import LocalQueue
from reelmind.adapters.local.jobs import LocalJobRunner
from reelmind.adapters.local.runner import LocalRunner, RunStats
from reelmind.errors import ConfigError
from reelmind.models.registry import ModelRegistry
from reelmind.models.vision import ImageClassifier
from reelmind.ports import (
    BlobStore,
    EventBus,
    FeatureStore,
    InteractionStore,
    JobRunner,
    JobStore,
    ResultStore,
    TextIndex,
    TrainingRunner,
    VectorIndex,
)
from reelmind.ranking.store import RankerStore
from reelmind.services.analysis import AnalysisService, Analyzer
from reelmind.services.catalog import CatalogService, UploadPolicy
from reelmind.services.embed import SEMANTIC, SEMANTIC_DIM, VISUAL_DIM, SemanticEmbedder
from reelmind.services.features import FeatureService
from reelmind.services.feed import FeedConfig, FeedService
from reelmind.services.ingest import IngestConfig, IngestService
from reelmind.services.interactions import EventPolicy, InteractionService
from reelmind.services.jobs import JobService
from reelmind.services.retrain import RetrainConfig, RetrainService
from reelmind.services.search import SearchService
from reelmind.services.thumbnail import ThumbnailConfig, ThumbnailService
from reelmind.settings import Settings


@dataclass(slots=True)
class Local:
    """What only the local backend has: the queue its events travel on and the runner that drains it."""

    queue: LocalQueue
    runner: LocalRunner
    blob_root: Path

    def drain(self) -> RunStats:
        """Deliver queued events until none is left, waiting for running jobs whose completion adds more."""
        stats = self.runner.run_until_idle()
        while (pool := LocalJobRunner.existing(self.blob_root)) is not None and pool.busy():
            pool.wait()
            stats = stats.merged(self.runner.run_until_idle())
        return stats


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
    search: SearchService
    jobs: JobService
    interactions: InteractionService
    features: FeatureService
    feed: FeedService
    rankers: RankerStore
    retrain: RetrainService
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
    vectors, text_index = _vector_index(settings), _text_index(settings)
    semantic = _semantic(settings, models)
    interaction_store, feature_store = _interaction_store(settings), _feature_store(settings)
    rankers = RankerStore(blobs, check_every_s=settings.ranker_check_s, threads=settings.model_threads)
    interactions = InteractionService(
        interaction_store,
        blobs,
        EventPolicy(
            max_events=settings.events_max_batch,
            max_bytes=settings.events_max_bytes,
            max_skew_s=settings.events_max_skew_s,
            max_age_s=settings.events_max_age_s,
        ),
    )
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
            blobs,
            results,
            events,
            _analyzers(settings, models, blobs, results, vectors, text_index, semantic),
        ),
        search=SearchService(
            blobs,
            results,
            vectors,
            text_index,
            semantic,
            lambda: ImageClassifier(models.session("efficientnet-lite0")),
        ),
        jobs=JobService(blobs, results, _job_store(settings), _job_runner(settings, blobs, local), events),
        interactions=interactions,
        features=FeatureService(blobs, results, feature_store),
        feed=FeedService(
            feature_store,
            interaction_store,
            lambda: vectors(SEMANTIC, SEMANTIC_DIM),
            config=FeedConfig(
                max_same_category=settings.feed_max_same_category, refresh_s=settings.feed_refresh_s
            ),
            ranker=rankers.ranker,
            cold_start=rankers.cold_start,
        ),
        rankers=rankers,
        retrain=RetrainService(
            blobs,
            interactions.export,
            feature_store.get_features,
            _training(settings, blobs),
            rankers,
            RetrainConfig(
                window_s=settings.retrain_window_days * 86400.0, job_prefix=settings.training_job_prefix
            ),
        ),
        local=local,
    )


def _training(settings: Settings, blobs: BlobStore) -> TrainingRunner:
    """Locally, the SageMaker training entry point as a process of its own (in this process when this is
    not a source checkout), while the caller waits; on AWS, SageMaker training jobs."""
    if settings.backend == "aws":
        from reelmind.adapters.aws.training import SageMakerTrainingRunner

        assert settings.bucket
        return SageMakerTrainingRunner(
            settings.bucket,
            settings.training_image,
            settings.training_role_arn,
            settings.training_instance_type,
        )
    from reelmind.adapters.local.training import LocalTrainingRunner
    from reelmind.ranking.trainers import ENTRY_POINT, SubprocessTrainer, Trainer, in_process

    trainer: Trainer = SubprocessTrainer(ENTRY_POINT) if ENTRY_POINT.exists() else in_process
    return LocalTrainingRunner(blobs, trainer)


def _job_store(settings: Settings) -> JobStore:
    if settings.backend == "local":
        from reelmind.adapters.local.jobs import SqliteJobStore

        return SqliteJobStore(settings.data_dir.resolve() / "jobs.db")
    from reelmind.adapters.aws.jobs import DynamoJobStore

    assert settings.table
    return DynamoJobStore(settings.table)


def _interaction_store(settings: Settings) -> InteractionStore:
    if settings.backend == "local":
        from reelmind.adapters.local.interactions import SqliteInteractionStore

        return SqliteInteractionStore(
            settings.data_dir.resolve() / "interactions.db", long_view_s=settings.long_view_s
        )
    from reelmind.adapters.aws.interactions import DynamoInteractionStore

    assert settings.interactions_table
    return DynamoInteractionStore(settings.interactions_table, long_view_s=settings.long_view_s)


def _feature_store(settings: Settings) -> FeatureStore:
    if settings.backend == "local":
        from reelmind.adapters.local.features import SqliteFeatureStore

        return SqliteFeatureStore(settings.data_dir.resolve() / "features.db")
    from reelmind.adapters.aws.features import DynamoFeatureStore

    assert settings.features_table
    return DynamoFeatureStore(settings.features_table)


def _job_runner(settings: Settings, blobs: BlobStore, local: Local | None) -> Callable[[], JobRunner]:
    """The worker pool (local) or SageMaker (aws), made when the first job is submitted."""
    made: list[JobRunner] = []

    def get() -> JobRunner:
        if not made:
            if local is not None:
                from reelmind.adapters.local.jobs import LocalJobRunner

                made.append(
                    LocalJobRunner.for_root(
                        blobs, local.blob_root, settings.model_dir, workers=settings.job_workers
                    )
                )
            else:
                from reelmind.adapters.aws.jobs import SageMakerJobRunner

                assert settings.bucket
                made.append(SageMakerJobRunner(settings.bucket, settings.job_endpoints))
        return made[0]

    return get


def _semantic(settings: Settings, models: ModelRegistry) -> Callable[[], SemanticEmbedder]:
    """The picture-and-text embedder, built on first use (its class-name table is cached on disk)."""
    built: list[SemanticEmbedder] = []

    def get() -> SemanticEmbedder:
        if not built:
            from reelmind.domain.taxonomy import default_taxonomy
            from reelmind.models.text import TextEmbedder, class_text_embeddings
            from reelmind.services.embed import ConseEmbedder

            text = TextEmbedder.from_registry(models)
            names = [c.en for c in default_taxonomy().classes]
            cache = (
                settings.data_dir.resolve() / "cache"
                if settings.backend == "local"
                else Path("/tmp/reelmind")
            )
            refs = f"conse({models.spec('efficientnet-lite0').ref},{models.spec('minilm-l6-int8').ref})"
            table = class_text_embeddings(text, names, cache, prebuilt_dir=settings.model_dir)
            built.append(ConseEmbedder(text, table, refs))
        return built[0]

    return get


def _vector_index(settings: Settings) -> Callable[[str, int], VectorIndex]:
    """Named vector indexes, each opened once per process on first use."""
    opened: dict[tuple[str, int], VectorIndex] = {}

    def open_index(name: str, dim: int) -> VectorIndex:
        if (name, dim) not in opened:
            if settings.backend == "local":
                from reelmind.adapters.local.vectors import HnswVectorIndex

                opened[name, dim] = HnswVectorIndex(settings.data_dir.resolve() / "vectors" / name, dim)
            else:
                from reelmind.adapters.aws.search import OpenSearchVectorIndex

                opened[name, dim] = OpenSearchVectorIndex(
                    _opensearch(settings), f"{settings.index_prefix}-{name}", dim, aws_auth=True
                )
        return opened[name, dim]

    return open_index


TEXT_WEIGHTS = {"title": 2.0, "tags_en": 1.5, "tags_zh": 1.5, "ocr": 1.0, "transcript": 1.0}


def _text_index(settings: Settings) -> Callable[[], TextIndex]:
    opened: list[TextIndex] = []

    def open_index() -> TextIndex:
        if not opened:
            if settings.backend == "local":
                from reelmind.adapters.local.text import SqliteTextIndex

                opened.append(SqliteTextIndex(settings.data_dir.resolve() / "text.db", TEXT_WEIGHTS))
            else:
                from reelmind.adapters.aws.search import OpenSearchTextIndex

                opened.append(
                    OpenSearchTextIndex(
                        _opensearch(settings), f"{settings.index_prefix}-text", TEXT_WEIGHTS, aws_auth=True
                    )
                )
        return opened[0]

    return open_index


def _opensearch(settings: Settings) -> str:
    if not settings.opensearch_endpoint:
        raise ConfigError(
            "the aws backend needs REELMIND_OPENSEARCH_ENDPOINT for its vector and text indexes"
        )
    return settings.opensearch_endpoint


def _analyzers(
    settings: Settings,
    models: ModelRegistry,
    blobs: BlobStore,
    results: ResultStore,
    vectors: Callable[[str, int], VectorIndex],
    text_index: Callable[[], TextIndex],
    semantic: Callable[[], SemanticEmbedder],
) -> dict[str, Callable[[], Analyzer]]:
    """Each analyzer built on first use, so a function opens only the models it runs."""
    from reelmind.domain.policy import SafetyPolicy
    from reelmind.domain.taxonomy import default_taxonomy
    from reelmind.models.ocr import OCR_MODELS, OcrEngine
    from reelmind.models.vision import NsfwScorer, NudityDetector
    from reelmind.services import analyzers as a
    from reelmind.services.embed import EmbedAnalyzer

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
        "embed": lambda: EmbedAnalyzer(
            classifier(),
            classifier_ref,
            semantic(),
            default_taxonomy(),
            blobs,
            vectors,
            text_index,
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
