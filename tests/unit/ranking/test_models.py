"""The multi-task ranker: it learns, its ONNX export scores like torch, and serving needs no torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reelmind.ranking.dataset import Examples
from reelmind.ranking.features import FeatureSpec, encode, from_examples
from reelmind.ranking.metrics import auc
from reelmind.ranking.serve import OnnxRanker, PopularityRanker, popularity_scores
from reelmind.ranking.simulator import World
from reelmind.ranking.train import TrainConfig, Trained, export_onnx, fit
from reelmind.ranking.types import TASKS, Candidate, UserHistory, VideoStats

RANKING = Path(__file__).parents[3] / "shared" / "reelmind" / "ranking"


@pytest.fixture(scope="module")
def split(examples: Examples) -> tuple[Examples, Examples]:
    late = examples.now >= np.quantile(examples.now, 0.75)
    return examples.take(np.flatnonzero(~late)), examples.take(np.flatnonzero(late))


@pytest.fixture(scope="module")
def spec(world: World) -> FeatureSpec:
    return FeatureSpec(dim=world.config.dim, categories=world.categories)


@pytest.fixture(scope="module")
def trained(spec: FeatureSpec, split: tuple[Examples, Examples]) -> Trained:
    train, _ = split
    sparse, dense = encode(spec, from_examples(spec, train))
    return fit(spec, TrainConfig(epochs=3, seed=1), sparse, dense, train.labels, train.position)


def test_the_multi_task_model_learns_every_task_better_than_chance(
    trained: Trained, spec: FeatureSpec, split: tuple[Examples, Examples]
) -> None:
    _, test = split
    sparse, dense = encode(spec, from_examples(spec, test))
    probs = trained.predict(sparse, dense, test.position)  # as logged, slot included
    served = trained.predict(sparse, dense)  # as served: every candidate at the top slot
    assert probs.shape == served.shape == (len(test), len(TASKS))
    assert ((probs > 0) & (probs < 1)).all()
    assert (probs <= served + 1e-6).all()  # a lower slot is examined less, never more
    assert probs[test.position >= 4, 0].mean() < served[test.position >= 4, 0].mean() - 0.02
    assert trained.losses[-1] < trained.losses[0]
    popularity = popularity_scores(test.stats)
    for k, task in enumerate(TASKS):
        model_auc = auc(test.labels[:, k], probs[:, k])
        assert model_auc > 0.62, task
        assert model_auc > auc(test.labels[:, k], popularity[:, k]) + 0.02, task
    # calibrated to the base rates within a few points
    assert np.abs(probs.mean(axis=0) - test.labels.mean(axis=0)).max() < 0.05


def test_onnx_export_scores_like_torch(
    trained: Trained, spec: FeatureSpec, split: tuple[Examples, Examples]
) -> None:
    _, test = split
    sparse, dense = encode(spec, from_examples(spec, test))
    ranker = OnnxRanker.from_bytes(export_onnx(trained, "mt-test-1"))
    assert ranker.version == "mt-test-1"
    assert ranker.spec == spec
    assert ranker.tasks == TASKS
    onnx_out = ranker.predict(sparse, dense)
    torch_out = trained.predict(sparse, dense)
    for k, task in enumerate(TASKS):
        np.testing.assert_allclose(onnx_out[task], torch_out[:, k], atol=1e-5)


def test_the_onnx_ranker_scores_a_request(trained: Trained, world: World) -> None:
    ranker = OnnxRanker.from_bytes(export_onnx(trained, "v"))
    videos = world.videos.features
    history = UserHistory(
        "u-new-1",
        video_ids=tuple(v.video_id for v in videos[:5]),
        embeddings=np.stack([v.embedding for v in videos[:5]]),
        engagement=np.full(5, 0.5, np.float32),
        categories=tuple(v.category for v in videos[:5]),
    )
    candidates = [Candidate(v, VideoStats(impressions=10, plays=4)) for v in videos[10:17]]
    scores = ranker.score(history, candidates, now=videos[-1].created_at)
    assert set(scores) == set(TASKS)
    assert all(s.shape == (7,) and ((s >= 0) & (s <= 1)).all() for s in scores.values())
    assert (scores["long_view"] <= scores["click"] + 0.2).all()
    assert ranker.score(history, [], now=0.0)["click"].shape == (0,)
    # the same request twice: no state kept between calls
    again = ranker.score(history, candidates, now=videos[-1].created_at)
    assert all(np.array_equal(scores[t], again[t]) for t in TASKS)


def test_single_task_networks_predict_their_one_task(
    spec: FeatureSpec, split: tuple[Examples, Examples]
) -> None:
    train, test = split
    sparse, dense = encode(spec, from_examples(spec, train))
    model = fit(
        spec,
        TrainConfig(kind="dnn", tasks=("click",), epochs=2),
        sparse,
        dense,
        train.labels[:, :1],
        train.position,
    )
    sparse_t, dense_t = encode(spec, from_examples(spec, test))
    probs = model.predict(sparse_t, dense_t, test.position)
    assert probs.shape == (len(test), 1)
    assert auc(test.labels[:, 0], probs[:, 0]) > 0.62
    with pytest.raises(ValueError, match="label columns"):
        fit(spec, TrainConfig(kind="dnn", tasks=("click",)), sparse, dense, train.labels)


def test_popularity_prefers_videos_that_engage_more_per_impression() -> None:
    ranker = PopularityRanker()
    from reelmind.ranking.types import VideoFeatures

    def cand(i: int, imp: int, plays: int) -> Candidate:
        v = VideoFeatures(f"v{i}", "food", 50.0, np.ones(2, np.float32), 0.0, 10.0)
        return Candidate(v, VideoStats(impressions=imp, plays=plays, long_views=plays // 2))

    scores = ranker.score(UserHistory("u"), [cand(0, 1000, 600), cand(1, 1000, 100), cand(2, 0, 0)], 0.0)
    assert scores["click"][0] > scores["click"][2] > scores["click"][1]
    assert popularity_scores(np.zeros((1, 6)))[0].tolist() == pytest.approx([0.3, 0.15, 0.05, 0.01])


def test_serving_modules_never_import_torch() -> None:
    for path in sorted(RANKING.glob("*.py")):
        if path.name in {"train.py", "pipeline.py"}:  # training code
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not {n for n in names if n.split(".")[0] == "torch" or n == "reelmind.ranking.train"}, (
            path.name
        )
    code = (
        "import sys, reelmind.ranking.store, reelmind.services.retrain, reelmind.ranking.pipeline; "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
