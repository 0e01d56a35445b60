"""A real moto server for the AWS adapters: S3, DynamoDB, EventBridge and SQS on 127.0.0.1.

One server runs for the session, started by the first test that asks for `moto_endpoint` (directly
or through `bucket`, `table` or `event_bus`) and stopped at the session's end; from then on the AWS
environment points every client at it. Each test gets its own bucket, table and bus (unique names),
so tests never see each other's data. `tests/conftest.py` registers these fixtures once for every
folder (one definition, so one server, however many suites use it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from reelmind.wiring import load_template

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
REGION = "us-east-1"
STARTUP_TIMEOUT_S = 30.0

#: Variables that could send a client elsewhere (a profile, a real account) while the tests run.
_CLEARED = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_REGION",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "AWS_ENDPOINT_URL_SQS",
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with status {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=1):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is serving
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer at {url} within {STARTUP_TIMEOUT_S:.0f} s")


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `moto_server` on a free local port for the session and point the AWS environment at it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path_factory.mktemp("moto") / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_up(url, proc)
        with pytest.MonkeyPatch.context() as mp:
            for name in _CLEARED:
                mp.delenv(name, raising=False)
            mp.setenv("AWS_ENDPOINT_URL", url)
            mp.setenv("AWS_ACCESS_KEY_ID", "testing")
            mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
            mp.setenv("AWS_DEFAULT_REGION", REGION)
            mp.setenv("AWS_CONFIG_FILE", os.devnull)
            mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
            yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = unique("reelmind-media")
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def event_bus(moto_endpoint: str) -> str:
    name = unique("reelmind")
    boto3.client("events").create_event_bus(Name=name)
    return name


def results_table_spec() -> dict[str, Any]:
    """`ResultsTable` of template.yaml as CreateTable arguments, so the tests use the deployed schema."""
    props = load_template(TEMPLATE)["Resources"]["ResultsTable"]["Properties"]
    return {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"],
        "BillingMode": props["BillingMode"],
    }


@pytest.fixture
def table(moto_endpoint: str) -> str:
    name = unique("reelmind-results")
    client = boto3.client("dynamodb")
    client.create_table(TableName=name, **results_table_spec())
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return name
