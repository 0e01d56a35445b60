"""Typed errors. Each carries a stable `code` a client can branch on and a message a person can act on.

Errors split in two families:

* `InputError` - the upload or request itself is wrong. Retrying cannot help; the video (or job) is
  marked FAILED with the code and message, and the event is acknowledged.
* `TransientError` - something outside the input failed (throttling, a busy lease). The handler raises
  it so the platform retries, and after the retries the event lands in a dead-letter queue.
"""

from __future__ import annotations


class ReelMindError(Exception):
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(ReelMindError):
    code = "invalid_input"


class BadRequest(InputError):
    code = "bad_request"


class InvalidKey(InputError):
    code = "invalid_key"


class EmptyFile(InputError):
    code = "empty_file"


class UnsupportedMedia(InputError):
    code = "unsupported_media"


class CorruptMedia(InputError):
    code = "corrupt_media"


class NoVideoStream(InputError):
    code = "no_video_stream"


class TooLarge(InputError):
    code = "too_large"


class TooLong(InputError):
    code = "too_long"


class FrameTooLarge(InputError):
    code = "frame_too_large"


class FrameTooSmall(InputError):
    code = "frame_too_small"


class NotFound(ReelMindError):
    code = "not_found"


class ConfigError(ReelMindError):
    code = "config_error"


class TransientError(ReelMindError):
    code = "transient"


class Busy(TransientError):
    code = "busy"


class Throttled(TransientError):
    code = "throttled"


class ModelUnavailable(ConfigError):
    """A model file is missing: the package that carries it is not installed, or the build step did not run."""

    code = "model_unavailable"


class ModelChecksumMismatch(ConfigError):
    """A model file is not the one the registry names: refuse to run on unknown weights."""

    code = "model_checksum_mismatch"
