"""The `reelmind` command on the local backend: process, show, search, feed, reanalyze, models."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from reelmind import samples
from reelmind.cli import main
from reelmind.models.registry import MODELS
from reelmind.settings import Settings


def test_process_show_and_reanalyze(
    settings: Settings,
    clips: dict[str, samples.ClipTruth],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main(["process", "-q", str(clips["vertical"].path)]) == 0
    out = capsys.readouterr().out
    assert "READY" in out and "tags: animals/cat" in out and "safety: allow" in out and "quality:" in out
    assert "speech: (none)" in out, "a tone is not speech"
    video_id = out.split(": ", 1)[1].split()[0]

    assert main(["show", video_id]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["video_id"] == video_id and "originality" in shown["results"]

    assert main(["reanalyze", "--dry-run"]) == 0
    assert "every result is current" in capsys.readouterr().out

    assert main(["search", "cat"]) == 0
    assert video_id in capsys.readouterr().out
    assert main(["search", "?!"]) == 0
    assert capsys.readouterr().out.strip() == "no match"

    assert main(["feed", "newcomer"]) == 0  # a new user is shown the analysed, allowed video
    out = capsys.readouterr().out
    assert out.startswith("feed for newcomer") and video_id in out and "vertical" in out
    assert main(["feed", "../etc"]) == 2
    assert "user id" in capsys.readouterr().err

    monkeypatch.setenv("REELMIND_OCR_MAX_FRAMES", "3")  # a new OCR configuration: a new OCR version
    assert main(["reanalyze", "--dry-run"]) == 0
    assert capsys.readouterr().out.strip() == f"{video_id}: ocr"
    assert main(["reanalyze"]) == 0
    out = capsys.readouterr().out
    assert "1 video(s) requeued" in out and "0 dead-lettered" in out
    assert main(["reanalyze", "--dry-run"]) == 0
    assert "every result is current" in capsys.readouterr().out


def test_models_verifies_every_file(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(MODELS) and all(line.rstrip().endswith("ok") for line in lines)


def test_an_unknown_analyzer_is_a_clear_error(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reanalyze", "--kind", "astrology"]) == 2
    assert "no analyzer astrology" in capsys.readouterr().err


def test_process_says_when_the_sound_was_left_out(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = samples.ClipSpec("camcorder", (samples.Segment("coffee", 20), samples.Segment("rocket", 20)))
    path = tmp_path / "camcorder.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=spec.fps)
        vs.width, vs.height, vs.pix_fmt = spec.width, spec.height, "yuv420p"
        sound = out.add_stream("ac3", rate=48_000)
        for img in samples.frames(spec):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode())
        silence = np.zeros((1, 1536), np.float32)
        for n in range(32):
            frame = av.AudioFrame.from_ndarray(silence, format="flt", layout="mono")
            frame.sample_rate, frame.pts = 48_000, n * 1536
            out.mux(sound.encode(frame))
        out.mux(sound.encode())
    assert main(["process", "-q", str(path)]) == 0
    out = capsys.readouterr().out
    assert "READY" in out and "2 shots" in out and "sound left out (ac3 is not accepted)" in out
