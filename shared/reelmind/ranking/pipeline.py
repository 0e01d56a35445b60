"""One training run from a data folder to model files: what the SageMaker training job and the local
trainer both run (`infra/sagemaker/train/train.py`). Imports torch (through `ranking.train`).

The training channel (`SM_CHANNEL_TRAIN` on SageMaker, `--train` locally) holds:
- `events/*.parquet`: the interaction export (`EXPORT_COLUMNS`);
- `videos.npz`: the video features (`write_videos`);
- `config.json`: `holdout_start` (impressions at or after it are not trained on), `version`.
Hyperparameters: `epochs`, `batch_size`, `learning_rate`, `seed`, `threads`, `long_term` (0/1).

Written to the model folder (`SM_MODEL_DIR`): `ranker.onnx`, `coldstart.json`; to the output folder
(`SM_OUTPUT_DATA_DIR`): `training.json` (examples, losses, samples per second).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from reelmind.ranking.coldstart import fit_coldstart
from reelmind.ranking.dataset import EventLog, Examples, VideoTable, build_examples, from_parquet
from reelmind.ranking.features import FeatureSpec, encode, from_examples
from reelmind.ranking.types import VideoFeatures

VIDEOS_FILE, CONFIG_FILE, EVENTS_DIR = "videos.npz", "config.json", "events"


def write_videos(path: Path, videos: list[VideoFeatures]) -> None:
    table = VideoTable.of(videos)
    np.savez_compressed(
        path,
        ids=table.ids.astype(str),
        author_id=table.author_id.astype(str),
        category=table.category.astype(str),
        quality=table.quality,
        created_at=table.created_at,
        duration_s=table.duration_s,
        embedding=table.embedding,
    )


def read_videos(path: Path) -> VideoTable:
    with np.load(path) as z:
        ids = z["ids"].astype(object)
        return VideoTable(
            ids=ids,
            index={str(v): i for i, v in enumerate(ids)},
            author_id=z["author_id"].astype(object),
            category=z["category"].astype(object),
            quality=z["quality"],
            created_at=z["created_at"],
            duration_s=z["duration_s"],
            embedding=z["embedding"],
        )


def read_data(train_dir: Path) -> tuple[Examples, dict[str, Any]]:
    """The examples of the whole log (counters and histories replayed over all of it) and the config."""
    config = json.loads((train_dir / CONFIG_FILE).read_text())
    files = sorted((train_dir / EVENTS_DIR).glob("*.parquet"))
    if not files:
        raise ValueError(f"no Parquet event files under {train_dir / EVENTS_DIR}")
    log = EventLog.concat([from_parquet(f.read_bytes()) for f in files])
    return build_examples(log, read_videos(train_dir / VIDEOS_FILE)), config


def train_to_dir(
    train_dir: Path, model_dir: Path, output_dir: Path, hyperparameters: dict[str, Any]
) -> dict[str, Any]:
    from reelmind.ranking.train import TrainConfig, export_onnx, fit

    examples, config = read_data(train_dir)
    rows = np.flatnonzero(examples.now < float(config["holdout_start"]))
    if len(rows) == 0:
        raise ValueError("no impressions before the holdout start to train on")
    train = examples.take(rows)
    if hyperparameters.get("shuffle_labels"):  # a deliberately broken model, for tests of the promotion gate
        rng = np.random.default_rng(0)
        train = train.with_labels(train.labels[rng.permutation(len(train))])
    videos = train.videos
    categories = tuple(sorted({str(c) for c in videos.category if c}))
    spec = FeatureSpec(
        dim=videos.embedding.shape[1],
        categories=categories,
        long_term=bool(int(hyperparameters.get("long_term", 1))),
    )
    sparse, dense = encode(spec, from_examples(spec, train))
    trained = fit(
        spec,
        TrainConfig(
            epochs=int(hyperparameters.get("epochs", 4)),
            batch_size=int(hyperparameters.get("batch_size", 1024)),
            learning_rate=float(hyperparameters.get("learning_rate", 2e-3)),
            seed=int(hyperparameters.get("seed", 0)),
            threads=int(hyperparameters.get("threads", 1)),
        ),
        sparse,
        dense,
        train.labels,
        train.position,
    )
    version = str(config["version"])
    model_dir.mkdir(parents=True, exist_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "ranker.onnx").write_bytes(export_onnx(trained, version))
    (model_dir / "coldstart.json").write_bytes(fit_coldstart(train, categories, version).to_bytes())
    report = {
        "version": version,
        "examples": len(train),
        "losses": trained.losses,
        "samples_per_s": trained.samples_per_s,
        "hyperparameters": hyperparameters,
    }
    (output_dir / "training.json").write_text(json.dumps(report, indent=2))
    return report
