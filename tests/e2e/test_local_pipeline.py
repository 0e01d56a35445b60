"""The whole local flow through the real handlers, wired from template.yaml by the local runner."""

from __future__ import annotations

import json
from pathlib import Path

from reelmind import samples
from reelmind.adapters.local.events import s3_notification
from reelmind.runtime import Runtime
from reelmind.wiring import read_wiring
from tests.conftest import ALL_RESULTS, load_event

TEMPLATE = Path(__file__).parents[2] / "template.yaml"


VIDEO_READY_SUBSCRIBERS = {
    "ThumbnailFunction",
    "TagsFunction",
    "OcrFunction",
    "QualityFunction",
    "OriginalityFunction",
    "TranscribeFunction",
}


def _targets(envelope: dict) -> set[str]:
    return {f.logical_id for f in read_wiring(TEMPLATE).for_event(envelope)}


def test_template_wires_ingest_to_uploads_and_analyzers_to_their_events() -> None:
    wiring = read_wiring(TEMPLATE)
    assert [f.logical_id for f in wiring.for_object("uploads/x/y.mp4")] == ["IngestFunction"]
    assert wiring.for_object("derived/v1/keyframes/000001.jpg") == []
    ready = load_event("eventbridge_video_ready.json")
    assert _targets(ready) == VIDEO_READY_SUBSCRIBERS
    assert _targets({**ready, "detail-type": "SomethingElse"}) == set()
    completed = {**ready, "detail-type": "AnalysisCompleted"}
    assert _targets({**completed, "detail": {"video_id": "v1", "kind": "ocr"}}) == {
        "SafetyFunction",
        "EmbedFunction",
    }
    # the feed's features follow every result they are built from, and nothing else
    for kind in ("tags", "quality", "embed", "safety", "originality"):
        assert _targets({**completed, "detail": {"video_id": "v1", "kind": kind}}) == {"FeaturesFunction"}
    assert _targets({**completed, "detail": {"video_id": "v1", "kind": "thumbnail"}}) == set()
    requested = {**ready, "detail-type": "AnalysisRequested"}
    assert _targets({**requested, "detail": {"video_id": "v1", "kinds": ["tags", "safety"]}}) == {
        "TagsFunction",
        "SafetyFunction",
    }
    for spec in wiring.functions.values():
        assert spec.module_path.is_file(), spec


def test_an_upload_flows_through_ingest_and_every_analyzer(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    assert runtime.local is not None
    runtime.blobs.put_file("uploads/u1/cuts.mp4", clips["cuts"].path)
    stats = runtime.local.drain()
    # safety and embed run once after ocr and once more after the transcript (the asr job) arrives
    assert stats.by_function == {
        **dict.fromkeys(VIDEO_READY_SUBSCRIBERS | {"IngestFunction", "JobCompleteFunction"}, 1),
        "SafetyFunction": 2,
        "EmbedFunction": 2,
        # once per announced result it reads: tags, quality, originality, and safety and embed twice each
        "FeaturesFunction": 7,
    }
    assert stats.dead_letters == 0
    [video] = runtime.results.list_videos().items
    assert video.status.value == "READY" and video.moderation is not None
    results = runtime.results.get_results(video.video_id)
    assert set(results) == ALL_RESULTS
    assert all(r.payload.get("status", "ok") == "ok" for r in results.values())
    assert "ocr:" in results["safety"].version, "safety ran after the on-screen text was read"
    assert "asr:" in results["safety"].version, "and again with the transcript"


def test_duplicate_and_same_bytes_events_leave_one_video_and_one_result_set(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    assert runtime.local is not None
    info = runtime.blobs.put_file("uploads/u1/cuts.mp4", clips["cuts"].path)
    runtime.local.drain()
    [video] = runtime.results.list_videos().items
    before = {
        k: (r.version, r.created_at, r.payload)
        for k, r in runtime.results.get_results(video.video_id).items()
    }
    files_before = sorted((b.key, b.etag) for b in runtime.blobs.list("derived/"))

    runtime.local.queue.publish_raw("s3", s3_notification("local", info, "local"))  # S3 delivers it again
    runtime.blobs.put_file("uploads/u2/the same clip.mp4", clips["cuts"].path)  # same bytes, new key
    stats = runtime.local.drain()

    assert stats.dead_letters == 0
    assert [v.video_id for v in runtime.results.list_videos().items] == [video.video_id]
    after = {
        k: (r.version, r.created_at, r.payload)
        for k, r in runtime.results.get_results(video.video_id).items()
    }
    assert after == before
    assert sorted((b.key, b.etag) for b in runtime.blobs.list("derived/")) == files_before
    stored = runtime.results.get_video(video.video_id)
    assert stored is not None and stored.aliases == ["uploads/u2/the same clip.mp4"]


def test_the_ingest_handler_takes_a_real_s3_event(
    runtime: Runtime, clips: dict[str, samples.ClipTruth], lambda_context: object
) -> None:
    assert runtime.local is not None
    event = load_event("s3_object_created.json")
    runtime.blobs.put_file("uploads/holiday clip 猫.mp4", clips["silent"].path)
    spec = runtime.local.runner.wiring.functions["IngestFunction"]
    [outcome] = runtime.local.runner.invoke(spec, event)
    assert outcome["status"] == "READY"
    video = runtime.results.get_video(outcome["video_id"])
    assert video is not None and video.source_key == "uploads/holiday clip 猫.mp4"


def test_a_handler_that_keeps_failing_is_dead_lettered_not_looped(runtime: Runtime) -> None:
    assert runtime.local is not None
    ready = load_event("eventbridge_video_ready.json")
    ready["detail"] = {"video_id": "vdoesnotexist"}
    runtime.local.queue.publish([ready])
    stats = runtime.local.drain()
    subscribers = len(VIDEO_READY_SUBSCRIBERS)
    assert stats.failed_attempts == 3 * subscribers and stats.dead_letters == subscribers
    dead = runtime.local.queue.dead_letters()
    assert {d["target"] for d in dead} == VIDEO_READY_SUBSCRIBERS
    assert all("NotFound" in d["error"] for d in dead)
    assert all(json.loads(d["body"])["detail"]["video_id"] == "vdoesnotexist" for d in dead)
    assert runtime.local.queue.pending() == 0
