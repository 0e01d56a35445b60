"""Heavy jobs: ask for one, follow it, take in its results.

`create` validates the request, records the job under an id derived from what it computes (so the
same request twice is one job) and hands it to the `JobRunner`. `complete` runs when the runner's
manifest lands under `jobs/` (SageMaker async inference writes `{id}.out` or `{id}-error.out`; the
local pool does the same) and records the outputs, or the reason. A failed job asked for again is
retried into the same output keys.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from reelmind.domain import keys
from reelmind.domain.events import AnalysisCompleted
from reelmind.domain.jobs import FINISHED, Job, JobStatus, job_id_for, kind_of
from reelmind.domain.video import VideoStatus
from reelmind.errors import BadRequest, InvalidKey, NotFound
from reelmind.ports import BlobStore, Event, EventBus, JobRequest, JobRunner, JobStore, Result, ResultStore

log = logging.getLogger(__name__)

JOBS_PREFIX = "jobs/"


def job_of_manifest(key: str) -> tuple[str, bool]:
    """`jobs/{id}.out` -> (id, False); `jobs/{id}-error.out` -> (id, True)."""
    name = key.removeprefix(JOBS_PREFIX)
    if not key.startswith(JOBS_PREFIX) or "/" in name or not name.endswith(".out"):
        raise InvalidKey(f"{key!r} is not a job manifest (jobs/<id>.out)")
    stem = name.removesuffix(".out")
    failed = stem.endswith("-error")
    return stem.removesuffix("-error"), failed


class JobService:
    def __init__(
        self,
        blobs: BlobStore,
        results: ResultStore,
        jobs: JobStore,
        runner: Callable[[], JobRunner],
        events: EventBus,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.blobs = blobs
        self.results = results
        self.jobs = jobs
        self._runner = runner
        self.events = events
        self.clock = clock

    def create(self, kind: str, video_id: str | None, params: Mapping[str, Any]) -> Job:
        spec = kind_of(kind)
        clean = spec.validate(params)
        inputs: dict[str, str] = {}
        if spec.needs_video:
            if video_id is None:
                raise BadRequest(f"a {kind} job works on a video: POST /videos/{{id}}/jobs")
            inputs = self._inputs(video_id, kind, spec.needs_audio)
        else:
            video_id = None
        job_id = job_id_for(kind, video_id, clean)
        now = self.clock()
        job = Job(job_id, kind, video_id, clean, JobStatus.QUEUED, now, now)
        if not self.jobs.create_job(job):
            existing = self.get(job_id)
            if existing.status in (JobStatus.RUNNING, JobStatus.SUCCEEDED):
                return existing  # the same request again: the same job
            if existing.status is JobStatus.FAILED:
                self.jobs.update_job(
                    job_id,
                    expected=[JobStatus.FAILED],
                    changes={
                        "status": JobStatus.QUEUED.value,
                        "error": None,
                        "error_code": None,
                        "updated_at": now,
                    },
                )
            job = self.get(job_id)
        prefix = keys.derived_key(video_id, "jobs", job_id, "") if video_id else f"{JOBS_PREFIX}{job_id}/"
        self._runner().submit(JobRequest(job_id, kind, inputs, clean, prefix))
        self.jobs.update_job(
            job_id,
            expected=[JobStatus.QUEUED],
            changes={
                "status": JobStatus.RUNNING.value,
                "attempts": job.attempts + 1,
                "updated_at": self.clock(),
            },
        )
        return self.get(job_id)

    def _inputs(self, video_id: str, kind: str, needs_audio: bool) -> dict[str, str]:
        video = self.results.get_video(video_id)
        if video is None:
            raise NotFound(f"no video {video_id!r}")
        if video.status is not VideoStatus.READY:
            raise BadRequest(f"video {video_id} is {video.status.value}; jobs run on READY videos")
        inputs = {"video": video.source_key}
        ingest = self.results.get_results(video_id).get("ingest")
        audio = ingest.payload.get("audio") if ingest is not None else None
        if needs_audio and not audio:
            refused = ingest.payload.get("audio_refused") if ingest is not None else None
            why = f" ({refused})" if refused else ""
            raise BadRequest(f"video {video_id} has no audio track{why}; a {kind} job needs one")
        if audio:
            inputs["audio"] = audio["key"]
        return inputs

    def on_video_ready(self, video_id: str) -> dict[str, Any] | None:
        """Subtitles for every video with an audio track (the transcript also feeds safety and search);
        None where there is none, or the video was deleted after the event was sent."""
        if self.results.get_video(video_id) is None:
            log.info("video %s no longer exists; no subtitles", video_id)
            return None
        ingest = self.results.get_results(video_id).get("ingest")
        if ingest is None or not ingest.payload.get("audio"):
            return None
        return self.create("asr", video_id, {}).to_dict()

    def get(self, job_id: str) -> Job:
        """The job; while it runs, with the progress its worker last reported."""
        job = self.jobs.get_job(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        if job.status is JobStatus.RUNNING:
            try:
                job.progress = float(
                    json.loads(self.blobs.get_bytes(f"{JOBS_PREFIX}{job_id}/progress.json"))["progress"]
                )
            except (NotFound, ValueError, KeyError, TypeError):
                job.progress = None
        return job

    def complete(self, key: str) -> Job:
        """Record what the runner left at `key` (`jobs/{id}.out` or `jobs/{id}-error.out`)."""
        job_id, failed = job_of_manifest(key)
        job = self.get(job_id)
        if job.status in FINISHED:
            log.info("job %s is already %s", job_id, job.status.value)
            return job
        try:
            body: dict[str, Any] = json.loads(self.blobs.get_bytes(key))
        except (ValueError, NotFound) as exc:
            body, failed = (
                {"error": "BadManifest", "message": f"the job's manifest is unreadable: {exc}"},
                True,
            )
        if failed:
            changes: dict[str, Any] = {
                "status": JobStatus.FAILED.value,
                "error_code": _error_code(str(body.get("error", "JobFailed"))),
                "error": str(body.get("message", "the job failed"))[:1000],
            }
        else:
            outputs = {str(k): str(v) for k, v in (body.get("outputs") or {}).items()}
            missing = [k for k, v in outputs.items() if self.blobs.head(v) is None]
            if missing:
                changes = {
                    "status": JobStatus.FAILED.value,
                    "error_code": "missing_output",
                    "error": f"outputs {', '.join(missing)} were not written",
                }
            else:
                changes = {"status": JobStatus.SUCCEEDED.value, "outputs": outputs, "progress": 1.0}
                self._take_in(job, body)
        self.jobs.update_job(
            job_id,
            expected=[JobStatus.QUEUED, JobStatus.RUNNING],
            changes={**changes, "updated_at": self.clock()},
        )
        return self.get(job_id)

    def _take_in(self, job: Job, body: dict[str, Any]) -> None:
        """Results other features read: a transcript becomes the video's `asr` result (safety and search
        use it), announced like any analyzer's."""
        if job.kind != "asr" or job.video_id is None or "transcript" not in body:
            return
        version = str(body.get("version", "asr"))
        payload = {**body["transcript"], "outputs": body.get("outputs", {}), "status": "ok"}
        self.results.put_result(Result(job.video_id, "asr", version, payload, self.clock()), replace=True)
        self.events.publish(
            [
                Event(
                    AnalysisCompleted.detail_type,
                    AnalysisCompleted(job.video_id, "asr", version, "ok").detail(),
                )
            ]
        )


def _error_code(exception_name: str) -> str:
    """A worker's exception name as a stable code: "BadRequest" -> "bad_request"."""
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in exception_name).lstrip("_")
    return out or "job_failed"
