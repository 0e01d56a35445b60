"""Jobs on the local backend: a SQLite job table, and a worker pool running the same inference entry
points a SageMaker endpoint runs (`infra/sagemaker/<kind>/inference.py`).

Like SageMaker async inference, a finished job leaves its manifest at `jobs/{job_id}.out` (or the
reason at `jobs/{job_id}-error.out`) in the blob store; the object-created event starts `job_complete`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from reelmind.adapters.local.sqlite import Database
from reelmind.domain.jobs import Job, JobStatus
from reelmind.errors import Busy
from reelmind.ports import BlobStore, JobRequest

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, status TEXT NOT NULL, data TEXT NOT NULL);
"""


class SqliteJobStore:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, SCHEMA)

    def create_job(self, job: Job) -> bool:
        with self.db.tx() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO jobs (job_id, status, data) VALUES (?, ?, ?)",
                (job.job_id, job.status.value, json.dumps(job.to_dict())),
            )
            return cur.rowcount == 1

    def get_job(self, job_id: str) -> Job | None:
        row = self.db.read().execute("SELECT data FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return Job.from_dict(json.loads(row["data"])) if row else None

    def update_job(self, job_id: str, *, expected: Sequence[JobStatus], changes: Mapping[str, Any]) -> bool:
        with self.db.tx() as conn:
            row = conn.execute("SELECT status, data FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None or JobStatus(row["status"]) not in expected:
                return False
            data = {**json.loads(row["data"]), **changes}
            job = Job.from_dict({**data, "status": JobStatus(data["status"])})
            conn.execute(
                "UPDATE jobs SET status = ?, data = ? WHERE job_id = ?",
                (job.status.value, json.dumps(job.to_dict()), job_id),
            )
            return True


def manifest_key(job_id: str, failed: bool = False) -> str:
    return f"jobs/{job_id}-error.out" if failed else f"jobs/{job_id}.out"


_POOLS: dict[Path, LocalJobRunner] = {}
_POOLS_LOCK = threading.Lock()


class LocalJobRunner:
    """A bounded pool of worker processes: each job runs in a fresh `python -m reelmind.jobs.worker`
    (isolated like an endpoint container; a crash or a leak ends with the job), at most `workers` at a
    time, and at most `max_pending` waiting or running. One per blob folder and process (`for_root`), so
    every function of the local backend shares it. `work` ("module:function") replaces the entry points."""

    @classmethod
    def for_root(
        cls, blobs: BlobStore, blob_root: Path, model_dir: Path, workers: int = 1, work: str | None = None
    ) -> LocalJobRunner:
        with _POOLS_LOCK:
            if blob_root not in _POOLS:
                _POOLS[blob_root] = cls(blobs, blob_root, model_dir, workers, work=work)
            return _POOLS[blob_root]

    @staticmethod
    def existing(blob_root: Path) -> LocalJobRunner | None:
        with _POOLS_LOCK:
            return _POOLS.get(blob_root)

    def __init__(
        self,
        blobs: BlobStore,
        blob_root: Path,
        model_dir: Path,
        workers: int = 1,
        max_pending: int = 8,
        work: str | None = None,
        timeout_s: float = 3600.0,
    ) -> None:
        self.blobs = blobs
        self.blob_root = blob_root
        self.model_dir = model_dir
        self.max_pending = max_pending
        self.work = work
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reelmind-job")
        self._inflight: set[str] = set()  # submitted, manifest not yet written
        self._done = threading.Condition()

    def submit(self, request: JobRequest) -> None:
        with self._done:
            if len(self._inflight) >= self.max_pending:
                raise Busy(f"{len(self._inflight)} jobs are already waiting; try again shortly")
            self._inflight.add(request.job_id)
        self._pool.submit(self._run, request)

    def _run(self, request: JobRequest) -> None:
        failed = True
        try:
            with tempfile.TemporaryDirectory(prefix="reelmind-job-") as tmp:
                path = Path(tmp) / "request.json"
                path.write_text(json.dumps(asdict(request)))
                command = [
                    sys.executable,
                    "-m",
                    "reelmind.jobs.worker",
                    str(path),
                    str(self.blob_root),
                    str(self.model_dir),
                ]
                if self.work:
                    command.append(self.work)
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=self.timeout_s, check=False
                )
            lines = done.stdout.strip().splitlines()
            try:
                body = json.loads(lines[-1]) if lines else {}
            except ValueError:
                body = {}
            if done.returncode == 0 and "outputs" in body:
                failed = False
            elif "error" not in body:
                body = {
                    "error": "WorkerCrashed",
                    "message": f"the worker exited with {done.returncode}: {done.stderr[-2000:]}",
                }
        except subprocess.TimeoutExpired:
            body = {"error": "Timeout", "message": f"the job ran longer than {self.timeout_s:.0f} s"}
        except Exception as exc:  # the manifest must be written whatever happened, or the job never ends
            body = {"error": type(exc).__name__, "message": str(exc)}
        try:
            self.blobs.put_bytes(
                manifest_key(request.job_id, failed),
                json.dumps({"job_id": request.job_id, **body}).encode(),
                "application/json",
            )
        finally:
            with self._done:
                self._inflight.discard(request.job_id)
                self._done.notify_all()

    def busy(self) -> bool:
        with self._done:
            return bool(self._inflight)

    def wait(self, timeout_s: float = 3600.0) -> None:
        """Block until every submitted job has left its manifest (tests and the CLI)."""
        with self._done:
            self._done.wait_for(lambda: not self._inflight, timeout=timeout_s)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with _POOLS_LOCK:
            if _POOLS.get(self.blob_root) is self:
                del _POOLS[self.blob_root]
