"""Port fixtures parametrized over both adapters: every contract test runs on "local" and "aws".

The "aws" adapters talk to local servers (see `tests/aws_server.py`), each asked for through
`request.getfixturevalue` only when an "aws" case runs, so `-k local` never starts one: moto for blobs,
DynamoDB Local for results and jobs, the k-NN test server for vectors (osmem-server has no `knn` query),
osmem-server for text.

The vector and text fixtures are openers: each call makes a new adapter object over the test's storage
(folder, database or OpenSearch index), which is how a test restarts an index. Each aws test gets its own
index, deleted afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from reelmind.adapters.aws.blobs import S3BlobStore
from reelmind.adapters.aws.results import DynamoResultStore
from reelmind.adapters.local.blobs import FolderBlobStore
from reelmind.adapters.local.results import SqliteResultStore
from reelmind.ports import BlobStore, JobStore, ResultStore, TextIndex, VectorIndex
from tests.aws_server import unique

ADAPTERS = ["local", "aws"]

#: dim -> a new adapter object over the test's vector storage.
OpenVectorIndex = Callable[[int], VectorIndex]
#: field weights (None: every field counts 1) -> a new adapter object over the test's text storage.
OpenTextIndex = Callable[[dict[str, float] | None], TextIndex]


@pytest.fixture(params=ADAPTERS)
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "aws":
        return S3BlobStore(request.getfixturevalue("bucket"))
    return FolderBlobStore(tmp_path / "blobs")


@pytest.fixture(params=ADAPTERS)
def result_store(request: pytest.FixtureRequest, tmp_path: Path) -> ResultStore:
    if request.param == "aws":
        return DynamoResultStore(request.getfixturevalue("table"))
    return SqliteResultStore(tmp_path / "r.db")


def _drop_index(endpoint: str, name: str) -> None:
    client = OpenSearch(hosts=[endpoint], http_compress=False)
    client.indices.delete(index=name, params={"ignore_unavailable": "true"})
    client.close()


@pytest.fixture(params=ADAPTERS)
def open_vector_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenVectorIndex]:
    if request.param == "aws":
        from reelmind.adapters.aws.search import OpenSearchVectorIndex

        endpoint = request.getfixturevalue("knn_endpoint")
        name = unique("vectors")
        yield lambda dim: OpenSearchVectorIndex(endpoint, name, dim)
        _drop_index(endpoint, name)
    else:
        from reelmind.adapters.local.vectors import HnswVectorIndex

        yield lambda dim: HnswVectorIndex(tmp_path / "vectors", dim)


@pytest.fixture(params=ADAPTERS)
def open_text_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenTextIndex]:
    if request.param == "aws":
        from reelmind.adapters.aws.search import OpenSearchTextIndex

        endpoint = request.getfixturevalue("osmem_endpoint")
        name = unique("text")
        yield lambda weights=None: OpenSearchTextIndex(endpoint, name, weights)
        _drop_index(endpoint, name)
    else:
        from reelmind.adapters.local.text import SqliteTextIndex

        yield lambda weights=None: SqliteTextIndex(tmp_path / "text.db", weights)


@pytest.fixture(params=ADAPTERS)
def job_store(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    if request.param == "aws":
        from reelmind.adapters.aws.jobs import DynamoJobStore

        return DynamoJobStore(request.getfixturevalue("table"))
    from reelmind.adapters.local.jobs import SqliteJobStore

    return SqliteJobStore(tmp_path / "jobs.db")
