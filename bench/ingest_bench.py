"""Ingest + thumbnail on a 30 s 720p clip: wall and CPU seconds, median of several runs.

Baseline in the same run: decoding every frame of the same file with PyAV and doing nothing else,
which is the floor any ingest that looks at every frame must pay.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reelmind import samples
from reelmind.runtime import bootstrap
from reelmind.settings import Settings
from report import median, write_section

CACHE = Path(__file__).resolve().parents[1] / "var" / "bench"


def clip() -> samples.ClipTruth:
    spec = samples.bench_spec(30)
    path = CACHE / f"{spec.name}.mp4"
    if path.exists():
        return samples.truth(spec, path)
    print(f"generating {path} (once) ...", flush=True)
    return samples.write_clip(spec, path)


def decode_only(path: Path) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - w, time.process_time() - c


def pipeline(path: Path) -> tuple[float, float, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        rt = bootstrap(Settings(data_dir=Path(tmp)))
        rt.blobs.put_file("uploads/bench/clip.mp4", path)
        w, c = time.perf_counter(), time.process_time()
        outcome = rt.ingest.handle_upload("uploads/bench/clip.mp4")
        t_ingest = time.perf_counter() - w
        rt.thumbnail.handle_video_ready(outcome.video_id)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        assert outcome.status.value == "READY", outcome
        shots = len(rt.results.get_results(outcome.video_id)["ingest"].payload["shots"])
    return wall, cpu, {"ingest": t_ingest, "thumbnail": wall - t_ingest, "shots": shots}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    truth = clip()
    pipeline(truth.path)  # warm up: imports, first-call allocations
    base, runs = [], []
    for _ in range(args.runs):
        base.append(decode_only(truth.path))
        runs.append(pipeline(truth.path))
    dw, dc = median([b[0] for b in base]), median([b[1] for b in base])
    pw, pc = median([r[0] for r in runs]), median([r[1] for r in runs])
    ing, thumb = median([r[2]["ingest"] for r in runs]), median([r[2]["thumbnail"] for r in runs])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = truth.path.stat().st_size / 1e6
    body = f"""
Clip: {truth.duration_s:.0f} s, {truth.spec.width}x{truth.spec.height} at {truth.spec.fps} fps, H.264 + AAC,
{size_mb:.1f} MB, {len(truth.cuts)} cuts (all found: {runs[0][2]["shots"] == len(truth.cuts) + 1}). {args.runs} runs, medians.

| step | wall s | CPU s |
|---|---|---|
| baseline: PyAV decode of every frame, nothing else | {dw:.3f} | {dc:.3f} |
| ingest (hash, probe, decode + shots + keyframes + audio, writes) | {ing:.3f} | |
| thumbnail (cover score, 3 sizes, sprite) | {thumb:.3f} | |
| **ingest + thumbnail** | **{pw:.3f}** | {pc:.3f} |

Ratio to the decode-only baseline: {pw / dw:.2f}x wall. Target: under 1 s wall on 2 cores
({"met" if pw < 1.0 else "not met"}). Peak resident memory of the benchmark process: {peak_mb:.0f} MB.
Threads: {os.cpu_count()} cores available; PyAV decodes with FFmpeg's frame and slice threads.
"""
    print(body)
    write_section("ingest + thumbnail, 30 s 720p (bench/ingest_bench.py)", body)


if __name__ == "__main__":
    main()
