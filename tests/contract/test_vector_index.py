"""VectorIndex contract, on the local hnswlib adapter and on OpenSearch k-NN: nearest first with cosine
scores, deletes honoured, persisted (a new adapter object on the same storage answers the same).

The aws case runs `OpenSearchVectorIndex` against the k-NN test server (`tests/knn_server.py`), whose
search is exact, so the recall bounds here are the hnswlib adapter's. Rebuilding the graph from the table
is a local-adapter feature (OpenSearch keeps its HNSW graphs itself), tested on its own below.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from reelmind.adapters.aws.search import OpenSearchVectorIndex
from reelmind.adapters.local.vectors import HnswVectorIndex
from reelmind.errors import BadRequest, ConfigError, Throttled
from tests.aws_server import unique
from tests.contract.conftest import OpenVectorIndex

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
    open_vector_index: OpenVectorIndex, data: tuple[list[str], np.ndarray]
) -> None:
    ids, vectors = data
    index = open_vector_index(DIM)
    index.upsert(ids, vectors, [{"n": i} for i in range(len(ids))])
    hits = index.query(vectors[42], 5)
    assert len(hits) == 5
    assert hits[0].id == "v42" and hits[0].meta == {"n": 42}
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    expected = {ids[i] for i in _exact(vectors, vectors[42], 5)}
    assert len({h.id for h in hits} & expected) >= 4
    for h in hits:  # the score is the cosine similarity, whatever the backend's own scale
        assert h.score == pytest.approx(float(vectors[int(h.id[1:])] @ vectors[42]), abs=1e-4)


def test_deleted_ids_never_come_back(
    open_vector_index: OpenVectorIndex, data: tuple[list[str], np.ndarray]
) -> None:
    ids, vectors = data
    index = open_vector_index(DIM)
    index.upsert(ids, vectors, [{}] * len(ids))
    index.delete(["v7", "v8", "not-there"])
    assert index.count() == 498
    assert "v7" not in {h.id for h in index.query(vectors[7], 20)}
    reopened = open_vector_index(DIM)
    assert reopened.count() == 498
    assert "v7" not in {h.id for h in reopened.query(vectors[7], 20)}


def test_the_index_survives_a_restart(
    open_vector_index: OpenVectorIndex, data: tuple[list[str], np.ndarray]
) -> None:
    ids, vectors = data
    index = open_vector_index(DIM)
    index.upsert(ids, vectors, [{"n": i} for i in range(len(ids))])
    queries = _unit(np.random.default_rng(2), 10)
    before = [[h.id for h in index.query(q, 10)] for q in queries]
    reopened = open_vector_index(DIM)
    assert reopened.count() == len(ids)
    assert [[h.id for h in reopened.query(q, 10)] for q in queries] == before
    assert reopened.query(vectors[3], 1)[0].meta == {"n": 3}


def test_a_local_rebuild_answers_the_same(tmp_path: Path, data: tuple[list[str], np.ndarray]) -> None:
    """Local only: hnswlib's graph file is a cache of the SQLite table and can be rebuilt from it.
    OpenSearch builds and keeps its own HNSW graphs; the port has no rebuild, so there is nothing to
    compare on the aws adapter."""
    ids, vectors = data
    index = HnswVectorIndex(tmp_path, DIM)
    index.upsert(ids, vectors, [{}] * len(ids))
    queries = _unit(np.random.default_rng(2), 10)
    before = [[h.id for h in index.query(q, 10)] for q in queries]
    (tmp_path / f"hnsw-{DIM}.bin").unlink()  # the graph is a cache; the table is the truth
    rebuilt = HnswVectorIndex(tmp_path, DIM)
    after = [[h.id for h in rebuilt.query(q, 10)] for q in queries]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(before, after, strict=True)])
    assert overlap >= 0.95


def test_upsert_replaces_a_vector(
    open_vector_index: OpenVectorIndex, data: tuple[list[str], np.ndarray]
) -> None:
    ids, vectors = data
    index = open_vector_index(DIM)
    index.upsert(ids[:10], vectors[:10], [{}] * 10)
    index.upsert(["v0"], vectors[5:6], [{"moved": True}])
    assert index.count() == 10
    top = index.query(vectors[5], 2)
    assert {h.id for h in top} == {"v0", "v5"}
    assert next(h.meta for h in top if h.id == "v0") == {"moved": True}


def test_k_limits_the_answer(open_vector_index: OpenVectorIndex, data: tuple[list[str], np.ndarray]) -> None:
    ids, vectors = data
    index = open_vector_index(DIM)
    index.upsert(ids[:20], vectors[:20], [{}] * 20)
    assert len(index.query(vectors[0], 3)) == 3
    assert len(index.query(vectors[0], 50)) == 20
    assert index.query(vectors[0], 0) == []


@pytest.mark.parametrize("bad", [np.zeros((1, DIM + 1)), np.full((1, DIM), np.nan)])
def test_bad_vectors_are_refused(open_vector_index: OpenVectorIndex, bad: np.ndarray) -> None:
    index = open_vector_index(DIM)
    with pytest.raises(BadRequest):
        index.upsert(["x"], bad, [{}])
    assert index.count() == 0


def test_a_query_of_the_wrong_dimension_is_refused(open_vector_index: OpenVectorIndex) -> None:
    with pytest.raises(BadRequest):
        open_vector_index(DIM).query(np.ones(DIM + 1), 3)


def test_an_empty_index_answers_nothing(open_vector_index: OpenVectorIndex) -> None:
    index = open_vector_index(DIM)
    assert index.count() == 0
    assert index.query(np.ones(DIM), 10) == []


# -- the OpenSearch adapter's own rules (no local counterpart) ---------------------------------------


def _served(endpoint: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{endpoint}/_knn_test/requests", timeout=5) as response:
        counts: dict[str, int] = json.loads(response.read())
        return counts


def test_opensearch_requests_are_signed_when_asked(
    knn_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    before = _served(knn_endpoint)
    index = OpenSearchVectorIndex(knn_endpoint, unique("signed"), DIM, aws_auth=True)
    vectors = _unit(np.random.default_rng(3), 3)
    index.upsert(["a", "b", "c"], vectors, [{"tag": "猫"}] * 3)  # the server checks the signed body hash
    assert index.query(vectors[1], 1)[0].id == "b"
    after = _served(knn_endpoint)
    assert (
        after["signed"] - before["signed"] == after["total"] - before["total"] - 1
    )  # all but the `after` request


def test_an_opensearch_index_of_another_dimension_is_refused(knn_endpoint: str) -> None:
    name = unique("dims")
    OpenSearchVectorIndex(knn_endpoint, name, DIM)
    with pytest.raises(ConfigError, match="dimension"):
        OpenSearchVectorIndex(knn_endpoint, name, DIM * 2)


def test_an_unreachable_opensearch_is_a_transient_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once it is closed
    with pytest.raises(Throttled):
        OpenSearchVectorIndex(f"http://127.0.0.1:{port}", "absent", DIM, timeout_s=2)
