"""Each content analyzer on a 30 s 720p clip: wall seconds per clip and per keyframe, medians of runs.

The clip is ingested once; each analyzer then runs again and again on the stored keyframes and frame
signals (forced, so nothing is skipped as current). Baseline in the same run: reading and decoding
the keyframe JPEGs, the input every keyframe analyzer pays before any model runs.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from bench.ingest_bench import clip
from bench.report import median, write_section
from reelmind.runtime import Runtime, bootstrap
from reelmind.settings import Settings

KINDS = ("tags", "safety", "quality", "ocr", "originality", "embed")


def keyframe_load(rt: Runtime, video_id: str) -> float:
    w = time.perf_counter()
    rt.analysis.context(video_id).keyframes()
    return time.perf_counter() - w


def run(rt: Runtime, kind: str, video_id: str) -> float:
    w = time.perf_counter()
    outcome = rt.analysis.run(kind, video_id, force=True)
    elapsed = time.perf_counter() - w
    assert outcome.status == "ok", outcome
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    truth = clip()
    with tempfile.TemporaryDirectory() as tmp:
        rt = bootstrap(Settings(data_dir=Path(tmp)))
        rt.blobs.put_file("uploads/bench/clip.mp4", truth.path)
        video_id = rt.ingest.handle_upload("uploads/bench/clip.mp4").video_id
        keyframes = len(rt.results.get_results(video_id)["ingest"].payload["keyframes"])
        for kind in KINDS:  # warm up: model sessions open on first use, once per process
            run(rt, kind, video_id)
        times: dict[str, list[float]] = {k: [] for k in ("load", *KINDS)}
        for _ in range(args.runs):  # interleaved, so drift in machine load hits every row alike
            times["load"].append(keyframe_load(rt, video_id))
            for kind in KINDS:
                times[kind].append(run(rt, kind, video_id))
        ocr = rt.results.get_results(video_id)["ocr"].payload
        ocr_frames, ocr_decoded = len(ocr["frames_read_s"]), ocr["frames_decoded"]
    med = {k: median(v) for k, v in times.items()}
    trio = med["tags"] + med["safety"] + med["quality"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = "\n".join(
        f"| {kind} | {med[kind]:.3f} | {1000 * med[kind] / keyframes:.1f} | {med[kind] / med['load']:.1f}x |"
        for kind in KINDS
    )
    body = f"""
Clip: {truth.duration_s:.0f} s, {truth.spec.width}x{truth.spec.height} at {truth.spec.fps} fps, {keyframes} keyframes
(one per shot); OCR read {ocr_frames} frames. Models on onnxruntime, {Settings().model_threads} threads.
{args.runs} runs, medians, wall time including reading inputs from and writing results to the local store.

| analyzer | s per clip | ms per keyframe | vs baseline |
|---|---|---|---|
| baseline: read + decode the keyframe JPEGs | {med["load"]:.3f} | {1000 * med["load"] / keyframes:.1f} | 1.0x |
{rows}

tags + safety (without OCR) + quality: **{trio:.3f} s** per clip; target under 1 s on 2 cores:
{"met" if trio < 1.0 else "not met"}. OCR: **{med["ocr"]:.3f} s** per clip; target under 3 s:
{"met" if med["ocr"] < 3.0 else "not met"}. OCR reads one frame per stretch between abrupt changes (cuts,
captions appearing), at most {Settings().ocr_max_frames}, at {Settings().ocr_max_side} px; a stored keyframe inside the
stretch stands in, and the source is decoded again only for stretches without one (here {ocr_decoded} of {ocr_frames}).
Peak resident memory of the benchmark process: {peak_mb:.0f} MB.
"""
    print(body)
    write_section("content analyzers, 30 s 720p (bench/analyze_bench.py)", body)


if __name__ == "__main__":
    main()
