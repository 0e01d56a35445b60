from __future__ import annotations

from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelmind.domain import keys
from reelmind.errors import InvalidKey


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("uploads/my+clip.mp4", "uploads/my clip.mp4"),
        ("uploads/a%2Bb.mp4", "uploads/a+b.mp4"),
        ("uploads/100%2520off.mp4", "uploads/100%20off.mp4"),
        ("uploads/%E7%8C%AB%E5%92%AA.mp4", "uploads/猫咪.mp4"),
    ],
)
def test_event_keys_decode_like_s3_encodes_them(raw: str, decoded: str) -> None:
    assert keys.decode_event_key(raw) == decoded


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60))
def test_decoding_inverts_s3_form_encoding(name: str) -> None:
    key = "uploads/" + name
    assert keys.decode_event_key(quote_plus(key, safe="/")) == key


def test_invalid_utf8_is_a_typed_error() -> None:
    with pytest.raises(InvalidKey):
        keys.decode_event_key("uploads/%FF%FE.mp4")


@pytest.mark.parametrize(
    "key",
    [
        "uploads/../etc/passwd",
        "../uploads/x.mp4",
        "uploads/./x.mp4",
        "/uploads/x.mp4",
        "uploads//x.mp4",
        "uploads\\x.mp4",
        "uploads/x\x00.mp4",
        "uploads/x\u202e4pm.mp4",
        "",
        "uploads/" + "a" * 1100,
    ],
)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        keys.validate_key(key)


@pytest.mark.parametrize(
    "key", ["uploads/my clip.mp4", "uploads/a+b.mp4", "uploads/100%20off.mp4", "uploads/猫咪 视频.mp4"]
)
def test_unusual_but_safe_keys_are_accepted(key: str) -> None:
    assert keys.validate_upload_key(key) == key


def test_uploads_must_be_under_the_upload_prefix() -> None:
    with pytest.raises(InvalidKey, match="uploads/"):
        keys.validate_upload_key("derived/x.mp4")
