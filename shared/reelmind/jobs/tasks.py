"""What each job kind does, between fetching its inputs and storing its outputs.

The SageMaker entry points (`infra/sagemaker/<kind>/inference.py`) are four lines each:
`model_fn, input_fn, predict_fn, output_fn = handler("<kind>")`. The request names a blob store
(`file:///...` locally, `s3://bucket` on AWS), input keys, parameters and an output prefix; outputs are
written under the prefix and listed in the manifest that `output_fn` returns.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from reelmind.errors import ConfigError
from reelmind.ports import BlobStore


@dataclass(frozen=True)
class Work:
    """One request as a task sees it: inputs fetched to local files, a place to put outputs."""

    job_id: str
    params: dict[str, Any]
    inputs: dict[str, Path]
    folder: Path
    store: BlobStore
    output_prefix: str
    _reported: list[float] = field(default_factory=lambda: [0.0, 0.0])  # last fraction, last time

    def progress(self, fraction: float) -> None:
        """Report how far the job is (0..1) as `jobs/{id}/progress.json`, at most every 2 s or 10%."""
        last, at = self._reported
        now = time.monotonic()
        if fraction < 1.0 and fraction - last < 0.1 and now - at < 2.0:
            return
        self._reported[:] = [fraction, now]
        body = json.dumps({"job_id": self.job_id, "progress": round(min(1.0, max(0.0, fraction)), 3)})
        self.store.put_bytes(progress_key(self.job_id), body.encode(), "application/json")

    def put(self, name: str, path: Path, content_type: str) -> str:
        key = f"{self.output_prefix}{path.name}"
        self.store.put_file(key, path, content_type)
        return key


Task = Callable[[Any, Work], dict[str, Any]]


def progress_key(job_id: str) -> str:
    return f"jobs/{job_id}/progress.json"


def store_for(uri: str) -> BlobStore:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        from reelmind.adapters.local.blobs import FolderBlobStore

        return FolderBlobStore(Path(parsed.path))
    if parsed.scheme == "s3":
        from reelmind.adapters.aws.blobs import S3BlobStore

        return S3BlobStore(parsed.netloc)
    raise ConfigError(f"a job's store must be file:// or s3://, not {uri!r}")


def _loaders() -> dict[str, tuple[Callable[[str], Any], Task]]:
    from reelmind.jobs import runs

    return runs.TASKS


def handler(
    kind: str,
) -> tuple[
    Callable[[str], Any],
    Callable[[str | bytes, str], dict[str, Any]],
    Callable[[dict[str, Any], Any], dict[str, Any]],
    Callable[[dict[str, Any], str], str],
]:
    """model_fn, input_fn, predict_fn, output_fn for SageMaker (and the local worker pool)."""

    def model_fn(model_dir: str) -> Any:
        load, _ = _loaders()[kind]
        return load(model_dir)

    def input_fn(body: str | bytes, content_type: str) -> dict[str, Any]:
        if content_type != "application/json":
            raise ConfigError(f"job requests are application/json, not {content_type}")
        request: dict[str, Any] = json.loads(body)
        return request

    def predict_fn(request: dict[str, Any], model: Any) -> dict[str, Any]:
        _, task = _loaders()[kind]
        store = store_for(request["store"])
        with tempfile.TemporaryDirectory(prefix=f"reelmind-{kind}-") as tmp:
            folder = Path(tmp)
            inputs = {}
            for name, key in request["inputs"].items():
                inputs[name] = store.download(key, folder / f"in-{name}{Path(key).suffix}")
            work = Work(request["job_id"], request["params"], inputs, folder, store, request["output_prefix"])
            manifest = task(model, work)
        return {"job_id": request["job_id"], "kind": kind, **manifest}

    def output_fn(prediction: dict[str, Any], accept: str) -> str:
        return json.dumps(prediction)

    return model_fn, input_fn, predict_fn, output_fn
