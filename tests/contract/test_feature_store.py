"""FeatureStore contract, on SQLite and on the DynamoDB table of template.yaml (`FeaturesTable`):
insert or replace, reads of many ids, compact embeddings, and changes since a time, oldest first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reelmind.adapters.local.features import SqliteFeatureStore
from reelmind.ports import FeatureStore
from reelmind.ranking.types import VideoFeatures

DIM = 384


@pytest.fixture(params=["local", "aws"])
def feature_store(request: pytest.FixtureRequest, tmp_path: Path) -> FeatureStore:
    if request.param == "aws":
        from reelmind.adapters.aws.features import DynamoFeatureStore

        return DynamoFeatureStore(request.getfixturevalue("features_table"))
    return SqliteFeatureStore(tmp_path / "features.db")


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    out: np.ndarray = v / np.linalg.norm(v)
    return out


def _video(video_id: str, seed: int = 0, **changes: Any) -> VideoFeatures:
    base: dict[str, Any] = {
        "video_id": video_id,
        "category": "animals",
        "quality": 71.5,
        "embedding": _unit(seed),
        "created_at": 1_700_000_000.25,
        "duration_s": 12.5,
        "author_id": "u-7",
    }
    return VideoFeatures(**{**base, **changes})


def _same(a: VideoFeatures, b: VideoFeatures) -> None:
    assert (a.video_id, a.category, a.author_id) == (b.video_id, b.category, b.author_id)
    assert (a.quality, a.created_at, a.duration_s) == pytest.approx((b.quality, b.created_at, b.duration_s))
    assert a.embedding.dtype == np.float32 and a.embedding.shape == b.embedding.shape
    assert np.allclose(a.embedding, b.embedding, atol=2e-3)


def test_features_are_read_back_as_written_and_absent_ids_are_left_out(feature_store: FeatureStore) -> None:
    feature_store.put_features(_video("v1", 1), eligible=True, updated_at=10.0)
    feature_store.put_features(_video("v2", 2, category="", author_id=""), eligible=False, updated_at=11.0)
    got = feature_store.get_features(["v1", "v2", "missing", "v1"])
    assert set(got) == {"v1", "v2"}
    _same(got["v1"], _video("v1", 1))
    _same(got["v2"], _video("v2", 2, category="", author_id=""))
    assert feature_store.get_features([]) == {}


def test_embeddings_come_back_unit_and_cosine_rankings_survive(feature_store: FeatureStore) -> None:
    vectors = {f"v{i}": _unit(100 + i) for i in range(20)}
    for vid, vec in vectors.items():
        feature_store.put_features(_video(vid, embedding=vec), eligible=True, updated_at=1.0)
    feature_store.put_features(
        _video("zero", embedding=np.zeros(DIM, np.float32)), eligible=True, updated_at=1.0
    )
    got = feature_store.get_features([*vectors, "zero"])
    assert np.count_nonzero(got["zero"].embedding) == 0
    stored = np.stack([got[v].embedding for v in vectors])
    assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)
    exact = np.stack(list(vectors.values()))
    query = _unit(7)
    assert list(np.argsort(-(stored @ query))[:5]) == list(np.argsort(-(exact @ query))[:5])


def test_a_put_replaces_the_features_and_the_eligibility(feature_store: FeatureStore) -> None:
    feature_store.put_features(_video("v1", 1), eligible=True, updated_at=10.0)
    feature_store.put_features(
        _video("v1", 2, category="food", quality=30.0), eligible=False, updated_at=20.0
    )
    _same(feature_store.get_features(["v1"])["v1"], _video("v1", 2, category="food", quality=30.0))
    changes = list(feature_store.changed_since(0.0))
    assert [(f.video_id, eligible, at) for f, eligible, at in changes] == [("v1", False, 20.0)]


def test_changed_since_gives_what_changed_after_a_time_oldest_first(feature_store: FeatureStore) -> None:
    for vid, at in (("a", 5.0), ("b", 1.0), ("c", 3.0), ("d", 7.5)):
        feature_store.put_features(_video(vid), eligible=vid != "c", updated_at=at)
    assert [(f.video_id, e, at) for f, e, at in feature_store.changed_since(2.0)] == [
        ("c", False, 3.0),
        ("a", True, 5.0),
        ("d", True, 7.5),
    ]
    assert [f.video_id for f, _, _ in feature_store.changed_since(0.0)] == ["b", "c", "a", "d"]
    assert list(feature_store.changed_since(7.5)) == []
    feature_store.put_features(_video("b"), eligible=False, updated_at=9.0)  # a later change moves it
    assert [(f.video_id, e) for f, e, _ in feature_store.changed_since(5.0)] == [("d", True), ("b", False)]


def test_many_videos_are_read_in_full(feature_store: FeatureStore) -> None:
    """More rows than one page of a read (local pages hold 500; a DynamoDB batch get holds 100)."""
    n = 520
    for i in range(n):
        feature_store.put_features(
            _video(f"v{i:04d}", embedding=_unit(i), quality=float(i % 100)),
            eligible=i % 3 != 0,
            updated_at=100.0 + i,
        )
    changes = list(feature_store.changed_since(99.0))
    assert [f.video_id for f, _, _ in changes] == [f"v{i:04d}" for i in range(n)]
    assert [e for _, e, _ in changes] == [i % 3 != 0 for i in range(n)]
    got = feature_store.get_features([f"v{i:04d}" for i in range(n)])
    assert len(got) == n and got["v0517"].quality == 17.0
    assert np.allclose(got["v0333"].embedding, _unit(333), atol=2e-3)
