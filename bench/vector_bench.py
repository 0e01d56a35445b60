"""The vector index at 10k, 100k and 1M sentence embeddings: build time, memory, recall@10 and query latency.

The vectors are real: distinct English sentences about the 1000 ImageNet classes ("a dusty barometer in a
kitchen, at dawn"), drawn from one fixed pseudo-random stream and embedded with the int8 all-MiniLM-L6-v2
TextEmbedder. The first 1000 sentences of the stream are the queries; the index holds the next n, so no
query is in the index and every size is a prefix of the next. Embeddings are cached as float16 .npy in
var/bench, keyed by the size and a hash of the model checksums and the sentence recipe.

Each size is indexed with hnswlib as `HnswVectorIndex` configures it (cosine, M=16, ef_construction=200),
built with all cores; queries then run one per call on one thread, as a request would, at several ef.
Ground truth is exact top-10 by dot product of the unit vectors. Baseline in the same run: that exact
search, one query at a time (numpy matrix-vector product), at each size.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import hashlib
import json
import os
import re
import resource
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import hnswlib
import numpy as np
from tqdm import tqdm

from bench.report import median, write_section
from reelmind.adapters.local.vectors import HnswVectorIndex
from reelmind.domain.taxonomy import default_taxonomy
from reelmind.models.registry import ModelRegistry
from reelmind.models.text import TextEmbedder
from reelmind.settings import Settings

CACHE = Path(__file__).resolve().parents[1] / "var" / "bench"
K = 10
EFS = (32, 64, 128, 256)
#: what HnswVectorIndex uses
M, EF_CONSTRUCTION, ADAPTER_EF = 16, 200, 64
TARGET_RECALL, TARGET_P99_MS, TARGET_SIZE = 0.95, 20.0, 100_000
QUERIES = 1000
SEED = 20_240_611
#: sentences per embedder call (it sorts each call by length, then pads batches of 64)
EMBED_CHUNK = 2048
#: sentences embedded in every run to measure the rate, so the cost of an uncached size can be estimated
RATE_SAMPLE = 1024
ADAPTER_SIZE, ADAPTER_BATCH = 10_000, 1000

ADJECTIVES = (
    "small", "large", "old", "young", "bright", "dark", "colourful", "dusty", "wet", "shiny", "tiny", "huge",
    "lonely", "famous", "strange", "beautiful", "broken", "new", "quiet", "noisy", "orange", "white",
    "black", "red",
)  # fmt: skip
PLACES = (
    "in a city park", "on a crowded street", "at the beach", "in a kitchen", "on a mountain trail",
    "in a living room", "on a farm", "in a forest", "by a river", "in a school hallway", "on a rooftop",
    "in a shop window", "at a train station", "in the snow", "in a garden", "on a boat", "in a museum",
    "in a garage", "at a market", "on a desk", "in a backyard", "near a lake", "in the desert",
    "in a photo studio", "on a bridge",
)  # fmt: skip
TIMES = (
    "at dawn", "in the morning", "at noon", "in the afternoon", "at sunset", "at dusk", "at night",
    "on a rainy day", "on a foggy morning", "in winter", "in summer", "during a storm",
)  # fmt: skip
ACTIONS = (
    "seen from above", "filmed up close", "moving slowly", "standing still", "in slow motion",
    "caught on a phone camera", "lit by a single lamp", "half hidden in shadow", "next to a curious child",
    "in the background", "spinning around", "shown in a time-lapse", "reflected in a mirror",
    "surrounded by people", "covered in dust", "under bright sunlight",
)  # fmt: skip
TEMPLATES = (
    "{a} {adjective} {name} {place}, {time}",
    "{time}, {a} {adjective} {name} {action} {place}",
    "close-up of {a} {adjective} {name} {place}",
    "a short video of {a} {adjective} {name} {action}, {time}",
    "someone films {a} {adjective} {name} {place} {time}",
    "{a} {adjective} {name} {action} {place}",
    "a clip showing {a} {adjective} {name} {place} {time}",
    "{a} {adjective} {name}, {action}, {time}",
)


# --- the corpus ---------------------------------------------------------------------------------------


def class_names() -> list[str]:
    """The English ImageNet class names as a person would say them: "military hat (bearskin or shako)"
    -> "military hat", "handrail / baluster" -> "handrail"; duplicates dropped, order kept."""
    names = (re.sub(r"\s*\(.*\)", "", c.en).split(" / ")[0].strip() for c in default_taxonomy().classes)
    return list(dict.fromkeys(n for n in names if n))


def sentence_stream(names: Sequence[str]) -> Iterator[str]:
    """Distinct sentences from one fixed pseudo-random stream: the same sequence on every run and for
    every length read, so any prefix of it is the same set."""
    rng = np.random.default_rng(SEED)
    words = (TEMPLATES, names, ADJECTIVES, PLACES, TIMES, ACTIONS)
    seen: set[str] = set()
    while True:
        picks = np.stack([rng.integers(0, len(w), 65_536) for w in words], axis=1)
        for t, n, adj, place, when, action in picks.tolist():
            text = TEMPLATES[t].format(
                a="an" if ADJECTIVES[adj][0] in "aeiou" else "a",
                adjective=ADJECTIVES[adj],
                name=names[n],
                place=PLACES[place],
                time=TIMES[when],
                action=ACTIONS[action],
            )
            text = text[0].upper() + text[1:]
            if text not in seen:
                seen.add(text)
                yield text


def sentences(names: Sequence[str], start: int, stop: int) -> list[str]:
    stream = sentence_stream(names)
    return [text for i, text in zip(range(stop), stream, strict=False) if i >= start]


def recipe_key(embedder: TextEmbedder, names: Sequence[str]) -> str:
    recipe = {
        "model": embedder.model_id,
        "max_tokens": embedder.max_tokens,
        "seed": SEED,
        "words": [TEMPLATES, list(names), ADJECTIVES, PLACES, TIMES, ACTIONS],
    }
    return hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:12]


# --- embeddings, cached -------------------------------------------------------------------------------


def embed(embedder: TextEmbedder, texts: Sequence[str], partial: Path, desc: str) -> tuple[np.ndarray, int]:
    """(len(texts), dim) float16 embeddings, written as they come into `partial` (a .npy file mapped in
    memory), so that an interrupted run resumes where it stopped: a row not yet written is all zeros,
    which no unit vector is. Returns them and how many this call embedded."""
    shape = (len(texts), embedder.dim)
    out: np.ndarray | None = None
    with contextlib.suppress(OSError, ValueError):
        out = np.load(partial, mmap_mode="r+", allow_pickle=False)
    if out is None or out.shape != shape or out.dtype != np.float16:
        partial.parent.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float16, shape=shape)
    missing = np.flatnonzero(~out.any(axis=1))
    # one row back: a run stopped in the middle of writing a row leaves it neither whole nor zero
    first = max(0, int(missing[0]) - 1) if len(missing) else len(texts)
    with tqdm(total=len(texts), initial=first, desc=desc, unit=" sentences", unit_scale=True) as bar:
        for start in range(first, len(texts), EMBED_CHUNK):
            stop = min(len(texts), start + EMBED_CHUNK)
            out[start:stop] = embedder(texts[start:stop])
            out.flush()  # type: ignore[attr-defined]
            bar.update(stop - start)
    return np.array(out), len(texts) - first


def cache_path(kind: str, n: int, key: str) -> Path:
    return CACHE / f"minilm-{kind}-{n}-{key}.npy"


def save(path: Path, matrix: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with tmp.open("wb") as f:
        np.save(f, matrix, allow_pickle=False)
    os.replace(tmp, path)


def load(path: Path, n: int, dim: int) -> np.ndarray | None:
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if matrix.dtype != np.float16 or matrix.ndim != 2 or matrix.shape[1] != dim or len(matrix) < n:
        return None
    return np.array(matrix[:n])


def cached_sizes(kind: str, key: str) -> list[int]:
    found = (re.fullmatch(rf"minilm-{kind}-(\d+)-{key}\.npy", p.name) for p in CACHE.glob("minilm-*.npy"))
    return sorted(int(m[1]) for m in found if m)


def vectors(
    embedder: TextEmbedder, names: Sequence[str], key: str, kind: str, start: int, n: int
) -> tuple[np.ndarray, str]:
    """Sentences start..start+n of the stream embedded (float16), and how they were obtained. A cached
    larger size is sliced, a cached smaller one extended: sizes are prefixes of one another."""
    sizes = cached_sizes(kind, key)
    larger = [s for s in sizes if s >= n]
    smaller = [s for s in sizes if s < n]
    done: np.ndarray | None = None
    for size in [*larger, *reversed(smaller)]:  # the nearest larger one, else the largest smaller one
        done = load(cache_path(kind, size, key), min(size, n), embedder.dim)
        if done is not None:
            break
    if done is not None and len(done) == n:
        return done, f"from the cache ({size_label(size)} file)"
    have = 0 if done is None else len(done)
    w = time.perf_counter()
    texts = sentences(names, start + have, start + n)
    partial = CACHE / f"minilm-{kind}-{have}-{n}-{key}.partial.npy"
    fresh, count = embed(embedder, texts, partial, f"embedding {kind} {have:,}..{n:,}")
    matrix = fresh if done is None else np.concatenate([done, fresh])
    save(cache_path(kind, n, key), matrix)
    partial.unlink()
    seconds = time.perf_counter() - w
    resumed = f" (resumed: {len(texts) - count:,} were embedded before)" if count < len(texts) else ""
    return (
        matrix,
        f"{count:,} embedded in {seconds:.0f} s, {seconds / max(count, 1) * 1e3:.2f} ms each{resumed}",
    )


def unit32(matrix: np.ndarray) -> np.ndarray:
    """float16 rows back to float32 unit vectors, so a dot product is the cosine hnswlib ranks by."""
    out = matrix.astype(np.float32)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


# --- measurements -------------------------------------------------------------------------------------


def rss() -> int:
    """Resident memory of this process in bytes, after handing freed heap memory back to the system, so
    that what an allocation reuses of it does not hide its growth."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[bool]:
    """numpy's OpenBLAS limited to n threads inside the block (yields whether it could be): a request
    runs on one thread, and idle BLAS threads waiting for a core would otherwise dominate small products."""
    maps = Path("/proc/self/maps").read_text().splitlines()
    paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and line.endswith(".so")}
    setter = getter = None
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                if hasattr(lib, f"{prefix}_set_num_threads{suffix}"):
                    setter = getattr(lib, f"{prefix}_set_num_threads{suffix}")
                    getter = getattr(lib, f"{prefix}_get_num_threads{suffix}")
    if setter is None or getter is None:
        yield False
        return
    before = getter()
    setter(n)
    try:
        yield True
    finally:
        setter(before)


