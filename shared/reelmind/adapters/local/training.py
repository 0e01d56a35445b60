"""Training runs on this machine, while the caller waits: the `TrainingRunner` of the local backend.

`start` copies the request's input prefix from the blob store into a folder, runs the trainer on it (the
SageMaker entry point as a process of its own, or training in this process), and packs the model folder
into `model.tar.gz` where a SageMaker training job puts it (`model_archive_key`). A run that fails
leaves its reason in `<output>/<name>/output/failure`, as SageMaker's `/opt/ml/output/failure` does; a
name that has either file is not run again.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path

from reelmind.errors import NotFound
from reelmind.ports import (
    TRAINING_COMPLETED,
    BlobStore,
    TrainingRequest,
    TrainingState,
    model_archive_key,
)
from reelmind.ranking.trainers import Trainer

FAILURE_FILE = "failure"


def pack_model(model_dir: Path) -> bytes:
    """The files at the top of a model folder as a gzipped tar, named as in SageMaker's model.tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(p for p in model_dir.iterdir() if p.is_file()):
            tar.add(path, arcname=path.name)
    return buffer.getvalue()


class LocalTrainingRunner:
    def __init__(self, blobs: BlobStore, trainer: Trainer) -> None:
        self.blobs = blobs
        self.trainer = trainer
        self._outputs: dict[str, str] = {}  # name -> output prefix of the runs this runner knows

    def start(self, request: TrainingRequest) -> TrainingState:
        self._outputs[request.name] = request.output_prefix
        done = self.state(request.name)
        if done.ended:
            return done
        archive = model_archive_key(request.output_prefix, request.name)
        with tempfile.TemporaryDirectory(prefix="reelmind-training-") as tmp:
            train_dir, model_dir = Path(tmp) / "train", Path(tmp) / "model"
            for info in self.blobs.list(request.input_prefix):
                dest = train_dir / info.key[len(request.input_prefix) :]
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.blobs.download(info.key, dest)
            try:
                self.trainer(train_dir, model_dir, dict(request.hyperparameters))
            except Exception as e:  # the run's failure is its result, recorded as SageMaker records it
                reason = str(e) or type(e).__name__
                self.blobs.put_bytes(_failure_key(archive), reason.encode(), "text/plain")
                return TrainingState(request.name, "Failed", reason)
            self.blobs.put_bytes(archive, pack_model(model_dir), "application/gzip")
        return TrainingState(request.name, TRAINING_COMPLETED)

    def state(self, name: str) -> TrainingState:
        output = self._outputs.get(name)
        if output is None:
            raise NotFound(f"no training run named {name!r} was started here")
        archive = model_archive_key(output, name)
        if self.blobs.head(archive) is not None:
            return TrainingState(name, TRAINING_COMPLETED)
        if self.blobs.head(_failure_key(archive)) is not None:
            return TrainingState(name, "Failed", self.blobs.get_bytes(_failure_key(archive)).decode())
        return TrainingState(name, "InProgress")


def _failure_key(archive: str) -> str:
    return archive.rsplit("/", 1)[0] + "/" + FAILURE_FILE
