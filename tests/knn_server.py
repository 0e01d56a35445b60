"""A small OpenSearch k-NN stand-in for the tests: the REST calls `OpenSearchVectorIndex` makes, with exact
cosine search, on `http.server`.

osmem-server (the OpenSearch emulator the text tests use) answers a `knn` query with
`unsupported_operation_exception`, so the vector adapter is tested against this server instead. It follows
the documented request and response formats:

* k-NN index settings and the `knn_vector` mapping (`index.knn`, `dimension`, `method` with `space_type`):
  https://docs.opensearch.org/latest/mappings/supported-field-types/knn-vector/ and
  https://docs.opensearch.org/latest/vector-search/vector-search-techniques/approximate-knn/
* the `knn` query (`{"size": N, "query": {"knn": {"<field>": {"vector": [...], "k": K}}}}`; `k` neighbours
  are found, `size` of them returned; `k` is at most 10,000): the approximate k-NN page above.
* the score of the `cosinesimil` space, `score = (2 - d) / 2` with `d = 1 - cos`, that is `(1 + cos) / 2`;
  a zero vector is refused: https://docs.opensearch.org/latest/mappings/supported-field-types/knn-spaces/
* `_bulk` (NDJSON action and source lines; `index`, `create` and `delete` actions; the `items` of the
  response in request order, each with `_index`, `_id`, `_version`, `result`, `status` and `error` on
  failure; a delete of a missing document is `not_found` with status 404 and is not an error; `refresh`):
  https://docs.opensearch.org/latest/api-reference/document-apis/bulk/
* index create/exists/delete/`_mapping`, `_doc` GET and DELETE, `_count`, `_refresh`, `_search` and the
  error body `{"error": {"root_cause": [...], "type", "reason"}, "status"}`:
  https://docs.opensearch.org/latest/api-reference/

Scope, on purpose small: one shard, no replicas; `knn_vector` fields with the `cosinesimil` space only
(others are refused with 400), searched exactly (a real cluster's HNSW is approximate; the contract's
recall bounds, written for hnswlib, allow for that); queries `knn` and `match_all` only; `_source` filtering by a list
of top-level fields or `includes`/`excludes`; no aggregations, sorting, `from`, scroll or update actions;
`dynamic: strict` honoured for top-level fields, other fields stored unindexed; an object with
`enabled: false` is stored as is. Search and count see documents as of the last refresh (near real time,
as in OpenSearch): `_refresh`, `?refresh=true|wait_for` on a write, or `index.refresh_interval` (1 s by
default) after a write; `_doc` GET is real time. A bulk write to a missing index fails its items with
`index_not_found_exception` (automatic index creation is not emulated). A request signed with SigV4 must
carry an `x-amz-content-sha256` header that is the SHA-256 of the body it sent (403 otherwise); the
signature itself is not checked. `GET /_knn_test/requests` (not an OpenSearch API) counts the requests
served and how many carried a SigV4 `Authorization` header.

Run `python -m tests.knn_server --port 9200` to use it by hand; tests use `KnnServer.start()`.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

MAX_K = 10_000
MAX_RESULT_WINDOW = 10_000
DEFAULT_SIZE = 10
SUPPORTED_SPACES = frozenset({"cosinesimil"})
_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
_DURATION = re.compile(r"^(-?\d+)(ms|s|m)?$")


class ApiError(Exception):
    """An OpenSearch error answer: HTTP status, error type and reason."""

    def __init__(self, status: int, kind: str, reason: str, index: str | None = None) -> None:
        super().__init__(reason)
        self.status, self.kind, self.reason, self.index = status, kind, reason, index

    def body(self) -> dict[str, Any]:
        cause: dict[str, Any] = {"type": self.kind, "reason": self.reason}
        if self.index is not None:
            cause |= {"index": self.index}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


def _bad(reason: str, kind: str = "illegal_argument_exception") -> ApiError:
    return ApiError(400, kind, reason)


def _no_index(name: str) -> ApiError:
    return ApiError(404, "index_not_found_exception", f"no such index [{name}]", name)


def _flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"index": {"knn": true}}` and `{"index.knn": true}` both as `{"index.knn": True}`."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten(value, f"{name}.")
        else:
            flat[name if name.startswith("index.") else f"index.{name}"] = value
    return flat


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _seconds(value: Any) -> float | None:
    """`index.refresh_interval` in seconds; None when refreshing is off (`-1`)."""
    match = _DURATION.match(str(value).strip())
    if not match:
        raise _bad(f"failed to parse setting [index.refresh_interval] with value [{value}]")
    number, unit = int(match.group(1)), match.group(2) or "ms"
    if number < 0:
        return None
    return number / {"ms": 1000.0, "s": 1.0, "m": 1 / 60}[unit]


@dataclass
class VectorField:
    dimension: int
    space: str


@dataclass
class Doc:
    source: dict[str, Any]
    version: int
    seq_no: int


@dataclass
class Index:
    name: str
    settings: dict[str, Any]
    mappings: dict[str, Any]
    vectors: dict[str, VectorField]
    refresh_s: float | None
    docs: dict[str, Doc] = field(default_factory=dict)  # the latest state (what `_doc` GET sees)
    visible: dict[str, Doc] = field(default_factory=dict)  # as of the last refresh (search and count)
    versions: dict[str, int] = field(default_factory=dict)  # kept after deletes, as OpenSearch does
    seq_no: int = 0
    dirty_since: float | None = None
    _matrices: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict)

    @classmethod
    def create(cls, name: str, body: dict[str, Any]) -> Index:
        if not _INDEX_NAME.match(name) or name.startswith(("_", "-", "+")):
            raise _bad(f"Invalid index name [{name}]", "invalid_index_name_exception")
        unknown = set(body) - {"settings", "mappings", "aliases"}
        if unknown:
            raise _bad(f"unknown key [{sorted(unknown)[0]}] for create index", "parse_exception")
        settings = _flatten(body.get("settings") or {})
        mappings = body.get("mappings") or {}
        vectors: dict[str, VectorField] = {}
        for name_, spec in (mappings.get("properties") or {}).items():
            if spec.get("type") != "knn_vector":
                continue
            dimension = spec.get("dimension")
            if not isinstance(dimension, int) or not 1 <= dimension <= 16_000:
                raise _bad(
                    f"Dimension value must be between 1 and 16000 for field [{name_}]",
                    "mapper_parsing_exception",
                )
            method = spec.get("method") or {}
            space = method.get("space_type") or spec.get("space_type") or "l2"
            if space not in SUPPORTED_SPACES:
                raise _bad(
                    f"space_type [{space}] is not supported by this test server", "mapper_parsing_exception"
                )
            if method and not _truthy(settings.get("index.knn")):
                raise _bad(
                    f"field [{name_}] defines a k-NN method but index.knn is not true",
                    "mapper_parsing_exception",
                )
            vectors[name_] = VectorField(dimension, space)
        refresh_s = _seconds(settings.get("index.refresh_interval", "1s"))
        return cls(name, settings, mappings, vectors, refresh_s)

    # -- writes -------------------------------------------------------------------------------------

    def _check(self, source: dict[str, Any]) -> None:
        strict = str(self.mappings.get("dynamic", "true")).lower() == "strict"
        properties = self.mappings.get("properties") or {}
        for key, value in source.items():
            if strict and key not in properties:
                raise _bad(
                    f"mapping set to strict, dynamic introduction of [{key}] within [_doc] is not allowed",
                    "strict_dynamic_mapping_exception",
                )
            spec = self.vectors.get(key)
            if spec is None or value is None:
                continue
            if not isinstance(value, list) or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in value
            ):
                raise _bad(f"failed to parse field [{key}] of type [knn_vector]", "mapper_parsing_exception")
            if len(value) != spec.dimension:
                raise _bad(
                    f"Vector dimension mismatch. Expected: {spec.dimension}, Given: {len(value)}",
                    "mapper_parsing_exception",
                )
            vector = np.asarray(value, dtype=np.float64)
            if not np.isfinite(vector).all():
                raise _bad(
                    f"KNN vector values cannot be NaN or Infinity in field [{key}]",
                    "mapper_parsing_exception",
                )
            if spec.space == "cosinesimil" and not np.any(vector):
                raise _bad(
                    f"zero vector is not supported when space type is [cosinesimil] in field [{key}]",
                    "mapper_parsing_exception",
                )

    def _written(self) -> None:
        if self.dirty_since is None:
            self.dirty_since = time.monotonic()

    def put(self, doc_id: str, source: dict[str, Any], *, create: bool) -> dict[str, Any]:
        if not doc_id or len(doc_id.encode()) > 512:
            raise _bad(f"id [{doc_id}] is empty or longer than 512 bytes", "illegal_argument_exception")
        if not isinstance(source, dict):
            raise _bad("the document source must be an object", "mapper_parsing_exception")
        if create and doc_id in self.docs:
            raise ApiError(
                409,
                "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, document already exists",
            )
        self._check(source)
        existed = doc_id in self.docs
        version = self.versions.get(doc_id, 0) + 1
        self.versions[doc_id] = version
        self.docs[doc_id] = Doc(json.loads(json.dumps(source)), version, self.seq_no)
        self.seq_no += 1
        self._written()
        return self._item(doc_id, "updated" if existed else "created", 200 if existed else 201)

    def remove(self, doc_id: str) -> dict[str, Any]:
        found = self.docs.pop(doc_id, None) is not None
        version = self.versions.get(doc_id, 0) + 1
        self.versions[doc_id] = version
        self.seq_no += 1
        if found:
            self._written()
        return self._item(doc_id, "deleted" if found else "not_found", 200 if found else 404)

    def _item(self, doc_id: str, result: str, status: int) -> dict[str, Any]:
        return {
            "_index": self.name,
            "_id": doc_id,
            "_version": self.versions[doc_id],
            "result": result,
            "_shards": {"total": 1, "successful": 1, "failed": 0},
            "_seq_no": self.seq_no - 1,
            "_primary_term": 1,
            "status": status,
        }

    def refresh(self) -> None:
        self.visible = dict(self.docs)
        self.dirty_since = None
        self._matrices.clear()

    def refresh_if_due(self) -> None:
        """The periodic refresh a real shard runs every `index.refresh_interval`."""
        if (
            self.dirty_since is not None
            and self.refresh_s is not None
            and time.monotonic() - self.dirty_since >= self.refresh_s
        ):
            self.refresh()

    # -- reads --------------------------------------------------------------------------------------

    def _matrix(self, name: str) -> tuple[list[str], np.ndarray]:
        """Ids (in indexing order) and unit rows of the visible documents that have field `name`."""
        if name not in self._matrices:
            ids = [i for i, d in self.visible.items() if d.source.get(name) is not None]
            rows = np.array([self.visible[i].source[name] for i in ids], dtype=np.float64).reshape(
                len(ids), self.vectors[name].dimension
            )
            rows /= np.linalg.norm(rows, axis=1, keepdims=True)
            self._matrices[name] = (ids, rows)
        return self._matrices[name]

    def knn(self, clause: dict[str, Any]) -> list[tuple[str, float]]:
        if not isinstance(clause, dict) or len(clause) != 1:
            raise _bad("[knn] query must name exactly one field", "parsing_exception")
        ((name, params),) = clause.items()
        spec = self.vectors.get(name)
        if spec is None:
            raise _bad(f"Field '{name}' is not knn_vector type.", "query_shard_exception")
        if not isinstance(params, dict):
            raise _bad("[knn] field parameters must be an object", "parsing_exception")
        unknown = set(params) - {"vector", "k", "boost", "_name"}
        if unknown:
            raise _bad(
                f"[knn] unsupported parameter [{sorted(unknown)[0]}] in this test server", "parsing_exception"
            )
        k = params.get("k")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise _bad(f"[knn] requires k to be in the range (0, {MAX_K}]", "parsing_exception")
        vector = params.get("vector")
        if not isinstance(vector, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in vector
        ):
            raise _bad("[knn] requires a vector of numbers", "parsing_exception")
        if len(vector) != spec.dimension:
            raise _bad(
                f"Query vector has invalid dimension: {len(vector)}. Dimension should be: {spec.dimension}",
                "query_shard_exception",
            )
        query = np.asarray(vector, dtype=np.float64)
        if not np.isfinite(query).all():
            raise _bad("[knn] query vector values cannot be NaN or Infinity", "query_shard_exception")
        norm = float(np.linalg.norm(query))
        if norm == 0.0:
            raise _bad(
                "zero vector is not supported when space type is [cosinesimil]", "query_shard_exception"
            )
        ids, rows = self._matrix(name)
        if not ids:
            return []
        cosines = rows @ (query / norm)
        order = np.argsort(-cosines, kind="stable")[:k]  # ties keep indexing order, like Lucene's doc ids
        boost = float(params.get("boost", 1.0))
        return [(ids[i], boost * (1.0 + float(np.clip(cosines[i], -1.0, 1.0))) / 2.0) for i in order]

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        unknown = set(body) - {"size", "query", "_source", "from", "track_total_hits", "timeout"}
        if unknown:
            raise _bad(f"[{sorted(unknown)[0]}] is not supported by this test server", "parsing_exception")
        size = body.get("size", DEFAULT_SIZE)
        offset = body.get("from", 0)
        if not isinstance(size, int) or size < 0 or not isinstance(offset, int) or offset != 0:
            raise _bad("[size] must be a non-negative integer and [from] 0 in this test server")
        if size > MAX_RESULT_WINDOW:
            raise _bad(
                f"Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] "
                f"but was [{size}].",
                "illegal_argument_exception",
            )
        query = body.get("query", {"match_all": {}})
        if not isinstance(query, dict) or len(query) != 1:
            raise _bad("[query] must hold exactly one query", "parsing_exception")
        ((kind, clause),) = query.items()
        if kind == "knn":
            scored = self.knn(clause)
        elif kind == "match_all":
            boost = float((clause or {}).get("boost", 1.0))
            scored = [(i, boost) for i in self.visible]
        else:
            raise _bad(f"[{kind}] query is not supported by this test server", "parsing_exception")
        shown = scored[:size]
        return {
            "took": int((time.monotonic() - started) * 1000),
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {
                "total": {"value": len(scored), "relation": "eq"},
                "max_score": max((s for _, s in shown), default=None),
                "hits": [
                    {
                        "_index": self.name,
                        "_id": doc_id,
                        "_score": score,
                        **self._source(self.visible[doc_id].source, body.get("_source", True)),
                    }
                    for doc_id, score in shown
                ],
            },
        }

    @staticmethod
    def _source(source: dict[str, Any], spec: Any) -> dict[str, Any]:
        if spec is False:
            return {}
        if spec is True:
            return {"_source": source}
        if isinstance(spec, str):
            spec = [spec]
        if isinstance(spec, list):
            includes, excludes = spec, []
        elif isinstance(spec, dict):
            includes, excludes = spec.get("includes") or [], spec.get("excludes") or []
        else:
            raise _bad("[_source] must be a boolean, a field list or includes/excludes", "parsing_exception")
        if any("*" in f or "." in f for f in [*includes, *excludes]):
            raise _bad("[_source] patterns and dotted paths are not supported by this test server")
        kept = {k: v for k, v in source.items() if (not includes or k in includes) and k not in excludes}
        return {"_source": kept}


class Cluster:
    """All indexes, behind one lock (requests are served on several threads)."""

    def __init__(self) -> None:
        self.indexes: dict[str, Index] = {}
        self.lock = threading.Lock()
        self.requests = {"total": 0, "signed": 0}  # for tests of the client: `GET /_knn_test/requests`

    def index(self, name: str) -> Index:
        try:
            return self.indexes[name]
        except KeyError:
            raise _no_index(name) from None

    def bulk(self, default_index: str | None, payload: bytes, refresh: bool) -> dict[str, Any]:
        started = time.monotonic()
        lines = [line for line in payload.decode().split("\n") if line.strip()]
        items: list[dict[str, Any]] = []
        touched: set[str] = set()
        i = 0
        while i < len(lines):
            try:
                action_line = json.loads(lines[i])
            except json.JSONDecodeError as e:
                raise _bad(
                    f"Malformed action/metadata line [{i + 1}]: {e.msg}", "json_parse_exception"
                ) from e
            if not isinstance(action_line, dict) or len(action_line) != 1:
                raise _bad(f"Malformed action/metadata line [{i + 1}], expected a single action")
            ((action, meta),) = action_line.items()
            if action not in {"index", "create", "delete", "update"}:
                raise _bad(f"Malformed action/metadata line [{i + 1}], unknown action [{action}]")
            source: Any = None
            if action != "delete":
                i += 1
                if i >= len(lines):
                    raise _bad("The bulk request must be terminated by a newline [\\n]")
                try:
                    source = json.loads(lines[i])
                except json.JSONDecodeError as e:
                    raise _bad(f"Malformed source line [{i + 1}]: {e.msg}", "json_parse_exception") from e
            i += 1
            name = meta.get("_index") or default_index
            doc_id = meta.get("_id")
            try:
                if name is None:
                    raise _bad("index is missing", "action_request_validation_exception")
                index = self.index(name)
                if action == "update":
                    raise _bad("update actions are not supported by this test server")
                if not isinstance(doc_id, str):
                    raise _bad(
                        "an _id is required by this test server", "action_request_validation_exception"
                    )
                item = (
                    index.remove(doc_id)
                    if action == "delete"
                    else index.put(doc_id, source, create=action == "create")
                )
                touched.add(name)
            except ApiError as e:
                item = {
                    "_index": name,
                    "_id": doc_id,
                    "status": e.status,
                    "error": e.body()["error"]["root_cause"][0],
                }
            items.append({action: item})
        if refresh:
            for name in touched:
                self.indexes[name].refresh()
            for item in items:
                body = next(iter(item.values()))
                if "error" not in body:
                    body["forced_refresh"] = True
        return {
            "took": int((time.monotonic() - started) * 1000),
            "errors": any("error" in next(iter(item.values())) for item in items),
            "items": items,
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes; don't let the body wait for an ACK
    server_version = "knn-test-server"
    cluster: Cluster  # set on the subclass made by `KnnServer`

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing -----------------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        signed = self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 ")
        with self.cluster.lock:
            self.cluster.requests["total"] += 1
            self.cluster.requests["signed"] += signed
        digest = self.headers.get("x-amz-content-sha256")
        if digest is not None and digest != "UNSIGNED-PAYLOAD" and digest != hashlib.sha256(data).hexdigest():
            raise ApiError(
                403,
                "security_exception",
                "The request signature we calculated does not match the signature you provided "
                "(x-amz-content-sha256 is not the SHA-256 of the body)",
            )
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            data = gzip.decompress(data)
        return data

    def _json(self, data: bytes) -> dict[str, Any]:
        if not data.strip():
            return {}
        try:
            body = json.loads(data)
        except json.JSONDecodeError as e:
            raise _bad(f"Failed to parse the request body: {e.msg}", "parse_exception") from e
        if not isinstance(body, dict):
            raise _bad("the request body must be a JSON object", "parse_exception")
        return body

    def _send(self, status: int, body: dict[str, Any] | None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    @contextmanager
    def _answering(self) -> Iterator[None]:
        try:
            yield
        except ApiError as e:
            self._send(e.status, e.body())
        except Exception as e:  # a bug here must reach the test as a 500, not a hung client
            self._send(500, ApiError(500, "exception", f"{type(e).__name__}: {e}").body())

    def do_GET(self) -> None:
        self._route()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    # -- routes -------------------------------------------------------------------------------------

    def _route(self) -> None:
        with self._answering():
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            parts = [unquote(p) for p in url.path.split("/") if p]
            data = self._body()
            status, body = self._dispatch(self.command, parts, params, data)
            self._send(status, body)

    def _dispatch(
        self, method: str, parts: list[str], params: dict[str, str], data: bytes
    ) -> tuple[int, dict[str, Any] | None]:
        cluster = self.cluster
        refresh = params.get("refresh", "false").lower() in {"", "true", "wait_for"}
        with cluster.lock:
            match method, parts:
                case (("GET" | "HEAD"), []):
                    return 200, {
                        "name": "knn-test-server",
                        "cluster_name": "knn-test",
                        "version": {"distribution": "opensearch", "number": "2.19.0"},
                        "tagline": "The OpenSearch Project: https://opensearch.org/",
                    }
                case "GET", ["_knn_test", "requests"]:
                    return 200, dict(cluster.requests)
                case (("POST" | "PUT"), ["_bulk"]):
                    return 200, cluster.bulk(None, data, refresh)
                case (("POST" | "PUT"), [name, "_bulk"]):
                    return 200, cluster.bulk(name, data, refresh)
                case (("POST" | "GET"), ["_refresh"]):
                    for index in cluster.indexes.values():
                        index.refresh()
                    return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
                case "HEAD", [name]:
                    return (200 if name in cluster.indexes else 404), None
                case "PUT", [name]:
                    if name in cluster.indexes:
                        raise ApiError(
                            400, "resource_already_exists_exception", f"index [{name}] already exists", name
                        )
                    cluster.indexes[name] = Index.create(name, self._json(data))
                    return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}
                case "DELETE", [name]:
                    cluster.index(name)
                    del cluster.indexes[name]
                    return 200, {"acknowledged": True}
                case "GET", [name]:
                    index = cluster.index(name)
                    return 200, {
                        name: {"aliases": {}, "mappings": index.mappings, "settings": index.settings}
                    }
                case "GET", [name, "_mapping"]:
                    return 200, {name: {"mappings": cluster.index(name).mappings}}
                case (("POST" | "GET"), [name, "_refresh"]):
                    cluster.index(name).refresh()
                    return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
                case (("POST" | "GET"), [name, "_count"]):
                    index = cluster.index(name)
                    index.refresh_if_due()
                    query = self._json(data).get("query", {"match_all": {}})
                    if query != {"match_all": {}} and list(query) != ["match_all"]:
                        raise _bad(
                            "only match_all is supported by _count in this test server", "parsing_exception"
                        )
                    return 200, {
                        "count": len(index.visible),
                        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                    }
                case (("POST" | "GET"), [name, "_search"]):
                    index = cluster.index(name)
                    index.refresh_if_due()
                    return 200, index.search(self._json(data))
                case (("GET" | "HEAD"), [name, "_doc", doc_id]):
                    index = cluster.index(name)
                    doc = index.docs.get(doc_id)
                    if doc is None:
                        return 404, {"_index": name, "_id": doc_id, "found": False}
                    return 200, {
                        "_index": name,
                        "_id": doc_id,
                        "_version": doc.version,
                        "_seq_no": doc.seq_no,
                        "_primary_term": 1,
                        "found": True,
                        "_source": doc.source,
                    }
                case "DELETE", [name, "_doc", doc_id]:
                    index = cluster.index(name)
                    item = index.remove(doc_id)
                    if refresh:
                        index.refresh()
                    status = item.pop("status")
                    return status, item
                case _:
                    raise _bad(f"no handler found for uri [{self.path}] and method [{method}]")


class KnnServer:
    """The server on a daemon thread: `KnnServer.start()`, then `url`, then `close()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("BoundHandler", (Handler,), {"cluster": Cluster()})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=functools.partial(self.httpd.serve_forever, poll_interval=0.05),
            name="knn-server",
            daemon=True,
        )

    @classmethod
    def start(cls, host: str = "127.0.0.1", port: int = 0) -> KnnServer:
        server = cls(host, port)
        server._thread.start()
        return server

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    args = parser.parse_args()
    server = KnnServer(args.host, args.port)
    print(json.dumps({"url": server.url}), flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
