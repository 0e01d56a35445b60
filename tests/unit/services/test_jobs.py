"""The job framework on the local backend: validation, one job per request, the worker pool, the
manifest under jobs/, completion through the template-wired `job_complete` handler, failure and retry.

The work function here stands in for an engine (the engines have their own tests); everything else
is real: worker processes, the blob folder, the event queue and the handler named in template.yaml."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reelmind import samples
from reelmind.adapters.local.blobs import FolderBlobStore
from reelmind.adapters.local.jobs import LocalJobRunner
from reelmind.api.app import create_app
from reelmind.domain.jobs import JobStatus
from reelmind.errors import BadRequest, Busy, InvalidKey, NotFound
from reelmind.runtime import Runtime
from reelmind.services.jobs import job_of_manifest


def echo_work(request: dict[str, Any], blob_root: str, model_dir: str) -> dict[str, Any]:
    """Writes one output, or fails while a flag file exists; sleeps when asked to."""
    store = FolderBlobStore(Path(blob_root))
    if (Path(blob_root) / "FAIL").exists():
        raise BadRequest("the engine refused this input")
    time.sleep(float(request["params"].get("speed", 1.0)) - 1.0 if request["kind"] == "tts" else 0.0)
    key = request["output_prefix"] + "out.txt"
    store.put_bytes(key, repr(request["params"]).encode())
    return {"outputs": {"text": key}}


ECHO = f"{__name__}:echo_work"


@pytest.fixture
def jobs_runtime(runtime: Runtime, settings: Any) -> Iterator[Runtime]:
    assert runtime.local is not None
    pool = LocalJobRunner.for_root(runtime.blobs, runtime.local.blob_root, settings.model_dir, work=ECHO)
    yield runtime
    pool.close()


def _video(runtime: Runtime, clip: samples.ClipTruth) -> str:
    assert runtime.local is not None
    runtime.blobs.put_file("uploads/j/clip.mp4", clip.path)
    outcome = runtime.ingest.handle_upload("uploads/j/clip.mp4")
    return outcome.video_id


def test_a_job_runs_in_the_pool_and_completes_through_its_manifest(jobs_runtime: Runtime) -> None:
    runtime = jobs_runtime
    assert runtime.local is not None
    job = runtime.jobs.create("tts", None, {"text": "Hello there."})
    assert (
        job.status is JobStatus.RUNNING
        and job.attempts == 1
        and job.params == {"text": "Hello there.", "speed": 1.0}
    )
    stats = runtime.local.drain()
    assert stats.by_function.get("JobCompleteFunction") == 1
    done = runtime.jobs.get(job.job_id)
    assert done.status is JobStatus.SUCCEEDED and done.outputs == {"text": f"jobs/{job.job_id}/out.txt"}
    assert runtime.blobs.head(f"jobs/{job.job_id}.out") is not None
    again = runtime.jobs.create("tts", None, {"text": "Hello there.", "speed": 1.0})
    assert again.job_id == job.job_id and again.status is JobStatus.SUCCEEDED, (
        "the same request is the same job"
    )


def test_a_running_job_shows_the_progress_its_worker_reported(jobs_runtime: Runtime) -> None:
    from reelmind.domain.jobs import Job

    runtime = jobs_runtime
    runtime.jobs.jobs.create_job(
        Job("jrun", "tts", None, {"text": "x", "speed": 1.0}, JobStatus.RUNNING, 1.0, 1.0)
    )
    assert runtime.jobs.get("jrun").progress is None, "nothing reported yet"
    runtime.blobs.put_bytes("jobs/jrun/progress.json", b'{"job_id": "jrun", "progress": 0.4}')
    assert runtime.jobs.get("jrun").progress == 0.4


def test_a_failed_job_records_why_and_a_retry_reuses_its_outputs(jobs_runtime: Runtime) -> None:
    runtime = jobs_runtime
    assert runtime.local is not None
    flag = runtime.local.blob_root / "FAIL"
    flag.write_text("x")
    job = runtime.jobs.create("tts", None, {"text": "Fail first."})
    runtime.local.drain()
    failed = runtime.jobs.get(job.job_id)
    assert failed.status is JobStatus.FAILED and failed.error_code == "bad_request"
    assert failed.error == "the engine refused this input"
    flag.unlink()
    retried = runtime.jobs.create("tts", None, {"text": "Fail first."})
    assert retried.job_id == job.job_id and retried.attempts == 2
    runtime.local.drain()
    done = runtime.jobs.get(job.job_id)
    assert done.status is JobStatus.SUCCEEDED and list(runtime.blobs.list(f"jobs/{job.job_id}/")) != []
    assert [b.key for b in runtime.blobs.list(f"jobs/{job.job_id}/")] == [f"jobs/{job.job_id}/out.txt"]


def test_a_full_pool_says_busy(runtime: Runtime, settings: Any) -> None:
    assert runtime.local is not None
    # j1 holds the only slot: a worker process that sleeps a second before it writes its manifest
    pool = LocalJobRunner(
        runtime.blobs, runtime.local.blob_root, settings.model_dir, max_pending=1, work=ECHO
    )
    try:
        from reelmind.ports import JobRequest

        pool.submit(JobRequest("j1", "tts", {}, {"text": "a", "speed": 2.0}, "jobs/j1/"))
        with pytest.raises(Busy):
            pool.submit(JobRequest("j2", "tts", {}, {"text": "b", "speed": 1.0}, "jobs/j2/"))
    finally:
        pool.close()


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("juggle", {}, "unknown job type"),
        ("stylize", {"style": "cubism"}, "style must be one of"),
        ("stylize", {"style": "cartoon", "colour": "red"}, "unknown: colour"),
        ("voice", {"preset": 3}, "preset must be one of"),
        ("asr", {"burn_in": "yes"}, "burn_in must be true or false"),
    ],
)
def test_invalid_video_jobs_are_refused(
    jobs_runtime: Runtime,
    clips: dict[str, samples.ClipTruth],
    kind: str,
    params: dict[str, Any],
    message: str,
) -> None:
    video_id = _video(jobs_runtime, clips["cuts"])
    with pytest.raises(BadRequest, match=message):
        jobs_runtime.jobs.create(kind, video_id, params)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "text must be"),
        ({"text": "   "}, "text must be"),
        ({"text": "x" * 1_000_000}, "limit is 5000"),
        ({"text": "hi", "speed": 9}, "speed"),
    ],
)
def test_invalid_tts_jobs_are_refused(jobs_runtime: Runtime, params: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        jobs_runtime.jobs.create("tts", None, params)


def test_audio_jobs_need_an_audio_track_and_video_jobs_a_video(
    jobs_runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    silent = _video(jobs_runtime, clips["silent"])
    for kind, params in (("voice", {"preset": "deeper"}), ("asr", {})):
        with pytest.raises(BadRequest, match="no audio track"):
            jobs_runtime.jobs.create(kind, silent, params)
    with pytest.raises(NotFound):
        jobs_runtime.jobs.create("stylize", "vmissing", {"style": "sketch"})
    with pytest.raises(BadRequest, match="works on a video"):
        jobs_runtime.jobs.create("stylize", None, {"style": "sketch"})


def test_the_api_creates_and_shows_jobs(jobs_runtime: Runtime, clips: dict[str, samples.ClipTruth]) -> None:
    client = TestClient(create_app(jobs_runtime))
    video_id = _video(jobs_runtime, clips["cuts"])
    created = client.post(f"/videos/{video_id}/jobs", json={"type": "stylize", "params": {"style": "oil"}})
    assert created.status_code == 202 and created.json()["status"] == "running"
    assert jobs_runtime.local is not None
    jobs_runtime.local.drain()
    shown = client.get(f"/jobs/{created.json()['job_id']}").json()
    assert shown["status"] == "succeeded" and shown["output_urls"]["text"].startswith("/blobs/derived/")
    assert client.post("/jobs", json={"type": "tts", "params": {"text": ""}}).status_code == 400
    assert client.post("/jobs", content=b"x" * 100_000).status_code == 413
    assert client.post("/jobs", content=b"{not json").status_code == 400
    assert client.get("/jobs/jnope").status_code == 404


@pytest.mark.parametrize("key", ["jobs/a/b.out", "uploads/x.out", "jobs/x.json"])
def test_only_job_manifests_are_taken_in(key: str) -> None:
    with pytest.raises(InvalidKey):
        job_of_manifest(key)
    assert job_of_manifest("jobs/j1.out") == ("j1", False) and job_of_manifest("jobs/j1-error.out") == (
        "j1",
        True,
    )
