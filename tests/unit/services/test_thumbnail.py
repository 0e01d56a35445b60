"""The cover is a good frame: never black, never inside a dissolve or fade, never on a cut."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reelmind import samples
from reelmind.media import encode
from reelmind.media.frames import frame_quality, luma_of
from reelmind.media.resize import shrink
from reelmind.runtime import Runtime
from reelmind.samples import ClipSpec, Segment
from reelmind.services.thumbnail import cover_score

HARD_CASES = [
    ClipSpec(
        "mostly_black", (Segment("black", 60, "still"), Segment("coffee", 20), Segment("black", 60, "still"))
    ),
    ClipSpec(
        "mostly_dissolve",
        (
            Segment("astronaut", 14),
            Segment("rocket", 40, "zoom", "dissolve", 30),
            Segment("chelsea", 14, "pan", "dissolve", 12),
        ),
    ),
    ClipSpec(
        "fade_heavy",
        (Segment("chelsea", 16), Segment("coffee", 50, "zoom", "fade", 20), Segment("black", 10, "still")),
    ),
]


def _cover(runtime: Runtime, path: Path) -> tuple[dict, dict]:
    key = f"uploads/{path.stem}/{path.name}"
    runtime.blobs.put_file(key, path)
    result = runtime.ingest.handle_upload(key)
    assert result.status.value == "READY", result
    payload = runtime.thumbnail.handle_video_ready(result.video_id)
    assert payload is not None
    return payload, runtime.results.get_results(result.video_id)["ingest"].payload


def _check_cover(runtime: Runtime, clip: samples.ClipTruth) -> None:
    payload, ingest = _cover(runtime, clip.path)
    frame = payload["cover"]["frame"]
    for start, end in clip.blends:
        assert not start <= frame < end, (
            f"{clip.spec.name}: cover frame {frame} is inside blend {start}-{end}"
        )
    for cut in clip.cuts:
        assert abs(frame - cut) > 1, f"{clip.spec.name}: cover frame {frame} is on the cut at {cut}"
    image = encode.decode_image(runtime.blobs.get_bytes(payload["cover"]["sizes"][0]["key"]))
    assert image is not None
    quality = frame_quality(luma_of(image))
    assert not quality.black and not quality.flat, f"{clip.spec.name}: the cover is a black or blank frame"
    assert len(ingest["keyframes"]) == len(payload["sprite"]["times_s"])


@pytest.mark.parametrize("name", ["cuts", "transitions", "silent", "vertical", "speech"])
def test_cover_on_the_standard_clips(
    runtime: Runtime, clips: dict[str, samples.ClipTruth], name: str
) -> None:
    _check_cover(runtime, clips[name])


@pytest.mark.parametrize("spec", HARD_CASES, ids=lambda s: s.name)
def test_cover_avoids_black_and_blends_when_they_dominate(
    runtime: Runtime, tmp_path: Path, spec: ClipSpec
) -> None:
    clip = samples.write_clip(spec, tmp_path / f"{spec.name}.mp4")
    _check_cover(runtime, clip)


@pytest.mark.parametrize("frames", [1, 5, 10, 16])
def test_a_clip_of_a_few_frames_still_gets_a_cover(runtime: Runtime, tmp_path: Path, frames: int) -> None:
    """Shorter than a second, a clip may have no keyframe candidate away from its edges."""
    spec = ClipSpec(f"blink{frames}", (Segment("coffee", frames, "zoom"),), audio=None)
    clip = samples.write_clip(spec, tmp_path / f"{spec.name}.mp4")
    payload, ingest = _cover(runtime, clip.path)
    assert len(ingest["keyframes"]) == 1
    assert 0 <= payload["cover"]["frame"] < frames
    image = encode.decode_image(runtime.blobs.get_bytes(payload["cover"]["sizes"][0]["key"]))
    assert image is not None and image.shape[:2] == (spec.height, spec.width)


def test_sizes_and_sprite_are_real_images(runtime: Runtime, clips: dict[str, samples.ClipTruth]) -> None:
    payload, ingest = _cover(runtime, clips["cuts"].path)
    widths = [s["width"] for s in payload["cover"]["sizes"]]
    assert widths == sorted(set(widths), reverse=True) and widths[0] == 320
    for size in payload["cover"]["sizes"]:
        img = encode.decode_image(runtime.blobs.get_bytes(size["key"]))
        assert img is not None and img.shape[1] == size["width"] and img.shape[0] == size["height"]
    sprite = encode.decode_image(runtime.blobs.get_bytes(payload["sprite"]["key"]))
    assert sprite is not None
    tiles = len(ingest["keyframes"])
    assert sprite.shape[1] == payload["sprite"]["tile_width"] * min(tiles, payload["sprite"]["columns"])


def test_thumbnail_is_idempotent(runtime: Runtime, clips: dict[str, samples.ClipTruth]) -> None:
    payload, _ = _cover(runtime, clips["silent"].path)
    video_id = next(iter(runtime.results.list_videos().items)).video_id
    first = runtime.results.get_results(video_id)["thumbnail"].created_at
    again = runtime.thumbnail.handle_video_ready(video_id)
    assert again == payload
    assert runtime.results.get_results(video_id)["thumbnail"].created_at == first


def test_each_sprite_tile_is_its_keyframe_in_order(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    payload, ingest = _cover(runtime, clips["cuts"].path)
    sprite = encode.decode_image(runtime.blobs.get_bytes(payload["sprite"]["key"]))
    assert sprite is not None
    w, h, cols = (
        payload["sprite"]["tile_width"],
        payload["sprite"]["tile_height"],
        payload["sprite"]["columns"],
    )
    keyframes = [encode.decode_image(runtime.blobs.get_bytes(kf["key"])) for kf in ingest["keyframes"]]
    assert len(keyframes) > 2 and payload["cover"]["frame"] in [kf["frame"] for kf in ingest["keyframes"]]
    for i, keyframe in enumerate(keyframes):
        assert keyframe is not None
        r, c = divmod(i, cols)
        tile = sprite[r * h : (r + 1) * h, c * w : (c + 1) * w].astype(int)
        diffs = [np.abs(tile - shrink(k, w, h).astype(int)).mean() for k in keyframes if k is not None]
        assert int(np.argmin(diffs)) == i and diffs[i] < 6


def test_older_results_without_stored_quality_are_scored_from_the_keyframes(
    runtime: Runtime, clips: dict[str, samples.ClipTruth]
) -> None:
    payload, _ = _cover(runtime, clips["transitions"].path)
    video_id = next(iter(runtime.results.list_videos().items)).video_id
    ingest = runtime.results.get_results(video_id)["ingest"]
    for kf in ingest.payload["keyframes"]:
        del kf["quality"]
    runtime.results.put_result(replace(ingest, version="ingest-3"))
    runtime.results.put_result(replace(runtime.results.get_results(video_id)["thumbnail"], version="old"))
    again = runtime.thumbnail.handle_video_ready(video_id)
    assert again is not None
    shots = {s["index"]: s for s in ingest.payload["shots"]}
    duration = ingest.payload["media"]["duration_s"]
    scores = {}
    for kf in ingest.payload["keyframes"]:
        image = encode.decode_image(runtime.blobs.get_bytes(kf["key"]))
        assert image is not None
        shot = shots[kf["shot"]]
        share = (shot["end_s"] - shot["start_s"]) / duration
        scores[kf["frame"]] = cover_score(frame_quality(luma_of(image)), kf["transition"], share)
    assert len(scores) > 2
    assert again["cover"]["frame"] == max(scores, key=lambda f: scores[f])
    assert again["cover"]["score"] == pytest.approx(max(scores.values()), abs=1e-4)
    assert again["cover"]["score"] != payload["cover"]["score"]  # measured on the JPEG, not the frame
