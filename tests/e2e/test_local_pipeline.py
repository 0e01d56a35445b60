"""The whole local flow through the real handlers, wired from template.yaml by the local runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reelmind import samples
from reelmind.adapters.local.events import s3_notification
from reelmind.adapters.local.runner import LambdaContext
from reelmind.domain.video import Video, VideoStatus, video_id_for_content
from reelmind.files import sha256_file
from reelmind.runtime import Runtime
from reelmind.services.ingest import CLEANUP_S
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


def _targets(envelope: dict[str, Any]) -> set[str]:
    return {f.logical_id for f in read_wiring(TEMPLATE).for_event(envelope)}


def test_template_wires_ingest_to_uploads_and_analyzers_to_their_events() -> None:
    wiring = read_wiring(TEMPLATE)
    # uploads go to the bucket's queue, which ingest polls; S3 invokes no function for them directly
    assert wiring.for_object("uploads/x/y.mp4") == []
    [queue] = wiring.queues_for_object("uploads/x/y.mp4")
    assert [(f.logical_id, t.report_batch_item_failures) for f, t in wiring.for_queue(queue)] == [
        ("IngestFunction", True)
    ]
    assert wiring.for_object("derived/v1/keyframes/000001.jpg") == []
    assert wiring.queues_for_object("derived/v1/keyframes/000001.jpg") == []
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


def _ingest(runtime: Runtime, event: dict[str, Any]) -> Any:
    assert runtime.local is not None
    spec = runtime.local.runner.wiring.functions["IngestFunction"]
    return runtime.local.runner.invoke(spec, event)


def _video_at(runtime: Runtime, key: str) -> Video:
    [video] = [v for v in runtime.results.list_videos().items if v.source_key == key]
    return video


def _sqs_batch(bodies: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """An SQS event of one message per body, shaped as the sample that Lambda's poller delivers."""
    [sample] = load_event("sqs_s3_object_created.json")["Records"]
    records = [
        {**sample, "messageId": f"msg-{i}", "receiptHandle": f"handle-{i}", "body": json.dumps(body)}
        for i, body in enumerate(bodies)
    ]
    return {"Records": records}, [r["messageId"] for r in records]


