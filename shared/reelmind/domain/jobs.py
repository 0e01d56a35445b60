"""Heavy jobs: what can be asked for, with which parameters, and the life of a job.

A job's id is derived from what it computes (kind, video, parameters), so asking twice for the same
thing is one job, and a retry of a failed job writes to the same output keys instead of duplicating
them.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from reelmind.errors import BadRequest


class JobStatus(enum.StrEnum):
    QUEUED = "queued"  # recorded, not yet accepted by a worker or endpoint
    RUNNING = "running"  # accepted; outputs are being computed
    SUCCEEDED = "succeeded"  # outputs are in the blob store
    FAILED = "failed"  # `error_code` and `error` say why; may be retried


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)
MAX_TEXT_CHARS = 5_000


def _choice(name: str, options: tuple[str, ...], default: str | None = None) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        value = default if value is None else value
        if value not in options:
            raise BadRequest(f"{name} must be one of {', '.join(options)}, not {value!r}")
        return str(value)

    return check


def _number(name: str, low: float, high: float, default: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        value = default if value is None else value
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= float(value) <= high:
            raise BadRequest(f"{name} must be a number from {low} to {high}, not {value!r}")
        return float(value)

    return check


def _flag(name: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise BadRequest(f"{name} must be true or false, not {value!r}")
        return value

    return check


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("text must be a non-empty string")
    if len(value) > MAX_TEXT_CHARS:
        raise BadRequest(f"text is {len(value)} characters long; the limit is {MAX_TEXT_CHARS}")
    return value.strip()


@dataclass(frozen=True, slots=True)
class JobKind:
    name: str
    needs_video: bool
    needs_audio: bool
    params: Mapping[str, Callable[[Any], Any]]
    outputs: tuple[str, ...]  # output names a successful job records (keys in the blob store)

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(params, Mapping):
            raise BadRequest("params must be a JSON object")
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise BadRequest(
                f"{self.name} takes {', '.join(sorted(self.params)) or 'no parameters'}; unknown: {', '.join(unknown)}"
            )
        return {name: check(params.get(name)) for name, check in self.params.items()}


KINDS: dict[str, JobKind] = {
    k.name: k
    for k in (
        JobKind(
            "asr",
            needs_video=True,
            needs_audio=True,
            params={"burn_in": _flag("burn_in")},
            outputs=("transcript", "srt", "vtt", "video"),
        ),
        JobKind(
            "tts",
            needs_video=False,
            needs_audio=False,
            params={"text": _text, "speed": _number("speed", 0.5, 2.0, 1.0)},
            outputs=("wav", "m4a"),
        ),
        JobKind(
            "voice",
            needs_video=True,
            needs_audio=True,
            params={"preset": _choice("preset", ("deeper", "higher", "robot", "child"))},
            outputs=("video", "wav"),
        ),
        JobKind(
            "stylize",
            needs_video=True,
            needs_audio=False,
            params={"style": _choice("style", ("cartoon", "sketch", "watercolor", "oil"))},
            outputs=("video",),
        ),
    )
}


def kind_of(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise BadRequest(f"unknown job type {name!r}; one of {', '.join(KINDS)}") from None


def job_id_for(kind: str, video_id: str | None, params: Mapping[str, Any]) -> str:
    canonical = json.dumps({"kind": kind, "video": video_id, "params": params}, sort_keys=True)
    return "j" + hashlib.sha256(canonical.encode()).hexdigest()[:20]


@dataclass(slots=True)
class Job:
    job_id: str
    kind: str
    video_id: str | None
    params: dict[str, Any]
    status: JobStatus
    created_at: float
    updated_at: float
    attempts: int = 0
    progress: float | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        return cls(**{**data, "status": JobStatus(data["status"])})