def estimated_bytes(dim: int, m: int) -> float:
    """hnswlib's memory per element: the level-0 block (vector, 2M links and their count, label), the
    upper-level link lists (an element has 1/(M-1) upper levels on average, M links each), and the
    bookkeeping (link-list pointer, level, a mutex, a label-map entry of about 40 bytes)."""
    level0 = dim * 4 + 2 * m * 4 + 4 + 8
    upper = (m * 4 + 4) / (m - 1)
    return level0 + upper + 8 + 4 + 40 + 40


def exact_top(base: np.ndarray, queries: np.ndarray, k: int, chunk: int = 65_536) -> np.ndarray:
    """(nq, k) indices of the k largest dot products of each query with the base rows, best first."""
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.zeros((len(queries), k), np.int64)
    for start in range(0, len(base), chunk):
        scores = queries @ base[start : start + chunk].T
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        all_s = np.hstack([best_s, np.take_along_axis(scores, top, axis=1)])
        all_i = np.hstack([best_i, top + start])
        keep = np.argpartition(-all_s, k - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(all_s, keep, axis=1), np.take_along_axis(all_i, keep, axis=1)
    order = np.argsort(-best_s, axis=1)
    return np.take_along_axis(best_i, order, axis=1)


def exact_one(base: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    scores = base @ query
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def recall(found: Sequence[Sequence[int]], truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth.tolist(), strict=True)]))


