"""Upload limits and the rule that enforces them on probed media."""

from __future__ import annotations

from dataclasses import dataclass

from reelmind.domain.video import MediaInfo
from reelmind.errors import FrameTooLarge, FrameTooSmall, TooLarge, TooLong, UnsupportedMedia


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = 2 * 1024**3
    max_duration_s: float = 600.0
    # Decoding cost goes by frames: 10 minutes at 60 fps (a 240 fps slow-motion clip up to 2.5 minutes).
    max_frames: int = 36_000
    max_width: int = 3840
    max_height: int = 3840
    min_side: int = 32
    containers: frozenset[str] = frozenset({"mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm"})
    video_codecs: frozenset[str] = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4"})
    audio_codecs: frozenset[str] = frozenset({"aac", "mp3", "opus", "vorbis", "pcm_s16le", "alac", "flac"})


def check_limits(media: MediaInfo, limits: Limits) -> None:
    """Raise the typed error for the first limit `media` breaks. The audio codec is not one of them: a
    video whose sound is in a codec not on the list is taken without its sound (`refused_audio`)."""
    if media.size_bytes > limits.max_bytes:
        raise TooLarge(f"the file is {media.size_bytes} bytes; the limit is {limits.max_bytes}")
    if not set(media.container.split(",")) & limits.containers:
        raise UnsupportedMedia(
            f"container {media.container!r} is not accepted; use one of {', '.join(sorted(limits.containers))}"
        )
    if media.video_codec not in limits.video_codecs:
        raise UnsupportedMedia(
            f"video codec {media.video_codec!r} is not accepted; use one of {', '.join(sorted(limits.video_codecs))}"
        )
    if media.width > limits.max_width or media.height > limits.max_height:
        raise FrameTooLarge(
            f"the frame is {media.width}x{media.height}; the limit is {limits.max_width}x{limits.max_height}"
        )
    if min(media.width, media.height) < limits.min_side:
        raise FrameTooSmall(
            f"the frame is {media.width}x{media.height}; each side must be at least {limits.min_side}"
        )
    if media.duration_s > limits.max_duration_s:
        raise TooLong(f"the video lasts {media.duration_s:.1f} s; the limit is {limits.max_duration_s:.0f} s")
    if media.frame_count > limits.max_frames:
        raise TooLong(
            f"the video has {media.frame_count} frames ({media.fps:g} per second); the limit is {limits.max_frames}"
        )


def refused_audio(media: MediaInfo, limits: Limits) -> str | None:
    """Why the sound of `media` is left undecoded (its codec is not on the list: every decoder is attack
    surface), or None when it is taken or there is none."""
    if media.audio_codec is None or media.audio_codec in limits.audio_codecs:
        return None
    return (
        f"audio codec {media.audio_codec!r} is not accepted, so the video was taken without its sound; "
        f"use one of {', '.join(sorted(limits.audio_codecs))}"
    )
