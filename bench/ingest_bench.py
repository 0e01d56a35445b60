"""Ingest + thumbnail on a 30 s 720p clip: wall and CPU seconds, median of several runs.

Baseline in the same run: decoding every frame of the same file with PyAV and doing nothing else,
which is the floor any ingest that looks at every frame must pay.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import av

from bench.report import median, write_section
from reelmind import samples
from reelmind.media.scan import ScanConfig
from reelmind.runtime import bootstrap
from reelmind.settings import Settings

CACHE = Path(__file__).resolve().parents[1] / "var" / "bench"


def clip() -> samples.ClipTruth:
    spec = samples.bench_spec(30)
    path = CACHE / f"{spec.name}.mp4"
    if path.exists():
        return samples.truth(spec, path)
    print(f"generating {path} (once) ...", flush=True)
    return samples.write_clip(spec, path)


def decode_only(path: Path, thread_type: str) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = thread_type
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
    threads = ScanConfig().thread_type
    base, auto, runs = [], [], []
    for _ in range(args.runs):  # interleaved, so drift in machine load hits every column alike
        base.append(decode_only(truth.path, threads))
        auto.append(decode_only(truth.path, "AUTO"))
        runs.append(pipeline(truth.path))
    dw, dc = median([b[0] for b in base]), median([b[1] for b in base])
    aw, ac = median([b[0] for b in auto]), median([b[1] for b in auto])
    pw, pc = median([r[0] for r in runs]), median([r[1] for r in runs])
    ing, thumb = median([r[2]["ingest"] for r in runs]), median([r[2]["thumbnail"] for r in runs])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = truth.path.stat().st_size / 1e6
    body = f"""
Clip: {truth.duration_s:.0f} s, {truth.spec.width}x{truth.spec.height} at {truth.spec.fps} fps, H.264 + AAC,
{size_mb:.1f} MB, {len(truth.cuts)} cuts (all found: {runs[0][2]["shots"] == len(truth.cuts) + 1}). {args.runs} runs, medians.

| step | wall s | CPU s |
|---|---|---|
| baseline: PyAV decode of every frame, nothing else ({threads} threads, as ingest) | {dw:.3f} | {dc:.3f} |
| the same with FFmpeg's AUTO (frame + slice) threads | {aw:.3f} | {ac:.3f} |
| ingest (hash, probe, decode + shots + keyframes + audio, writes) | {ing:.3f} | |
| thumbnail (cover score, 3 sizes, sprite) | {thumb:.3f} | |
| **ingest + thumbnail** | **{pw:.3f}** | {pc:.3f} |

Ratio to the decode-only baseline: {pw / dw:.2f}x wall. Target: under 1 s wall on 2 cores
({"met" if pw < 1.0 else "not met"}). Peak resident memory of the benchmark process: {peak_mb:.0f} MB.
Decoding every frame is the floor for cut detection to the frame, and on this machine it alone
takes about {dw:.1f} s: the 1 s target needs either fewer decoded frames or more cores. Skipping
H.264 deblocking (`skip_loop_filter`) saves about a fifth of decode time but leaves blocking in
keyframes and covers, so it is not used.
"""
    print(body)
    write_section("ingest + thumbnail, 30 s 720p (bench/ingest_bench.py)", body)


if __name__ == "__main__":
    main()