def test_the_ingest_handler_takes_a_real_sqs_event_of_an_s3_notification(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    event = load_event("sqs_s3_object_created.json")
    runtime.blobs.put_file("uploads/holiday clip 猫.mp4", clips["silent"].path)
    assert _ingest(runtime, event) == {"batchItemFailures": []}
    video = _video_at(runtime, "uploads/holiday clip 猫.mp4")
    assert video.status is VideoStatus.READY


def test_the_ingest_handler_gives_the_service_the_time_the_function_has_left(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    assert runtime.local is not None
    event = load_event("sqs_s3_object_created.json")
    runtime.blobs.put_file("uploads/holiday clip 猫.mp4", clips["silent"].path)
    spec = runtime.local.runner.wiring.functions["IngestFunction"]
    short = LambdaContext(spec.logical_id, spec.memory_mb, CLEANUP_S)  # invoked with 30 s to go
    assert runtime.local.runner.handler(spec)(event, short) == {"batchItemFailures": []}
    video = _video_at(runtime, "uploads/holiday clip 猫.mp4")
    assert video.status is VideoStatus.FAILED and video.error_code == "too_long"


def test_s3s_test_message_on_the_queue_is_acknowledged_and_ignored(runtime: Runtime) -> None:
    test_event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-11-27T12:00:00.000Z",
        "Bucket": "reelmind-media",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }
    event, _ = _sqs_batch([test_event])
    assert _ingest(runtime, event) == {"batchItemFailures": []}
    assert runtime.results.list_videos().items == []


def test_a_batch_returns_only_its_transient_failure_to_the_queue(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    # GIVEN three uploads: a good clip, a clip another worker is ingesting, and text named .mp4
    good = runtime.blobs.put_file("uploads/u1/good.mp4", clips["silent"].path)
    busy = runtime.blobs.put_file("uploads/u1/busy.mp4", clips["vertical"].path)
    bad = runtime.blobs.put_bytes("uploads/u1/bad.mp4", b"this is a text file, not a video\n" * 64)
    busy_id = video_id_for_content(sha256_file(clips["vertical"].path))
    now = runtime.ingest.clock()
    runtime.results.create_video(Video(busy_id, "uploads/u1/busy.mp4", VideoStatus.PROCESSING, now, now))
    assert runtime.results.claim(busy_id, now, 300)

    # WHEN one SQS batch brings their three notifications
    event, [_, busy_msg, _] = _sqs_batch(
        [s3_notification("local", info, "local") for info in (good, busy, bad)]
    )
    response = _ingest(runtime, event)

    # THEN only the busy one goes back to the queue, to be retried
    assert response == {"batchItemFailures": [{"itemIdentifier": busy_msg}]}
    assert _video_at(runtime, "uploads/u1/good.mp4").status is VideoStatus.READY
    still = runtime.results.get_video(busy_id)
    assert still is not None and still.status is VideoStatus.PROCESSING
    # AND the bad upload is not retried: it ended FAILED with its reason
    failed = _video_at(runtime, "uploads/u1/bad.mp4")
    assert failed.status is VideoStatus.FAILED and failed.error_code == "unsupported_media"
    assert failed.error


def test_an_upload_that_keeps_failing_transiently_is_retried_then_dead_lettered(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    assert runtime.local is not None
    # GIVEN an upload whose video another worker holds for longer than the retries last
    runtime.blobs.put_file("uploads/u1/busy.mp4", clips["silent"].path)
    video_id = video_id_for_content(sha256_file(clips["silent"].path))
    now = runtime.ingest.clock()
    runtime.results.create_video(Video(video_id, "uploads/u1/busy.mp4", VideoStatus.PROCESSING, now, now))
    assert runtime.results.claim(video_id, now, 3600)

    stats = runtime.local.drain()

    # THEN its message was delivered three times, then kept as a dead letter: the S3 notification
    assert stats.failed_attempts == 3 and stats.dead_letters == 1
    assert "IngestFunction" not in stats.by_function
    [dead] = runtime.local.queue.dead_letters()
    assert dead["target"] == "IngestFunction" and dead["channel"] == "s3"
    assert "Busy: video" in dead["error"], "the dead letter keeps the reason"
    [record] = json.loads(dead["body"])["Records"]
    assert record["s3"]["object"]["key"] == "uploads/u1/busy.mp4"
    assert runtime.local.queue.pending() == 0


def test_a_handler_that_keeps_failing_is_dead_lettered_not_looped(runtime: Runtime) -> None:
    assert runtime.local is not None
    # GIVEN "video ready" for a video whose ingest never finished (its row still says PROCESSING)
    now = runtime.ingest.clock()
    runtime.results.create_video(Video("vstuck", "uploads/u1/stuck.mp4", VideoStatus.PROCESSING, now, now))
    ready = load_event("eventbridge_video_ready.json")
    ready["detail"] = {"video_id": "vstuck"}
    runtime.local.queue.publish([ready])
    stats = runtime.local.drain()
    # THEN each subscriber that cannot work on it is tried three times, then dead-lettered with the
    # reason (subtitles have nothing to do without an ingest result, so that one just returns)
    failing = VIDEO_READY_SUBSCRIBERS - {"TranscribeFunction"}
    assert stats.failed_attempts == 3 * len(failing) and stats.dead_letters == len(failing)
    dead = runtime.local.queue.dead_letters()
    assert {d["target"] for d in dead} == failing
    assert all(("Busy" in d["error"]) != (d["target"] == "ThumbnailFunction") for d in dead)
    assert all(json.loads(d["body"])["detail"]["video_id"] == "vstuck" for d in dead)
    assert runtime.local.queue.pending() == 0


def test_events_about_a_deleted_video_are_no_ops(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    """Deleted after its "video ready" was sent: every subscriber does nothing, and nothing is dead-lettered
    (retrying cannot help, and dead letters for it would hide real failures)."""
    assert runtime.local is not None
    runtime.blobs.put_file("uploads/u1/gone.mp4", clips["silent"].path)
    outcome = runtime.ingest.handle_upload("uploads/u1/gone.mp4")  # its notification waits in the queue
    runtime.catalog.delete(outcome.video_id, lambda _: None)
    stats = runtime.local.drain()
    assert stats.failed_attempts == 0 and stats.dead_letters == 0
    assert set(stats.by_function) >= VIDEO_READY_SUBSCRIBERS
    assert runtime.results.get_video(outcome.video_id) is None
    assert runtime.results.get_results(outcome.video_id) == {}
    assert list(runtime.blobs.list(f"derived/{outcome.video_id}/")) == []
