"""Holdout metrics of a served ranker (ONNX, no torch): AUC and GAUC per task, and their means."""

from __future__ import annotations

import numpy as np

from reelmind.ranking.dataset import Examples
from reelmind.ranking.features import encode, from_examples
from reelmind.ranking.metrics import auc, gauc
from reelmind.ranking.serve import OnnxRanker, popularity_scores
from reelmind.ranking.types import TASKS


def score_metrics(scores: np.ndarray, examples: Examples) -> dict[str, float]:
    """`auc/<task>`, `gauc/<task>` and `mean_auc` of (n, 4) scores in `TASKS` order (NaN: one class only)."""
    out: dict[str, float] = {}
    for k, task in enumerate(TASKS):
        out[f"auc/{task}"] = auc(examples.labels[:, k], scores[:, k])
        out[f"gauc/{task}"] = gauc(examples.labels[:, k], scores[:, k], examples.user_id)
    aucs = [out[f"auc/{t}"] for t in TASKS if not np.isnan(out[f"auc/{t}"])]
    out["mean_auc"] = float(np.mean(aucs)) if aucs else float("nan")
    return out


def ranker_metrics(ranker: OnnxRanker, examples: Examples) -> dict[str, float]:
    """The ranker as served (every candidate at the top slot) on the examples."""
    sparse, dense = encode(ranker.spec, from_examples(ranker.spec, examples))
    out = ranker.predict(sparse, dense)
    return score_metrics(np.stack([out[t] for t in TASKS], axis=1), examples)


def popularity_metrics(examples: Examples) -> dict[str, float]:
    return score_metrics(popularity_scores(examples.stats), examples)
