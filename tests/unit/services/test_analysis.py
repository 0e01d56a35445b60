"""Running analyzers: versions, stored failures, reanalysis, and the pure helpers they use."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reelmind import samples
from reelmind.errors import Busy, ConfigError, CorruptMedia, NotFound
from reelmind.media import grab
from reelmind.media.signals import Signals
from reelmind.runtime import Runtime, bootstrap
from reelmind.services.analyzers import merge_lines
from reelmind.settings import Settings


def _ingested(runtime: Runtime, clip: samples.ClipTruth, key: str = "uploads/a/clip.mp4") -> str:
    assert runtime.local is not None
    runtime.blobs.put_file(key, clip.path)
    runtime.local.drain()
    [video] = runtime.results.list_videos(limit=1).items
    return video.video_id


def test_an_unreadable_keyframe_is_a_stored_failure_not_a_crash(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    video_id = _ingested(runtime, clips["silent"])
    keyframe = runtime.results.get_results(video_id)["ingest"].payload["keyframes"][0]["key"]
    runtime.blobs.put_bytes(keyframe, b"\xff\xd8 not a jpeg")
    outcome = runtime.analysis.run("tags", video_id, force=True)
    assert outcome.status == "failed"
    stored = runtime.results.get_results(video_id)["tags"].payload
    assert stored["status"] == "failed" and stored["error"]["code"] == CorruptMedia.code
    assert "could not be decoded" in stored["error"]["message"]


def test_a_current_result_is_not_recomputed_unless_forced(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    video_id = _ingested(runtime, clips["silent"])
    before = runtime.results.get_results(video_id)["quality"]
    assert runtime.analysis.run("quality", video_id).status == "unchanged"
    assert runtime.results.get_results(video_id)["quality"] == before
    assert runtime.analysis.run("quality", video_id, force=True).status == "ok"
    assert runtime.results.get_results(video_id)["quality"].created_at > before.created_at


def test_quality_of_a_phone_video_stored_on_its_side_is_that_of_the_same_video_stored_upright(
    runtime: Runtime, clips: dict[str, samples.ClipTruth], tmp_path: Path
) -> None:
    phone = clips["phone"]
    upright = samples.write_clip(replace(phone.spec, name="upright", rotation=0), tmp_path / "upright.mp4")
    reports = []
    for key, clip in (("uploads/phone.mp4", phone), ("uploads/upright.mp4", upright)):
        runtime.blobs.put_file(key, clip.path)
        video_id = runtime.ingest.handle_upload(key).video_id
        assert runtime.analysis.run("quality", video_id).status == "ok"
        reports.append(runtime.results.get_results(video_id)["quality"].payload)
    sideways, straight = (r["parts"]["shake"] for r in reports)
    # A steady clip: both read at the phase correlation's noise floor, well under any penalty.
    assert sideways["score"] == straight["score"] == 100
    assert sideways["value"] == pytest.approx(straight["value"], abs=0.1)
    assert not [i for r in reports for i in r["issues"] if i["kind"] == "shake"]
    assert reports[0]["parts"]["resolution"] == reports[1]["parts"]["resolution"]


def test_analyzing_a_video_that_is_not_ready(runtime: Runtime) -> None:
    # Deleted (or never there): nothing to do, and nothing to retry.
    assert runtime.analysis.run("tags", "vmissing").status == "gone"
    assert runtime.results.get_results("vmissing") == {}
    with pytest.raises(NotFound, match="no analyzer"):
        runtime.analysis.run("horoscope", "vmissing")
    from reelmind.domain.video import Video, VideoStatus

    runtime.results.create_video(Video("vbusy", "uploads/b.mp4", VideoStatus.PROCESSING, 1.0, 1.0))
    with pytest.raises(Busy):
        runtime.analysis.run("tags", "vbusy")


def test_reanalyze_finds_results_of_an_old_version_and_redoes_them(
    settings: Settings, clips: dict[str, samples.ClipTruth], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = bootstrap(settings)
    video_id = _ingested(runtime, clips["silent"])
    assert list(runtime.analysis.stale()) == []
    # GIVEN a deployment that changes a tag threshold (handlers read their settings from the environment)
    monkeypatch.setenv("REELMIND_TAG_THRESHOLDS", "missile=0.9")
    changed = bootstrap(Settings.from_env())
    old = changed.results.get_results(video_id)["tags"].version
    # THEN its tags are stale, and only those
    assert list(changed.analysis.stale()) == [(video_id, ["tags"])]
    # WHEN reanalysis is requested and the queue drains
    changed.analysis.request(video_id, ["tags"])
    assert changed.local is not None
    stats = changed.local.drain()
    # only tags reruns; the feed's features follow the new tags result
    assert stats.by_function == {"TagsFunction": 1, "FeaturesFunction": 1}
    assert changed.results.get_results(video_id)["tags"].version != old
    assert list(changed.analysis.stale()) == []


def test_reanalysis_skips_a_video_being_deleted_as_it_lists(runtime: Runtime) -> None:
    from reelmind.domain.video import Video, VideoStatus

    # A delete removes the results, then the row: listed READY, nothing left to read.
    runtime.results.create_video(Video("vgoing", "uploads/g.mp4", VideoStatus.READY, 1.0, 1.0))
    assert list(runtime.analysis.stale()) == []


def test_a_request_for_an_unknown_analyzer_is_refused(runtime: Runtime) -> None:
    with pytest.raises(NotFound):
        runtime.analysis.request("v1", ["tags", "astrology"])


def test_merge_lines_keeps_one_line_per_text_with_every_time() -> None:
    seen = [
        (2.0, "Hello World", 0.9, (0, 0, 10, 10)),
        (0.5, "Hello  world!", 0.95, (1, 1, 10, 10)),
        (1.0, "你好世界", 0.99, (0, 20, 10, 10)),
        (3.0, "x", 0.99, (0, 0, 1, 1)),
    ]
    lines = merge_lines(seen, ratio=0.8)
    assert [(line["text"], line["times_s"]) for line in lines] == [
        ("Hello  world!", [0.5, 2.0]),
        ("你好世界", [1.0]),
    ]
    assert lines[0]["start_s"] == 0.5 and lines[0]["end_s"] == 2.0


def test_stable_samples_pick_each_caption_and_skip_flashes() -> None:
    times = np.arange(100) / 25.0
    features = np.full((100, 36, 64), 40, np.uint8)
    features[50:, 10:20, 10:40] = 230  # a caption appears at 2 s on the same background
    features[80, :, :] = 255  # a one-frame flash
    picks = [i for i, _ in grab.stable_samples(times, features, max_frames=6)]
    assert any(i < 50 for i in picks) and any(50 < i < 80 for i in picks)
    assert 80 not in picks
    assert [i for i, _ in grab.stable_samples(times, features, max_frames=1)] == [picks[0]]
    assert grab.stretches(features) == [(0, 50), (50, 80), (80, 81), (81, 100)]
    assert grab.stable_samples(times[:0], features[:0], max_frames=6) == []


def test_frame_changes_of_pictures_smaller_than_the_block_grid_are_finite() -> None:
    tiny = np.array([[[0, 10, 20]], [[200, 10, 20]], [[200, 10, 20]]], np.uint8)  # 3 frames of 1x3
    changes = grab.frame_changes(tiny)
    assert np.all(np.isfinite(changes)) and changes.tolist() == [0.0, 200.0, 0.0]
    assert grab.stretches(tiny, change=50.0, contrast=0.0) == [(0, 1), (1, 3)]


def test_signals_round_trip_and_reject_garbage() -> None:
    s = Signals(
        np.arange(3) / 15.0, np.zeros(3, np.float32), np.zeros((3, 36, 64), np.uint8), np.arange(3) * 2
    )
    back = Signals.from_bytes(s.to_bytes())
    assert np.array_equal(back.times, s.times) and back.features.shape == (3, 36, 64)
    assert np.array_equal(back.frames, [0, 2, 4])
    with pytest.raises(CorruptMedia):
        Signals.from_bytes(b"garbage")


@pytest.mark.parametrize("raw", ["maze", "maze=2", "=0.5", "maze=abc"])
def test_tag_thresholds_in_the_environment_are_checked(raw: str) -> None:
    with pytest.raises(ConfigError, match="REELMIND_TAG_THRESHOLDS"):
        Settings.from_env({"REELMIND_TAG_THRESHOLDS": raw})
    assert Settings.from_env({"REELMIND_TAG_THRESHOLDS": "maze=0.9, tabby_cat=0.2"}).tag_thresholds == {
        "maze": 0.9,
        "tabby_cat": 0.2,
    }
