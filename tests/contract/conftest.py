"""Port fixtures parametrized over both adapters: every contract test runs on "local" and "aws".

The "aws" adapters talk to the session's moto server (see `tests/aws_server.py`), which is asked for
through `request.getfixturevalue` only when an "aws" case runs, so `-k local` never starts it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reelmind.adapters.aws.blobs import S3BlobStore
from reelmind.adapters.aws.results import DynamoResultStore
from reelmind.adapters.local.blobs import FolderBlobStore
from reelmind.adapters.local.results import SqliteResultStore
from reelmind.ports import BlobStore, ResultStore

ADAPTERS = ["local", "aws"]


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
