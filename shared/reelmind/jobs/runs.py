"""The job kinds' model loaders and tasks (see `reelmind.jobs.tasks`). Engines import lazily, so a
worker or endpoint for one kind loads only its own model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import soundfile as sf

from reelmind.errors import BadRequest
from reelmind.jobs.tasks import Task, Work
from reelmind.models.registry import ModelRegistry


def _registry(model_dir: str) -> ModelRegistry:
    return ModelRegistry(Path(model_dir), threads=2)


def load_asr(model_dir: str) -> Any:
    """The packaged whisper tiny.en, or the CTranslate2 model folder a deployment names in
    REELMIND_ASR_MODEL (a bigger or multilingual whisper on the endpoint)."""
    import os

    from reelmind.jobs.asr import SpeechRecognizer

    custom = os.environ.get("REELMIND_ASR_MODEL")
    if custom:
        return SpeechRecognizer(Path(custom), threads=os.cpu_count() or 1)
    return SpeechRecognizer.from_registry(_registry(model_dir))


def run_asr(model: Any, work: Work) -> dict[str, Any]:
    from reelmind.jobs.asr import to_srt, to_webvtt

    if "audio" not in work.inputs:
        raise BadRequest("the video has no audio track to transcribe")
    samples, rate = sf.read(work.inputs["audio"], dtype="float32")
    if rate != 16_000:
        raise BadRequest(f"speech recognition takes 16 kHz audio, not {rate} Hz")
    transcript = model(samples, progress=work.progress)
    files = {
        "transcript": (
            work.folder / "transcript.json",
            json.dumps(transcript.to_dict(), ensure_ascii=False),
            "application/json",
        ),
        "srt": (work.folder / "subtitles.srt", to_srt(transcript), "application/x-subrip"),
        "vtt": (work.folder / "subtitles.vtt", to_webvtt(transcript), "text/vtt"),
    }
    outputs = {}
    for name, (path, text, ctype) in files.items():
        path.write_text(text, encoding="utf-8")
        outputs[name] = work.put(name, path, ctype)
    if work.params.get("burn_in"):
        from reelmind.jobs.asr import cues
        from reelmind.jobs.subtitles import burn_in

        video = burn_in(work.inputs["video"], work.folder / "subtitled.mp4", cues(transcript))
        outputs["video"] = work.put("video", video, "video/mp4")
    return {
        "outputs": outputs,
        "transcript": transcript.to_dict(),
        "version": getattr(model, "version", "asr"),
    }


def load_tts(model_dir: str) -> Any:
    from reelmind.jobs.tts import Synthesizer

    return Synthesizer.from_registry(_registry(model_dir))


def run_tts(model: Any, work: Work) -> dict[str, Any]:
    from reelmind.jobs.tts import encode_outputs

    samples, rate = model(work.params["text"], speed=work.params["speed"], progress=work.progress)
    outputs = {}
    for name, data in encode_outputs(samples, rate).items():
        path = work.folder / f"speech.{name}"
        path.write_bytes(data)
        outputs[name] = work.put(name, path, "audio/wav" if name == "wav" else "audio/mp4")
    return {"outputs": outputs, "duration_s": round(len(samples) / rate, 3)}


def load_nothing(model_dir: str) -> None:
    return None


def run_voice(model: Any, work: Work) -> dict[str, Any]:
    from reelmind.jobs.voice import convert_video

    out = convert_video(work.inputs["video"], work.folder / "voice.mp4", work.params["preset"], work.progress)
    return {"outputs": {"video": work.put("video", out, "video/mp4")}}


def run_stylize(model: Any, work: Work) -> dict[str, Any]:
    from reelmind.jobs.stylize import stylize_video

    out = stylize_video(
        work.inputs["video"], work.folder / "stylized.mp4", work.params["style"], work.progress
    )
    return {"outputs": {"video": work.put("video", out, "video/mp4")}}


TASKS: dict[str, tuple[Any, Task]] = {
    "asr": (load_asr, run_asr),
    "tts": (load_tts, run_tts),
    "voice": (load_nothing, run_voice),
    "stylize": (load_nothing, run_stylize),
}
