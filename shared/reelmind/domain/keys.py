"""Rules for object keys: how event keys decode, which keys are safe, where derived files go."""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath
from urllib.parse import unquote_plus

from reelmind.errors import InvalidKey

UPLOAD_PREFIX = "uploads/"
DERIVED_PREFIX = "derived/"
MAX_KEY_BYTES = 1024
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv"})


def decode_event_key(raw: str) -> str:
    """S3 notifications carry keys form-encoded: '+' is a space and '%2B' is a plus."""
    try:
        return unquote_plus(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InvalidKey("the object key is not valid UTF-8 once decoded") from None


def validate_key(key: str) -> str:
    """Return the key when it is safe to use as a storage path, else raise `InvalidKey`.

    Non-ASCII letters, spaces and '+' are fine; traversal, absolute paths, backslashes,
    control characters and over-long keys are not.
    """
    if not key:
        raise InvalidKey("the object key is empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKey(f"the object key is longer than {MAX_KEY_BYTES} bytes")
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs"} for ch in key):
        raise InvalidKey("the object key contains control or invisible characters")
    if "\\" in key:
        raise InvalidKey("the object key contains a backslash")
    if key.startswith("/"):
        raise InvalidKey("the object key is an absolute path")
    parts = key.split("/")
    if any(part in {"..", "."} for part in parts):
        raise InvalidKey("the object key contains a '.' or '..' path segment")
    if any(part == "" for part in parts[:-1]) or key.endswith("/"):
        raise InvalidKey("the object key contains an empty path segment")
    return key


def validate_upload_key(key: str) -> str:
    validate_key(key)
    if not key.startswith(UPLOAD_PREFIX) or key == UPLOAD_PREFIX:
        raise InvalidKey(f"uploads must be placed under '{UPLOAD_PREFIX}'")
    return key


def title_from_key(key: str) -> str:
    name = PurePosixPath(key).name
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return stem.replace("_", " ").strip() or name


def derived_key(video_id: str, *parts: str) -> str:
    return DERIVED_PREFIX + "/".join((video_id, *parts))