def timed(fn: Callable[[np.ndarray], list[int]], queries: np.ndarray) -> tuple[list[float], list[list[int]]]:
    """Milliseconds of each single-query call, and each call's answer."""
    times: list[float] = []
    answers: list[list[int]] = []
    for q in queries:
        w = time.perf_counter()
        answers.append(fn(q))
        times.append((time.perf_counter() - w) * 1e3)
    return times, answers


def percentiles(runs: list[list[float]]) -> tuple[float, float]:
    """Median over runs of each run's p50 and p99."""
    return median([float(np.percentile(r, 50)) for r in runs]), median(
        [float(np.percentile(r, 99)) for r in runs]
    )


@dataclass
class SizeResult:
    n: int
    truth: np.ndarray
    truth_s: float
    build_s: float
    rss_per_vector: float
    #: exact search p50, p99 ms, and whether it ran on one BLAS thread
    exact: tuple[float, float]
    exact_one_thread: bool
    #: ef -> (recall@10, p50 ms, p99 ms)
    per_ef: dict[int, tuple[float, float, float]]
    query_s: float
    #: 1-minute load average when the timed queries began
    load: float

    def chosen_ef(self) -> int | None:
        """The smallest ef that reaches the recall target."""
        return next((ef for ef in EFS if self.per_ef[ef][0] >= TARGET_RECALL), None)


