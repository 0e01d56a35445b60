"""SageMaker training entry point for the ranker; also a plain local process.

On SageMaker (script mode) the data is in `SM_CHANNEL_TRAIN`, the model goes to `SM_MODEL_DIR` (packed
into model.tar.gz), other outputs to `SM_OUTPUT_DATA_DIR`, and hyperparameters arrive as `--name value`
arguments (and as JSON in `SM_HPS`). Locally:

    python infra/sagemaker/train/train.py --train DIR --model-dir DIR [--output-data-dir DIR] [--epochs 4]

What the folders hold: `reelmind.ranking.pipeline`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from reelmind.ranking.pipeline import train_to_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the multi-task ranker and its cold-start model.")
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--output-data-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR"))
    for name, kind in (("epochs", int), ("batch-size", int), ("learning-rate", float), ("seed", int)):
        parser.add_argument(f"--{name}", type=kind)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--long-term", type=int, choices=(0, 1))
    parser.add_argument("--shuffle-labels", type=int, choices=(0, 1))
    args = parser.parse_args(argv)
    if not args.train or not args.model_dir:
        parser.error("need --train and --model-dir (or SM_CHANNEL_TRAIN and SM_MODEL_DIR)")
    hyperparameters = json.loads(os.environ.get("SM_HPS", "{}"))
    for key in ("epochs", "batch_size", "learning_rate", "seed", "threads", "long_term", "shuffle_labels"):
        if getattr(args, key) is not None:
            hyperparameters[key] = getattr(args, key)
    output = Path(args.output_data_dir or Path(args.model_dir) / "output")
    report = train_to_dir(Path(args.train), Path(args.model_dir), output, hyperparameters)
    print(json.dumps({k: report[k] for k in ("version", "examples", "samples_per_s")}))


if __name__ == "__main__":
    main()
