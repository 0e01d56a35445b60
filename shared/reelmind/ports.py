"""The seams between use cases and the outside world. Each has a local and an AWS adapter."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from reelmind.domain.interactions import Interaction
from reelmind.domain.jobs import Job, JobStatus
from reelmind.domain.video import Moderation, Video, VideoStatus
from reelmind.ranking.types import VideoFeatures, VideoStats


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    etag: str


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """How a client uploads: a form POST (AWS) or a multipart POST to the API (local)."""

    url: str
    fields: dict[str, str]
    key: str
    max_bytes: int
    expires_in_s: int


@runtime_checkable
class BlobStore(Protocol):
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> BlobInfo: ...
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> BlobInfo: ...
    def get_bytes(self, key: str) -> bytes: ...
    def download(self, key: str, dest: Path) -> Path: ...
    def head(self, key: str) -> BlobInfo | None: ...
    def list(self, prefix: str) -> Iterator[BlobInfo]: ...
    def delete(self, key: str) -> None:
        """Delete one object; deleting a missing one is not an error (as on S3)."""
        ...

    def delete_prefix(self, prefix: str) -> int: ...
    def presign_upload(self, key: str, max_bytes: int, expires_in_s: int) -> PresignedUpload: ...
    def url_for(self, key: str, expires_in_s: int = 3600) -> str: ...


@dataclass(frozen=True, slots=True)
class Result:
    video_id: str
    kind: str  # "ingest", "thumbnail", "tags", ...
    version: str  # model or algorithm version that produced it
    payload: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Video]
    cursor: str | None = None


class ResultStore(Protocol):
    def create_video(self, video: Video) -> bool:
        """Insert when absent; False (and no change) when the id exists."""
        ...

    def get_video(self, video_id: str) -> Video | None: ...

    def claim(self, video_id: str, now: float, lease_s: float) -> bool:
        """Take the ingest lease: PROCESSING with no live lease -> leased. False when held or done."""
        ...

    def release(self, video_id: str) -> None:
        """Give the ingest lease back early (after a transient failure) so a retry can take it."""
        ...

    def transition(
        self,
        video_id: str,
        to: VideoStatus,
        *,
        expected: Sequence[VideoStatus],
        changes: Mapping[str, Any] | None = None,
    ) -> bool:
        """Move status (and set `changes`) only when the current status is in `expected`."""
        ...

    def add_alias(self, video_id: str, key: str) -> None: ...

    def moderate(self, video_id: str, decision: Moderation, *, by: str, at: float) -> bool:
        """Set the moderation state. `by` is "auto" or "human"; an "auto" decision never replaces a
        human one. False when the video is absent or the human decision stands."""
        ...

    def delete_video(self, video_id: str) -> bool:
        """Delete the video and every result of it; False when it was not there."""
        ...

    def put_result(self, result: Result, *, replace: bool = False) -> bool:
        """Store when absent or a different version; False when the same version is there already.
        `replace` stores unconditionally (a result that another video's analysis corrects)."""
        ...

    def get_results(self, video_id: str) -> dict[str, Result]: ...

    def list_videos(
        self,
        *,
        status: VideoStatus | None = None,
        moderation: Moderation | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Newest first, optionally only one status and/or one moderation state."""
        ...


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    score: float
    meta: dict[str, Any] = field(default_factory=dict)


class VectorIndex(Protocol):
    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metas: Sequence[dict[str, Any]]) -> None: ...
    def delete(self, ids: Sequence[str]) -> None: ...
    def query(self, vector: np.ndarray, k: int) -> list[Hit]: ...
    def count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class TextDoc:
    """A document for keyword search: named text fields (title, tags, ocr, transcript, ...) and metadata
    returned with every hit."""

    id: str
    fields: dict[str, str]
    meta: dict[str, Any] = field(default_factory=dict)


class TextIndex(Protocol):
    """Keyword search over documents. Text is matched after `reelmind.domain.text.tokens` (Latin words,
    Chinese characters and character pairs), so Chinese and English queries behave alike on every backend."""

    def upsert(self, docs: Sequence[TextDoc]) -> None: ...
    def delete(self, ids: Sequence[str]) -> None: ...
    def search(self, query: str, k: int) -> list[Hit]:
        """Best first (BM25-like scores, higher is better); a query without any token gives []."""
        ...

    def count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Event:
    """One domain event as it travels on a bus (EventBridge's `detail-type` and `detail`)."""

    detail_type: str
    detail: dict[str, Any]
    source: str = "reelmind"


class EventBus(Protocol):
    def publish(self, events: Sequence[Event]) -> None: ...


class JobStore(Protocol):
    def create_job(self, job: Job) -> bool:
        """Insert when absent; False (and no change) when the id exists."""
        ...

    def get_job(self, job_id: str) -> Job | None: ...

    def update_job(self, job_id: str, *, expected: Sequence[JobStatus], changes: Mapping[str, Any]) -> bool:
        """Apply `changes` (fields of Job) only when the status is in `expected`."""
        ...


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What a worker or endpoint receives: inputs and outputs as blob keys, validated parameters."""

    job_id: str
    kind: str
    inputs: dict[str, str]  # name -> blob key
    params: dict[str, Any]
    output_prefix: str  # every output goes under it; the result manifest is `jobs/{job_id}.out`


class JobRunner(Protocol):
    def submit(self, request: JobRequest) -> None:
        """Start the job (SageMaker async inference, or the local worker pool). Its completion arrives
        as an object under `jobs/` (`{job_id}.out`, or `{job_id}-error.out`), as SageMaker writes it."""
        ...


#: What a training run can end as (SageMaker's `TrainingJobStatus`); `InProgress` until then.
TRAINING_COMPLETED, TRAINING_IN_PROGRESS = "Completed", "InProgress"
TRAINING_ENDED = frozenset({"Completed", "Failed", "Stopped"})


@dataclass(frozen=True, slots=True)
class TrainingRequest:
    """One training run, its data and its model as blob keys (the layout SageMaker training uses)."""

    name: str  # one run per name (derived from the model version): starting it again starts nothing
    input_prefix: str  # the `train` channel: what `infra/sagemaker/train/train.py` reads
    output_prefix: str  # the model folder is packed to `model_archive_key(output_prefix, name)`
    hyperparameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TrainingState:
    name: str
    status: str  # "InProgress", or one of TRAINING_ENDED
    reason: str = ""  # why it failed or stopped

    @property
    def ended(self) -> bool:
        return self.status in TRAINING_ENDED


def model_archive_key(output_prefix: str, name: str) -> str:
    """Where a run's model folder lands, packed, as SageMaker writes it: `<output>/<job>/output/model.tar.gz`."""
    return f"{output_prefix}{name}/output/model.tar.gz"


class TrainingRunner(Protocol):
    """Runs a training entry point on a data prefix (a SageMaker training job, or a local process)."""

    def start(self, request: TrainingRequest) -> TrainingState:
        """Start the run, or report the run of that name already started. A runner that trains while
        the caller waits (the local one) returns the ended state."""
        ...

    def state(self, name: str) -> TrainingState:
        """The run's state now; `NotFound` for a name never started."""
        ...


@dataclass(frozen=True, slots=True)
class Stored:
    """What `InteractionStore.put_events` did with a batch."""

    stored: int  # new events written
    duplicates: int  # events whose event_id was already stored (a retried batch)


class InteractionStore(Protocol):
    """The interaction log, keyed by event id, with the per-user and per-video reads the feed needs."""

    def put_events(self, events: Sequence[Interaction]) -> Stored:
        """Write each event once: an event_id already stored is counted as a duplicate, never rewritten."""
        ...

    def history(self, user_id: str, limit: int) -> list[Interaction]:
        """The user's most recent events, newest first."""
        ...

    def seen(self, user_id: str) -> set[str]:
        """Every video the user was shown or played."""
        ...

    def video_stats(self, video_ids: Sequence[str]) -> dict[str, VideoStats]:
        """Counters per video (absent ids: no entry)."""
        ...

    def events_between(self, start: float, end: float) -> Iterator[Interaction]:
        """Every event with start <= at < end, in no particular order (the export reads this)."""
        ...


class FeatureStore(Protocol):
    """Ranking features of each video (from its understanding results) and whether it may be shown."""

    def put_features(self, features: VideoFeatures, *, eligible: bool, updated_at: float) -> None:
        """Insert or replace. `eligible` is False for blocked, deleted and duplicate videos."""
        ...

    def get_features(self, video_ids: Sequence[str]) -> dict[str, VideoFeatures]: ...

    def changed_since(self, updated_at: float) -> Iterator[tuple[VideoFeatures, bool, float]]:
        """(features, eligible, updated_at) of every video written after `updated_at`, oldest first: a
        feed process keeps an in-memory snapshot and reads only what changed."""
        ...
