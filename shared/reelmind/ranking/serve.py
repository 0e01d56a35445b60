"""Serving rankers (no torch here): the exported multi-task model on onnxruntime, and a popularity
ranker that needs no model (the fallback before any model is promoted, and a baseline).

Both implement `reelmind.ranking.types.Ranker`: `score(user, candidates, now)` gives task name ->
probability per candidate, in candidate order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from reelmind.ranking.dataset import STATS_FIELDS
from reelmind.ranking.features import FeatureSpec, encode, from_request
from reelmind.ranking.types import TASKS, Candidate, UserHistory

if TYPE_CHECKING:
    import onnxruntime as ort

#: the counter each task's popularity rate is made of (numerator), over impressions
POPULARITY_COUNTERS = {"click": "plays", "long_view": "long_views", "like": "likes", "follow": "follows"}
#: rates a video with no impressions gets, and how many impressions' worth of weight that prior has
POPULARITY_PRIOR = {"click": 0.3, "long_view": 0.15, "like": 0.05, "follow": 0.01}
POPULARITY_PRIOR_WEIGHT = 20.0


def popularity_scores(stats: np.ndarray, tasks: Sequence[str] = TASKS) -> np.ndarray:
    """(n, tasks) smoothed per-impression rates from (n, 6) counters in `STATS_FIELDS` order."""
    stats = np.asarray(stats, np.float64).reshape(-1, len(STATS_FIELDS))
    impressions = stats[:, STATS_FIELDS.index("impressions")]
    cols = [
        (stats[:, STATS_FIELDS.index(POPULARITY_COUNTERS[t])] + POPULARITY_PRIOR_WEIGHT * POPULARITY_PRIOR[t])
        / (impressions + POPULARITY_PRIOR_WEIGHT)
        for t in tasks
    ]
    return np.stack(cols, axis=1) if cols else np.zeros((len(stats), 0))


class PopularityRanker:
    """Scores by each video's smoothed engagement rates so far; ignores the user."""

    version = "popularity-1"

    def score(self, user: UserHistory, candidates: Sequence[Candidate], now: float) -> dict[str, np.ndarray]:
        stats = np.array([[getattr(c.stats, f) for f in STATS_FIELDS] for c in candidates], np.float64)
        scores = popularity_scores(stats.reshape(len(candidates), len(STATS_FIELDS)))
        return {t: scores[:, k].astype(np.float32) for k, t in enumerate(TASKS)}


def session_from_bytes(model: bytes, threads: int = 1) -> ort.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class OnnxRanker:
    """The exported multi-task ranker. The feature spec, version and tasks come from the model's metadata;
    input and output names from its graph. Holds no per-call state."""

    def __init__(self, session: ort.InferenceSession) -> None:
        meta = session.get_modelmeta().custom_metadata_map
        if "feature_spec" not in meta:
            raise ValueError("the model carries no feature spec in its metadata")
        self.spec = FeatureSpec.from_json(meta["feature_spec"])
        self._version = str(meta.get("version", "unknown"))
        self._session = session
        self._inputs = [i.name for i in session.get_inputs()]
        self._outputs = [o.name for o in session.get_outputs()]

    @classmethod
    def from_bytes(cls, model: bytes, threads: int = 1) -> OnnxRanker:
        return cls(session_from_bytes(model, threads))

    @property
    def version(self) -> str:
        return self._version

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self._outputs)

    def predict(self, sparse: np.ndarray, dense: np.ndarray) -> dict[str, np.ndarray]:
        """Scores of already encoded rows (what `score` runs after `encode`)."""
        feeds = dict(zip(self._inputs, (sparse.astype(np.int64), dense.astype(np.float32)), strict=True))
        outs = self._session.run(self._outputs, feeds)
        return {
            name: np.asarray(o, np.float32).reshape(-1) for name, o in zip(self._outputs, outs, strict=True)
        }

    def score(self, user: UserHistory, candidates: Sequence[Candidate], now: float) -> dict[str, np.ndarray]:
        if not candidates:
            return {t: np.zeros(0, np.float32) for t in self._outputs}
        sparse, dense = encode(self.spec, from_request(self.spec, user, candidates, now))
        return self.predict(sparse, dense)
