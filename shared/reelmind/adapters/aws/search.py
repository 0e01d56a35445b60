"""Vector and keyword search on OpenSearch (Amazon OpenSearch Service), through opensearch-py.

`OpenSearchVectorIndex` (the `VectorIndex` port): one document per id, `{"vector": [...], "meta": {...}}`,
in an index made from `infra/opensearch/vectors.json` - a `knn_vector` field (HNSW on the Lucene engine,
`cosinesimil` space) whose `dimension` the adapter sets to its `dim`. `query` sends an approximate `knn`
query asking for `max(k, ef_search)` neighbours and returns the best `k`. OpenSearch scores the cosine
space as `(1 + cos) / 2` (https://docs.opensearch.org/latest/mappings/supported-field-types/knn-spaces/);
`Hit.score` is that turned back into the cosine, as the hnswlib adapter reports. The Lucene engine scores
cosine that way in every OpenSearch version; with it `k` is the number of neighbours per shard.

`OpenSearchTextIndex` (the `TextIndex` port): text is tokenized here, by `reelmind.domain.text`, so every
backend matches the same tokens (Latin words; Chinese characters and character pairs). Each field is stored
as its tokens joined by spaces in a `whitespace`-analyzed text field (`infra/opensearch/text.json`): fields
that have a weight under `fields.<name>`, the others under `extra.<name>`. A search is a `bool` of `should`
clauses: a `match` per weighted field with the weight as its `boost`, and a `most_fields` `multi_match` over
`extra.*` (weight 1). Each field is scored by BM25 on its own and the scores add up, as in the SQLite
adapter. Which fields have a weight decides where a field is stored, so adding or removing a weighted field
needs the documents written again; changing a weight's value does not.

Both create their index on first use when it is absent (and check an existing vector index's dimension and
space). Writes are `_bulk` requests with `refresh=wait_for` by default, so a write is searchable when the
call returns; pass `refresh="false"` for batch loads and call `refresh()` at the end.

Errors become the project's typed errors: throttling (429), an unavailable cluster (502/503/504) and a
connection failure or timeout are `Throttled` (retry later); a refused document or query (400) is
`BadRequest`; refused credentials (401/403), a TLS failure, a missing index or a mapping that does not fit
are `ConfigError`. Requests are signed with SigV4 (boto3's credentials) only when `aws_auth=True`.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
from opensearchpy import OpenSearch, Urllib3AWSV4SignerAuth
from opensearchpy.exceptions import ConnectionError as TransportConnectionError
from opensearchpy.exceptions import SerializationError, SSLError, TransportError

from reelmind.domain.text import query_tokens, tokens
from reelmind.errors import BadRequest, ConfigError, ReelMindError, Throttled
from reelmind.ports import Hit, TextDoc

#: The index definitions of the deployment (settings and mappings), one JSON file per index kind.
MAPPINGS_DIR = Path(__file__).resolve().parents[4] / "infra" / "opensearch"
VECTORS_MAPPING = MAPPINGS_DIR / "vectors.json"
TEXT_MAPPING = MAPPINGS_DIR / "text.json"

VECTOR_FIELD = "vector"
#: The largest `k` of a `knn` query, and the default `index.max_result_window` (the largest `size`).
MAX_K = 10_000
#: Documents per `_bulk` request (a 384-dimension vector is about 8 KB of JSON).
BULK_DOCS = 500
#: OpenSearch refuses a document `_id` longer than this many bytes.
MAX_ID_BYTES = 512
THROTTLE_STATUSES = frozenset({429, 502, 503, 504})
_FIELD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

Refresh = Literal["wait_for", "true", "false"]
MappingSource = Path | Mapping[str, Any]


# -- client and errors ------------------------------------------------------------------------------


def opensearch_client(
    endpoint: str,
    *,
    aws_auth: bool = False,
    region: str | None = None,
    service: str = "es",
    timeout_s: float = 10.0,
) -> OpenSearch:
    """A client for `endpoint` (`https://host`, `http://host:port`, or a bare host for https).

    TLS is on for https endpoints only; compression is off; with `aws_auth` every request is signed with
    SigV4 for `service` ("es" for a managed domain, "aoss" for serverless) in `region` (default: boto3's).
    """
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"the OpenSearch endpoint {endpoint!r} is not an http(s) URL or host name")
    use_ssl = parts.scheme == "https"
    try:
        port = parts.port or (443 if use_ssl else 80)
    except ValueError as e:
        raise ConfigError(f"the OpenSearch endpoint {endpoint!r} has an invalid port") from e
    host: dict[str, Any] = {"host": parts.hostname, "port": port}
    if parts.path.strip("/"):
        host["url_prefix"] = parts.path.rstrip("/")
    return OpenSearch(
        hosts=[host],
        http_auth=_sigv4(region, service) if aws_auth else None,
        use_ssl=use_ssl,
        verify_certs=use_ssl,
        http_compress=False,
        timeout=timeout_s,
        max_retries=2,
        retry_on_timeout=True,
    )


def _sigv4(region: str | None, service: str) -> Urllib3AWSV4SignerAuth:
    import boto3

    session = boto3.Session(region_name=region) if region else boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise ConfigError("SigV4 signing for OpenSearch needs AWS credentials, and boto3 found none")
    if not session.region_name:
        raise ConfigError("SigV4 signing for OpenSearch needs a region (AWS_REGION or the region argument)")
    return Urllib3AWSV4SignerAuth(credentials, session.region_name, service)


def _reason(error: TransportError) -> str:
    info = error.info
    if isinstance(info, dict) and isinstance(info.get("error"), dict):
        cause = info["error"]
        return f"{cause.get('type', 'error')}: {cause.get('reason', '')}"
    return str(error.error)


@contextmanager
def opensearch_errors(what: str) -> Iterator[None]:
    """Re-raise opensearch-py's errors as the project's typed errors, naming `what` failed."""
    try:
        yield
    except SSLError as e:
        raise ConfigError(f"{what}: TLS to OpenSearch failed ({e})") from e
    except TransportConnectionError as e:
        # Connection refused, reset, or timed out (after the client's retries): the cluster may be
        # restarting or overloaded.
        raise Throttled(f"{what}: OpenSearch did not answer ({type(e).__name__}); retry later") from e
    except SerializationError as e:
        raise BadRequest(
            f"{what}: the request cannot be written as JSON ({e.args[-1] if e.args else e})"
        ) from e
    except TransportError as e:
        status = e.status_code
        if status in THROTTLE_STATUSES:
            raise Throttled(f"{what}: OpenSearch is busy ({status} {_reason(e)}); retry later") from e
        if status in (401, 403):
            raise ConfigError(f"{what}: OpenSearch refused the credentials ({status} {_reason(e)})") from e
        if status == 404:
            raise ConfigError(f"{what}: not found on OpenSearch ({_reason(e)})") from e
        if status == 400:
            raise BadRequest(f"{what}: OpenSearch refused the request ({_reason(e)})") from e
        raise


def load_mapping(source: MappingSource) -> dict[str, Any]:
    """An index definition (settings and mappings) from a JSON file, or a copy of a dict."""
    if isinstance(source, Path):
        try:
            loaded = json.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ConfigError(f"the OpenSearch index definition {source} is missing") from e
        except (OSError, ValueError) as e:
            raise ConfigError(f"the OpenSearch index definition {source} cannot be read: {e}") from e
        if not isinstance(loaded, dict):
            raise ConfigError(f"the OpenSearch index definition {source} is not a JSON object")
        return loaded
    return copy.deepcopy(dict(source))


def _check_ids(ids: Sequence[str]) -> None:
    for id_ in ids:
        if not isinstance(id_, str) or not id_ or len(id_.encode()) > MAX_ID_BYTES:
            raise BadRequest(f"ids must be non-empty strings of at most {MAX_ID_BYTES} bytes, got {id_!r}")


class _OpenSearchIndex:
    """What both adapters share: the client, creating the index, bulk writes, deletes, count."""

    def __init__(
        self,
        endpoint: str,
        index: str,
        mapping: MappingSource,
        *,
        aws_auth: bool,
        region: str | None,
        service: str,
        refresh: Refresh,
        timeout_s: float,
        create: bool,
    ) -> None:
        if refresh not in ("wait_for", "true", "false"):
            raise ConfigError(f"refresh must be 'wait_for', 'true' or 'false', not {refresh!r}")
        self.index = index
        self.mapping = mapping
        self.refresh_mode: Refresh = refresh
        self.client = opensearch_client(
            endpoint, aws_auth=aws_auth, region=region, service=service, timeout_s=timeout_s
        )
        if create:
            self.ensure_index()

    def ensure_index(self) -> None:
        """Create the index from the mapping when it is absent; check it when it is there."""
        with opensearch_errors(f"opening index {self.index!r}"):
            if self.client.indices.exists(index=self.index):
                self._check_existing()
                return
            body = load_mapping(self.mapping)
            self._prepare(body)
            try:
                self.client.indices.create(index=self.index, body=body)
            except TransportError as e:
                if e.error != "resource_already_exists_exception":  # else another writer won the race
                    raise
                self._check_existing()

    def _prepare(self, body: dict[str, Any]) -> None:
        """Adjust a loaded index definition before the index is created."""

    def _check_existing(self) -> None:
        """Refuse an existing index that does not fit this adapter."""

    def _bulk(self, actions: list[dict[str, Any]], what: str) -> None:
        if not actions:
            return
        with opensearch_errors(what):
            response = self.client.bulk(body=actions, index=self.index, params={"refresh": self.refresh_mode})
        if not response.get("errors"):
            return
        failed = [
            result
            for item in response.get("items", [])
            for result in item.values()
            if isinstance(result, dict) and "error" in result
        ]
        if not failed:
            return
        first = failed[0]
        error = first.get("error") or {}
        detail = (
            f"{error.get('type', 'error')}: {error.get('reason', '')}" if isinstance(error, dict) else error
        )
        message = (
            f"{what}: {len(failed)} of {len(response['items'])} actions failed "
            f"(first, {first.get('_id')!r}: {detail})"
        )
        statuses = {int(r.get("status", 0)) for r in failed}
        if statuses & THROTTLE_STATUSES:
            raise Throttled(message + "; retry later")
        if statuses & {401, 403}:
            raise ConfigError(message)
        if any(400 <= s < 500 for s in statuses):
            raise BadRequest(message)
        raise ReelMindError(message)

    def delete(self, ids: Sequence[str]) -> None:
        """Remove the documents; ids that are not there are ignored."""
        _check_ids(ids)
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), BULK_DOCS):
            self._bulk(
                [{"delete": {"_index": self.index, "_id": id_}} for id_ in unique[start : start + BULK_DOCS]],
                f"deleting from {self.index!r}",
            )

    def count(self) -> int:
        with opensearch_errors(f"counting {self.index!r}"):
            return int(self.client.count(index=self.index)["count"])

    def refresh(self) -> None:
        """Make every write so far searchable (needed only with `refresh="false"`)."""
        with opensearch_errors(f"refreshing {self.index!r}"):
            self.client.indices.refresh(index=self.index)


# -- vectors ----------------------------------------------------------------------------------------


def _space_type(field: Mapping[str, Any]) -> str:
    method = field.get("method") or {}
    return str(method.get("space_type") or field.get("space_type") or "l2")


class OpenSearchVectorIndex(_OpenSearchIndex):
    """Cosine k-NN over `dim`-dimension vectors in the OpenSearch index `index`."""

    def __init__(
        self,
        endpoint: str,
        index: str,
        dim: int,
        *,
        aws_auth: bool = False,
        region: str | None = None,
        service: str = "es",
        mapping: MappingSource = VECTORS_MAPPING,
        ef_search: int = 100,
        refresh: Refresh = "wait_for",
        timeout_s: float = 10.0,
        create: bool = True,
    ) -> None:
        if dim < 1:
            raise ConfigError(f"a vector index needs a positive dimension, not {dim}")
        self.dim = dim
        self.ef_search = max(1, min(ef_search, MAX_K))
        super().__init__(
            endpoint,
            index,
            mapping,
            aws_auth=aws_auth,
            region=region,
            service=service,
            refresh=refresh,
            timeout_s=timeout_s,
            create=create,
        )

    def _prepare(self, body: dict[str, Any]) -> None:
        try:
            field = body["mappings"]["properties"][VECTOR_FIELD]
        except (KeyError, TypeError) as e:
            raise ConfigError(f"the vector index definition has no mappings.properties.{VECTOR_FIELD}") from e
        if field.get("type") != "knn_vector" or _space_type(field) != "cosinesimil":
            raise ConfigError(f"{VECTOR_FIELD!r} must be a knn_vector in the cosinesimil space")
        field["dimension"] = self.dim

    def _check_existing(self) -> None:
        response: dict[str, Any] = self.client.indices.get_mapping(index=self.index)
        # Keyed by the concrete index name, which differs from `self.index` when that is an alias.
        definitions = list(response.values())
        definition: dict[str, Any] = definitions[0] if definitions else {}
        field: dict[str, Any] = definition.get("mappings", {}).get("properties", {}).get(VECTOR_FIELD) or {}
        if field.get("type") != "knn_vector" or _space_type(field) != "cosinesimil":
            raise ConfigError(
                f"index {self.index!r} exists, but {VECTOR_FIELD!r} is not a knn_vector in the cosinesimil space"
            )
        if int(field.get("dimension", -1)) != self.dim:
            raise ConfigError(
                f"index {self.index!r} holds {field.get('dimension')}-dimension vectors, not {self.dim}"
            )

    def _vectors(self, vectors: np.ndarray, rows: int | None) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.dim or (rows is not None and len(array) != rows):
            raise BadRequest(f"expected {rows} vectors of dimension {self.dim}, got shape {array.shape}")
        if not np.isfinite(array).all():
            raise BadRequest("vectors must be finite")
        if not np.all(np.linalg.norm(array, axis=1) > 0):
            raise BadRequest("a zero vector has no direction; the cosine space cannot hold it")
        return array

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metas: Sequence[dict[str, Any]]) -> None:
        array = self._vectors(vectors, len(ids))
        if len(metas) != len(ids):
            raise BadRequest(f"expected {len(ids)} metadata objects, got {len(metas)}")
        _check_ids(ids)
        for start in range(0, len(ids), BULK_DOCS):
            actions: list[dict[str, Any]] = []
            for id_, vector, meta in zip(
                ids[start : start + BULK_DOCS],
                array[start : start + BULK_DOCS],
                metas[start : start + BULK_DOCS],
                strict=True,
            ):
                actions += [
                    {"index": {"_index": self.index, "_id": id_}},
                    {VECTOR_FIELD: vector.tolist(), "meta": meta},
                ]
            self._bulk(actions, f"writing vectors to {self.index!r}")

    def query(self, vector: np.ndarray, k: int) -> list[Hit]:
        array = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if array.shape[1] != self.dim:
            raise BadRequest(f"the query vector has dimension {array.shape[1]}, expected {self.dim}")
        array = self._vectors(array, 1)
        if k <= 0:
            return []
        size = min(k, MAX_K)
        body = {
            "size": size,
            "_source": ["meta"],
            "query": {"knn": {VECTOR_FIELD: {"vector": array[0].tolist(), "k": max(size, self.ef_search)}}},
        }
        with opensearch_errors(f"querying {self.index!r}"):
            response = self.client.search(index=self.index, body=body)
        return [
            Hit(
                hit["_id"],
                2.0 * float(hit["_score"]) - 1.0,  # (1 + cos) / 2 -> cos
                dict((hit.get("_source") or {}).get("meta") or {}),
            )
            for hit in response["hits"]["hits"]
        ]


# -- text -------------------------------------------------------------------------------------------


class OpenSearchTextIndex(_OpenSearchIndex):
    """Keyword search over `TextDoc`s in the OpenSearch index `index`; `weights` boosts named fields
    (a field without a weight counts 1)."""

    def __init__(
        self,
        endpoint: str,
        index: str,
        weights: Mapping[str, float] | None = None,
        *,
        aws_auth: bool = False,
        region: str | None = None,
        service: str = "es",
        mapping: MappingSource = TEXT_MAPPING,
        refresh: Refresh = "wait_for",
        timeout_s: float = 10.0,
        create: bool = True,
    ) -> None:
        self.weights = dict(weights or {})
        for name, weight in self.weights.items():
            if not _FIELD_NAME.match(name):
                raise ConfigError(f"field name {name!r} must be letters, digits, '_' or '-' (not first)")
            if not math.isfinite(weight) or weight < 0:
                raise ConfigError(f"the weight of {name!r} must be a finite number >= 0, not {weight!r}")
        super().__init__(
            endpoint,
            index,
            mapping,
            aws_auth=aws_auth,
            region=region,
            service=service,
            refresh=refresh,
            timeout_s=timeout_s,
            create=create,
        )

    def _source(self, doc: TextDoc) -> dict[str, Any]:
        weighted: dict[str, str] = {}
        extra: dict[str, str] = {}
        for name, text in doc.fields.items():
            if not isinstance(name, str) or not _FIELD_NAME.match(name):
                raise BadRequest(f"field name {name!r} must be letters, digits, '_' or '-' (not first)")
            if not isinstance(text, str):
                raise BadRequest(f"field {name!r} of {doc.id!r} must be text, not {type(text).__name__}")
            toks = tokens(text)
            if toks:
                (weighted if name in self.weights else extra)[name] = " ".join(toks)
        return {"fields": weighted, "extra": extra, "meta": doc.meta}

    def upsert(self, docs: Sequence[TextDoc]) -> None:
        _check_ids([doc.id for doc in docs])
        for start in range(0, len(docs), BULK_DOCS):
            actions: list[dict[str, Any]] = []
            for doc in docs[start : start + BULK_DOCS]:
                actions += [{"index": {"_index": self.index, "_id": doc.id}}, self._source(doc)]
            self._bulk(actions, f"writing documents to {self.index!r}")

    def search(self, query: str, k: int) -> list[Hit]:
        toks = query_tokens(query)
        if not toks or k < 1:
            return []
        text = " ".join(toks)
        should: list[dict[str, Any]] = [
            {"match": {f"fields.{name}": {"query": text, "boost": weight}}}
            for name, weight in self.weights.items()
        ]
        should.append({"multi_match": {"query": text, "fields": ["extra.*"], "type": "most_fields"}})
        body = {
            "size": min(k, MAX_K),
            "_source": ["meta"],
            "query": {"bool": {"should": should, "minimum_should_match": 1}},
        }
        with opensearch_errors(f"searching {self.index!r}"):
            response = self.client.search(index=self.index, body=body)
        hits = [
            Hit(hit["_id"], float(hit["_score"]), dict((hit.get("_source") or {}).get("meta") or {}))
            for hit in response["hits"]["hits"]
        ]
        return sorted(hits, key=lambda h: (-h.score, h.id))  # ties by id, as the SQLite adapter orders them
