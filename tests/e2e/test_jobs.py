"""Heavy jobs end to end on the local backend: the real engines run in worker processes through the
same entry points a SageMaker endpoint runs (infra/sagemaker/<kind>/inference.py); completion comes
back through jobs/<id>.out and the template-wired job_complete handler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import pytest
import srt
from fastapi.testclient import TestClient

from reelmind import samples
from reelmind.api.app import create_app
from reelmind.runtime import Runtime
from tests.conftest import local_runtime, upload

Setup = tuple[Runtime, dict[str, str]]


@pytest.fixture(scope="module")
def uploaded(
    tmp_path_factory: pytest.TempPathFactory, clips: dict[str, samples.ClipTruth]
) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("jobs")
    with local_runtime(folder) as runtime:
        yield (
            runtime,
            {
                name: upload(runtime, f"uploads/{name}/clip.mp4", clips[name].path)
                for name in ("speech", "cuts")
            },
        )


def _stream_facts(path: Path) -> tuple[int, float, bool]:
    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.decode(video=0))
        duration = float(c.duration or 0) / av.time_base
        return frames, duration, bool(c.streams.audio)


def test_videos_with_audio_get_subtitles_that_feed_safety_and_search(uploaded: Setup) -> None:
    runtime, ids = uploaded
    results = runtime.results.get_results(ids["speech"])
    asr = results["asr"].payload
    assert "dashwood" in asr["text"].lower(), asr["text"]
    cues = list(srt.parse(runtime.blobs.get_bytes(asr["outputs"]["srt"]).decode()))
    assert cues and cues[0].start.total_seconds() < 1.0
    assert runtime.blobs.get_bytes(asr["outputs"]["vtt"]).startswith(b"WEBVTT")
    assert "asr:" in results["safety"].version and "transcript" in results["safety"].payload["inputs"]
    assert "asr:" in results["embed"].version
    found, _ = runtime.search.search("Dashwood")
    assert found and found[0].video_id == ids["speech"]


def test_text_to_speech_through_the_api(uploaded: Setup) -> None:
    runtime, _ = uploaded
    client = TestClient(create_app(runtime))
    created = client.post(
        "/jobs", json={"type": "tts", "params": {"text": "Hello from ReelMind. This is a test."}}
    )
    assert created.status_code == 202, created.text
    assert runtime.local is not None
    runtime.local.drain()
    job = client.get(f"/jobs/{created.json()['job_id']}").json()
    assert job["status"] == "succeeded", job
    with av.open(str(runtime.local.blob_root / job["outputs"]["m4a"])) as c:
        assert c.streams.audio[0].codec_context.name == "aac" and 1.0 < float(c.duration) / av.time_base < 6.0


@pytest.mark.parametrize(
    ("kind", "params", "clip"),
    [("voice", {"preset": "deeper"}, "speech"), ("stylize", {"style": "cartoon"}, "cuts")],
)
def test_video_jobs_keep_frames_duration_and_audio(
    uploaded: Setup, kind: str, params: dict[str, str], clip: str
) -> None:
    runtime, ids = uploaded
    assert runtime.local is not None
    job = runtime.jobs.create(kind, ids[clip], params)
    runtime.local.drain()
    done = runtime.jobs.get(job.job_id)
    assert done.status.value == "succeeded", (done.error_code, done.error)
    progress = runtime.blobs.get_bytes(f"jobs/{job.job_id}/progress.json")
    assert b'"progress": 1.0' in progress, "the worker reported its progress"
    source = _stream_facts(runtime.local.blob_root / f"uploads/{clip}/clip.mp4")
    output = _stream_facts(runtime.local.blob_root / done.outputs["video"])
    assert output[0] == source[0] and output[2] == source[2]
    assert output[1] == pytest.approx(source[1], rel=0.01, abs=0.05)


def test_subtitles_burned_into_the_video(uploaded: Setup) -> None:
    runtime, ids = uploaded
    assert runtime.local is not None
    job = runtime.jobs.create("asr", ids["speech"], {"burn_in": True})
    runtime.local.drain()
    done = runtime.jobs.get(job.job_id)
    assert done.status.value == "succeeded", (done.error_code, done.error)
    source = runtime.local.blob_root / "uploads/speech/clip.mp4"
    burned = runtime.local.blob_root / done.outputs["video"]
    assert _stream_facts(burned)[0] == _stream_facts(source)[0] and _stream_facts(burned)[2]
    with av.open(str(source)) as a, av.open(str(burned)) as b:
        pairs = zip(a.decode(video=0), b.decode(video=0), strict=False)
        diffs = [
            float(
                abs(fa.to_ndarray(format="gray").astype(int) - fb.to_ndarray(format="gray").astype(int))[
                    -60:
                ].mean()
            )
            for i, (fa, fb) in enumerate(pairs)
            if i == 15
        ]
    assert diffs and diffs[0] > 5.0, "a cue is drawn in the lower part of the picture while words are spoken"
