"""JobStore contract, on SQLite and on the DynamoDB table: create once, conditional updates."""

from __future__ import annotations

from reelmind.domain.jobs import Job, JobStatus
from reelmind.ports import JobStore


def _job(job_id: str = "j1") -> Job:
    return Job(job_id, "stylize", "v1", {"style": "oil"}, JobStatus.QUEUED, 1.0, 1.0)


def test_a_job_is_created_once(job_store: JobStore) -> None:
    assert job_store.create_job(_job()) is True
    assert job_store.create_job(_job()) is False
    assert job_store.get_job("j1") == _job()
    assert job_store.get_job("nope") is None


def test_updates_apply_only_from_an_expected_status(job_store: JobStore) -> None:
    job_store.create_job(_job())
    running = {"status": "running", "attempts": 1, "updated_at": 2.0}
    assert job_store.update_job("j1", expected=[JobStatus.QUEUED], changes=running) is True
    assert job_store.update_job("j1", expected=[JobStatus.QUEUED], changes={"status": "failed"}) is False
    done = {"status": "succeeded", "outputs": {"video": "derived/v1/jobs/j1/stylized.mp4"}, "progress": 1.0}
    assert job_store.update_job("j1", expected=[JobStatus.RUNNING], changes=done) is True
    job = job_store.get_job("j1")
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.attempts == 1
    assert job.outputs == {"video": "derived/v1/jobs/j1/stylized.mp4"} and job.updated_at == 2.0
    assert job_store.update_job("missing", expected=list(JobStatus), changes={"status": "failed"}) is False