@dataclass
class AdapterResult:
    upsert_s: float
    recall: float
    p50: float
    p99: float


def measure(base: np.ndarray, queries: np.ndarray, runs: int, exact_queries: int) -> SizeResult:
    n, dim = base.shape
    w = time.perf_counter()
    truth = exact_top(base, queries, K)
    truth_s = time.perf_counter() - w

    before = rss()
    w = time.perf_counter()
    index = hnswlib.Index(space="cosine", dim=dim)
    index.init_index(max_elements=n, M=M, ef_construction=EF_CONSTRUCTION, random_seed=100)
    index.add_items(base, np.arange(n), num_threads=-1)
    build_s = time.perf_counter() - w
    rss_per_vector = (rss() - before) / n

    def hnsw(q: np.ndarray) -> list[int]:
        labels, _ = index.knn_query(q.reshape(1, -1), k=K, num_threads=1)
        return [int(label) for label in labels[0]]

    def exact(q: np.ndarray) -> list[int]:
        return [int(i) for i in exact_one(base, q, K)]

    load = os.getloadavg()[0]
    lat: dict[int, list[list[float]]] = {ef: [] for ef in EFS}
    exact_lat: list[list[float]] = []
    found: dict[int, list[list[int]]] = {}
    w = time.perf_counter()
    with blas_threads(1) as one_thread:
        for _ in range(runs):  # interleaved, so drift in machine load hits every column alike
            exact_lat.append(timed(exact, queries[:exact_queries])[0])
            for ef in EFS:
                index.set_ef(ef)
                times, found[ef] = timed(hnsw, queries)
                lat[ef].append(times)
    query_s = time.perf_counter() - w
    return SizeResult(
        n=n,
        truth=truth,
        truth_s=truth_s,
        build_s=build_s,
        rss_per_vector=rss_per_vector,
        exact=percentiles(exact_lat),
        exact_one_thread=one_thread,
        per_ef={ef: (recall(found[ef], truth), *percentiles(lat[ef])) for ef in EFS},
        query_s=query_s,
        load=load,
    )


def adapter(base: np.ndarray, queries: np.ndarray, truth: np.ndarray, runs: int) -> AdapterResult:
    """HnswVectorIndex end to end: upserts of 1000 (SQLite rows + graph + graph file), then queries."""
    n, dim = base.shape
    with tempfile.TemporaryDirectory() as tmp:
        index = HnswVectorIndex(Path(tmp), dim)
        w = time.perf_counter()
        for start in range(0, n, ADAPTER_BATCH):
            stop = min(n, start + ADAPTER_BATCH)
            ids = [f"s{i}" for i in range(start, stop)]
            index.upsert(ids, base[start:stop], [{"n": i} for i in range(start, stop)])
        upsert_s = time.perf_counter() - w

        def query(q: np.ndarray) -> list[int]:
            return [int(hit.id[1:]) for hit in index.query(q, K)]

        lat: list[list[float]] = []
        answers: list[list[int]] = []
        for _ in range(runs):
            times, answers = timed(query, queries)
            lat.append(times)
    p50, p99 = percentiles(lat)
    return AdapterResult(upsert_s, recall(answers, truth), p50, p99)


# --- report -------------------------------------------------------------------------------------------


