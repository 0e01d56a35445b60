"""Ways to run one training (`reelmind.ranking.pipeline`) on a prepared data folder: in this process, or
as the SageMaker entry point run as a local process. Both write the same files into the model folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

#: the training entry point in a source checkout
ENTRY_POINT = Path(__file__).resolve().parents[3] / "infra" / "sagemaker" / "train" / "train.py"


class Trainer(Protocol):
    def __call__(self, train_dir: Path, model_dir: Path, hyperparameters: dict[str, Any]) -> None: ...


def in_process(train_dir: Path, model_dir: Path, hyperparameters: dict[str, Any]) -> None:
    from reelmind.ranking.pipeline import train_to_dir

    train_to_dir(train_dir, model_dir, model_dir / "output", hyperparameters)


class SubprocessTrainer:
    """`python infra/sagemaker/train/train.py --train ... --model-dir ...`, exactly as SageMaker runs it."""

    def __init__(
        self, script: Path = ENTRY_POINT, python: str = sys.executable, timeout_s: float = 3600.0
    ) -> None:
        self.script = script
        self.python = python
        self.timeout_s = timeout_s

    def __call__(self, train_dir: Path, model_dir: Path, hyperparameters: dict[str, Any]) -> None:
        args = [self.python, str(self.script), "--train", str(train_dir), "--model-dir", str(model_dir)]
        for key, value in hyperparameters.items():
            args += [f"--{key.replace('_', '-')}", str(int(value) if isinstance(value, bool) else value)]
        done = subprocess.run(args, timeout=self.timeout_s, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"training failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
