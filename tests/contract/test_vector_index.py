"""VectorIndex contract, on the local hnswlib adapter: nearest first, deletes honoured, persisted, rebuildable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelmind.adapters.local.vectors import HnswVectorIndex
from reelmind.errors import BadRequest

DIM = 32


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def data() -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 500)
    return [f"v{i}" for i in range(500)], vectors


def _exact(vectors: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    return list(np.argsort(-(vectors @ q))[:k])


def test_query_returns_the_nearest_with_scores_and_metadata(
    tmp_path: Path, data: tuple[list[str], np.ndarray]
) -> None:
    ids, vectors = data
    index = HnswVectorIndex(tmp_path, DIM)
    index.upsert(ids, vectors, [{"n": i} for i in range(len(ids))])
    hits = index.query(vectors[42], 5)
    assert hits[0].id == "v42" and hits[0].meta == {"n": 42}
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    expected = {ids[i] for i in _exact(vectors, vectors[42], 5)}
    assert len({h.id for h in hits} & expected) >= 4


def test_deleted_ids_never_come_back(tmp_path: Path, data: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = data
    index = HnswVectorIndex(tmp_path, DIM)
    index.upsert(ids, vectors, [{}] * len(ids))
    index.delete(["v7", "v8"])
    assert index.count() == 498
    assert "v7" not in {h.id for h in index.query(vectors[7], 20)}
    reopened = HnswVectorIndex(tmp_path, DIM)
    assert "v7" not in {h.id for h in reopened.query(vectors[7], 20)}


def test_the_index_survives_a_restart_and_a_rebuild_answers_the_same(
    tmp_path: Path, data: tuple[list[str], np.ndarray]
) -> None:
    ids, vectors = data
    index = HnswVectorIndex(tmp_path, DIM)
    index.upsert(ids, vectors, [{}] * len(ids))
    queries = _unit(np.random.default_rng(2), 10)
    before = [[h.id for h in index.query(q, 10)] for q in queries]
    reopened = HnswVectorIndex(tmp_path, DIM)
    assert [[h.id for h in reopened.query(q, 10)] for q in queries] == before
    (tmp_path / f"hnsw-{DIM}.bin").unlink()  # the graph is a cache; the table is the truth
    rebuilt = HnswVectorIndex(tmp_path, DIM)
    after = [[h.id for h in rebuilt.query(q, 10)] for q in queries]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(before, after, strict=True)])
    assert overlap >= 0.95


def test_upsert_replaces_a_vector(tmp_path: Path, data: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = data
    index = HnswVectorIndex(tmp_path, DIM)
    index.upsert(ids[:10], vectors[:10], [{}] * 10)
    index.upsert(["v0"], vectors[5:6], [{"moved": True}])
    assert index.count() == 10
    top = index.query(vectors[5], 2)
    assert {h.id for h in top} == {"v0", "v5"}


@pytest.mark.parametrize("bad", [np.zeros((1, DIM + 1)), np.full((1, DIM), np.nan)])
def test_bad_vectors_are_refused(tmp_path: Path, bad: np.ndarray) -> None:
    index = HnswVectorIndex(tmp_path, DIM)
    with pytest.raises(BadRequest):
        index.upsert(["x"], bad, [{}])


def test_an_empty_index_answers_nothing(tmp_path: Path) -> None:
    assert HnswVectorIndex(tmp_path, DIM).query(np.ones(DIM), 10) == []