def size_label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def report(
    results: list[SizeResult],
    end_to_end: AdapterResult | None,
    example: str,
    classes: int,
    sources: dict[str, str],
    rate_ms: float,
    load: float,
    args: argparse.Namespace,
    dim: int,
) -> str:
    sizes = [r.n for r in results]
    ran = ", ".join(size_label(n) for n in sizes)
    if 1_000_000 in sizes:
        why = "1M ran too (it is opt-in)."
    else:
        minutes = 1_000_000 * rate_ms / 60_000
        why = (
            f"1M is opt-in (`--sizes 10000,100000,1000000`) and did not run: embedding 1M sentences would"
            f" take about {minutes:.0f} min at the rate measured in this run ({rate_ms:.2f} ms per sentence over"
            f" {RATE_SAMPLE:,} sentences),"
            " too long for `make bench`; once cached, the embeddings are reused."
        )
    main_rows, ef_rows, timing = [], [], []
    verdict = f"No {size_label(TARGET_SIZE)} size in this run: the target was not checked."
    for r in results:
        ef = r.chosen_ef()
        ex50, ex99 = r.exact
        if ef is None:
            pick = f"none of {EFS} | | | |"
        else:
            rec, p50, p99 = r.per_ef[ef]
            pick = f"{ef} | {rec:.3f} | {p50:.3f} | **{p99:.3f}** | {ex50 / p50:.0f}x"
        main_rows.append(
            f"| {size_label(r.n)} | {r.build_s:.1f} | {r.n / r.build_s:,.0f} | {r.rss_per_vector:,.0f}"
            f" | {ex50:.2f} / {ex99:.2f} | {pick} |"
        )
        ef_rows += [
            f"| {size_label(r.n)} | {e} | {r.per_ef[e][0]:.3f} | {r.per_ef[e][1]:.3f} | {r.per_ef[e][2]:.3f} |"
            for e in EFS
        ]
        timing.append(
            f"- {size_label(r.n)}: exact top-10 of the queries {r.truth_s:.1f} s, build {r.build_s:.1f} s,"
            f" timed queries {r.query_s:.1f} s (load average {r.load:.1f} as they began)"
        )
        if r.n == TARGET_SIZE:
            target = f"recall@10 ≥ {TARGET_RECALL} with p99 ≤ {TARGET_P99_MS:.0f} ms"
            if ef is None:
                verdict = (
                    f"Target at {size_label(r.n)} ({target}): **not met**, no ef in {EFS} reaches the recall."
                )
            else:
                rec, _, p99 = r.per_ef[ef]
                met = "met" if p99 <= TARGET_P99_MS else "not met"
                verdict = (
                    f"Target at {size_label(r.n)} ({target}): **{met}**, at ef={ef}: recall {rec:.3f},"
                    f" p99 {p99:.3f} ms."
                )
    adapter_part = ""
    raw = next((r.per_ef[ADAPTER_EF] for r in results if r.n == ADAPTER_SIZE), None)
    if end_to_end is not None and raw is not None:
        adapter_part = f"""
Local adapter end to end at {size_label(ADAPTER_SIZE)} (`HnswVectorIndex` in a temporary folder, its
default ef={ADAPTER_EF}), against raw hnswlib at the same ef from the table above:

| step | adapter | raw hnswlib |
|---|---|---|
| upsert {size_label(ADAPTER_SIZE)} in batches of {ADAPTER_BATCH} (rows, graph, graph file saved per batch) \
| {end_to_end.upsert_s:.1f} s | {next(r.build_s for r in results if r.n == ADAPTER_SIZE):.1f} s (one `add_items`) |
| query p50 ms | {end_to_end.p50:.3f} | {raw[1]:.3f} |
| query p99 ms | {end_to_end.p99:.3f} | {raw[2]:.3f} |
| recall@10 | {end_to_end.recall:.3f} | {raw[0]:.3f} |

Per query the adapter adds a `COUNT(*)` of the table, a generation check and a lookup of the ten rows
and their metadata: {end_to_end.p50 - raw[1]:.3f} ms at p50.
"""
    blas = "on one BLAS thread" if all(r.exact_one_thread for r in results) else "default BLAS threads"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return f"""
Corpus: distinct English sentences about the 1000 ImageNet classes, {len(TEMPLATES)} templates × {classes}
distinct class names × {len(ADJECTIVES)} adjectives × {len(PLACES)} places × {len(TIMES)} times of day × {len(ACTIONS)} actions
(e.g. "{example}"), drawn with a fixed seed, embedded with the int8 all-MiniLM-L6-v2 TextEmbedder
({dim}-d unit vectors, cached as float16, searched as float32). Queries: {QUERIES} more sentences of the
same stream, none of them indexed. Embeddings this run: corpus {sources["corpus"]}; queries
{sources["queries"]}.

Sizes run: **{ran}**. {why}

hnswlib as the local adapter configures it: cosine, M={M}, ef_construction={EF_CONSTRUCTION}; built once
per size with all {os.cpu_count()} cores (`add_items`, num_threads=-1). Queries one per call on one thread,
as a request would: p50/p99 over the {QUERIES} queries, median of {args.runs} runs. Baseline in the same
run: exact search (numpy matrix-vector product over all n vectors and a top-10 partition, {blas}),
one query at a time, over the first {args.exact_queries} queries; recall@10 is against its
top-10. Memory: RSS growth of the process over the build, divided by n; hnswlib's own layout comes to
about {estimated_bytes(dim, M):,.0f} bytes per vector ({dim * 4:,} for the vector, {2 * M} level-0 links,
upper levels, bookkeeping), plus fixed costs that weigh at small n (65,536 label locks, about 2.6 MB,
and a visited list of 2 bytes per element for each searching thread). The ef columns show the smallest of {EFS} with recall@10 ≥ {TARGET_RECALL}.

| vectors | build s | vectors/s built | RSS bytes/vector | exact p50 / p99 ms | ef | recall@10 | p50 ms | p99 ms | p50 vs exact |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(main_rows)}

{verdict}

Recall and latency at each ef:

| vectors | ef | recall@10 | p50 ms | p99 ms |
|---|---|---|---|---|
{chr(10).join(ef_rows)}
{adapter_part}
Time taken by each part:
{chr(10).join(timing)}

Peak resident memory of the benchmark process: {peak_mb:,.0f} MB; load average when it started:
{load:.1f} on {os.cpu_count()} cores. Other work on the machine slows embedding and building, and a query
that loses its core for a scheduler time slice (a few ms) sets p99.
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated; 1M: 10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=3, help="passes over the queries; medians are reported")
    parser.add_argument("--exact-queries", type=int, default=200, help="queries timed for the exact baseline")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    started = time.perf_counter()
    load = os.getloadavg()[0]

    threads = os.cpu_count() or 1
    embedder = TextEmbedder.from_registry(ModelRegistry(Settings().model_dir, threads))
    names = class_names()
    key = recipe_key(embedder, names)
    sample = sentences(names, 0, RATE_SAMPLE)
    embedder(sample[:64])  # warm up
    w = time.perf_counter()
    embedder(sample)
    rate_ms = (time.perf_counter() - w) / len(sample) * 1e3
    print(f"embedding rate: {rate_ms:.2f} ms per sentence on {threads} threads", flush=True)

    query16, query_source = vectors(embedder, names, key, "queries", 0, QUERIES)
    corpus16, corpus_source = vectors(embedder, names, key, "corpus", QUERIES, max(sizes))
    queries, corpus = unit32(query16), unit32(corpus16)
    del query16, corpus16
    example = sentences(names, QUERIES, QUERIES + 1)[0]
    print(f"embeddings ready after {time.perf_counter() - started:.0f} s", flush=True)

    results: list[SizeResult] = []
    end_to_end: AdapterResult | None = None
    for n in sizes:
        w = time.perf_counter()
        result = measure(corpus[:n], queries, args.runs, args.exact_queries)
        results.append(result)
        print(f"{size_label(n)}: measured in {time.perf_counter() - w:.0f} s", flush=True)
        if n == ADAPTER_SIZE:
            w = time.perf_counter()
            end_to_end = adapter(corpus[:n], queries, result.truth, args.runs)
            print(f"adapter at {size_label(n)}: {time.perf_counter() - w:.0f} s", flush=True)
    sources = {"corpus": corpus_source, "queries": query_source}
    body = report(results, end_to_end, example, len(names), sources, rate_ms, load, args, corpus.shape[1])
    body += f"\nWhole run: {time.perf_counter() - started:.0f} s.\n"
    print(body)
    write_section("vector index, 10k/100k/1M (bench/vector_bench.py)", body)


if __name__ == "__main__":
    main()
