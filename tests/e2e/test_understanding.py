"""Content understanding end to end: real clips through ingest and every analyzer on the local backend."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reelmind import samples
from reelmind.errors import NotFound
from reelmind.runtime import Runtime
from tests.conftest import local_runtime, upload


@pytest.fixture(scope="module")
def understood(
    tmp_path_factory: pytest.TempPathFactory, clips: dict[str, samples.ClipTruth]
) -> Iterator[tuple[Runtime, dict[str, str]]]:
    """Every fixture clip (standard, on-screen text, single photos and a test pattern), processed once."""
    folder = tmp_path_factory.mktemp("understanding")
    black = samples.ClipSpec("black", (samples.Segment("black", 50, "still"),), audio=None)
    black = samples.ClipSpec("black", (samples.Segment("black", 50, "still"),), audio=None)
    extra = {
        s.name: samples.write_clip(s, folder / f"{s.name}.mp4")
        for s in [*samples.text_specs(), *samples.photo_specs(), black]
    }
    with local_runtime(folder) as runtime:
        ids = {
            name: upload(runtime, f"uploads/{name}/{name}.mp4", clip.path)
            for name, clip in {**clips, **extra}.items()
        }
        yield runtime, ids


def _results(understood: tuple[Runtime, dict[str, str]], name: str) -> dict[str, Any]:
    runtime, ids = understood
    return {k: r.payload for k, r in runtime.results.get_results(ids[name]).items()}


def _categories(tags: dict[str, Any]) -> set[str]:
    return {child["id"] for top in tags["categories"] for child in top["children"]}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo_chelsea", {"animals/cat"}),
        ("photo_coffee", {"food/coffee"}),
        ("photo_rocket", {"vehicles/spacecraft", "vehicles/aircraft", "objects/weapons"}),
    ],
)
def test_photos_get_their_first_and_second_level_categories(
    understood: tuple[Runtime, dict[str, str]], name: str, expected: set[str]
) -> None:
    tags = _results(understood, name)["tags"]
    top = tags["categories"][0]
    assert f"{top['id']}/{top['children'][0]['id'].split('/')[-1]}" in expected or (
        top["children"][0]["id"] in expected
    ), tags["categories"]
    assert top["zh"] and top["en"] and top["children"][0]["zh"]
    assert tags["model"].startswith("efficientnet-lite0@")


def test_a_clip_of_several_scenes_gets_each_scene_s_category(
    understood: tuple[Runtime, dict[str, str]],
) -> None:
    cats = _categories(_results(understood, "vertical")["tags"])  # chelsea, then coffee
    assert {"animals/cat", "food/coffee"} <= cats


def test_a_test_pattern_gets_no_confident_category(understood: tuple[Runtime, dict[str, str]]) -> None:
    tags = _results(understood, "photo_bars")["tags"]
    assert all(child["score"] < 0.5 for top in tags["categories"] for child in top["children"]), tags


def _char_accuracy(expected: str, got: str) -> float:
    matcher = difflib.SequenceMatcher(None, expected, got, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(expected)


def test_ocr_reads_chinese_and_english_on_screen_text(understood: tuple[Runtime, dict[str, str]]) -> None:
    ocr = _results(understood, "text")["ocr"]
    read = [line["text"] for line in ocr["lines"]]
    for start, lines in zip((0.0, 2.0, 4.0), samples.TEXT_LINES, strict=True):
        for line in lines:
            best = max(read, key=lambda r, line=line: _char_accuracy(line, r))
            assert _char_accuracy(line, best) >= 0.85, (line, read)  # found, at most one slip in a line
            [found] = [x for x in ocr["lines"] if x["text"] == best]
            assert start <= found["start_s"] < start + 2.0, (line, found)
    expected = "".join("".join(lines) for lines in samples.TEXT_LINES).replace(" ", "")
    got = "".join(read).replace(" ", "")
    assert _char_accuracy(expected, got) >= 0.95


def test_a_banned_term_on_screen_blocks_the_video_with_its_time(
    understood: tuple[Runtime, dict[str, str]],
) -> None:
    runtime, ids = understood
    results = _results(understood, "banned_text")
    safety = results["safety"]
    assert results["ocr"]["frames_decoded"] >= 1, "the caption changed inside a shot: no keyframe shows it"
    assert _results(understood, "photo_coffee")["ocr"]["frames_decoded"] == 0, "keyframes stand in"
    assert safety["action"] in {"block", "review"}
    [reason] = [r for r in safety["reasons"] if r["kind"] == "term"]
    assert "网络赌博" in reason["label"] and all(4.0 <= t < 6.0 for t in reason["times_s"]), reason
    video = runtime.results.get_video(ids["banned_text"])
    assert video is not None and video.moderation is not None and video.moderation.value == safety["action"]


def test_every_benign_clip_is_allowed(understood: tuple[Runtime, dict[str, str]]) -> None:
    _, ids = understood
    verdicts = {name: _results(understood, name)["safety"]["action"] for name in ids if name != "banned_text"}
    assert set(verdicts.values()) == {"allow"}, verdicts


def test_quality_scores_every_clip_with_its_parts(understood: tuple[Runtime, dict[str, str]]) -> None:
    _, ids = understood
    for name in ids:
        quality = _results(understood, name)["quality"]
        assert 0 <= quality["score"] <= 100
        assert {"sharpness", "exposure", "noise", "resolution", "bitrate", "frame_rate", "shake"} <= set(
            quality["parts"]
        )


def test_cuts_and_new_captions_are_not_camera_shake(understood: tuple[Runtime, dict[str, str]]) -> None:
    for name in ("text", "banned_text", "cuts"):
        issues = _results(understood, name)["quality"]["issues"]
        assert not [i for i in issues if i["kind"] == "shake"], (name, issues)


def test_an_all_black_video_is_judged_not_crashed(understood: tuple[Runtime, dict[str, str]]) -> None:
    results = _results(understood, "black")
    assert all(results[k]["status"] == "ok" for k in ("tags", "ocr", "safety", "quality", "originality")), (
        results
    )
    quality = results["quality"]
    assert quality["score"] < 20 and any(i["kind"] == "black" for i in quality["issues"])
    assert results["tags"]["categories"] == [] and results["ocr"]["lines"] == []
    assert results["safety"]["action"] == "allow"


def test_frames_too_small_or_too_large_are_typed_refusals(runtime: Runtime, tmp_path: Path) -> None:
    for name, (width, height), code in [
        ("tiny", (16, 16), "frame_too_small"),
        ("huge", (7680, 64), "frame_too_large"),
    ]:
        spec = samples.ClipSpec(
            name, (samples.Segment("bars", 5, "still"),), width=width, height=height, fps=5, audio=None
        )
        clip = samples.write_clip(spec, tmp_path / f"{name}.mp4")
        runtime.blobs.put_file(f"uploads/{name}.mp4", clip.path)
        outcome = runtime.ingest.handle_upload(f"uploads/{name}.mp4")
        assert (outcome.status.value, outcome.error_code) == ("FAILED", code)
        with pytest.raises(NotFound):
            runtime.analysis.run("quality", outcome.video_id)


def test_results_name_their_model_versions(understood: tuple[Runtime, dict[str, str]]) -> None:
    runtime, ids = understood
    results = runtime.results.get_results(ids["cuts"])
    assert "efficientnet-lite0@imagenet1k-1" in results["tags"].version
    assert "open-nsfw@1" in results["safety"].version and "nudenet-320n@3.4" in results["safety"].version
    assert "ppocr-rec@v6-small" in results["ocr"].version


def test_the_api_shows_every_result(understood: tuple[Runtime, dict[str, str]], tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from reelmind.api.app import create_app

    runtime, ids = understood
    body = TestClient(create_app(runtime)).get(f"/videos/{ids['text']}").json()
    assert {"tags", "ocr", "safety", "quality", "originality"} <= set(body["results"])
    assert body["moderation"] == "allow"
