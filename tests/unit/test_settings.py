from __future__ import annotations

import pytest

from reelmind.errors import ConfigError
from reelmind.settings import Settings


def test_defaults_are_local() -> None:
    s = Settings.from_env({})
    assert s.backend == "local" and s.limits.max_width == 3840


def test_values_are_read_and_typed() -> None:
    s = Settings.from_env(
        {
            "REELMIND_MAX_DURATION_S": "12.5",
            "REELMIND_MAX_FRAMES": "900",
            "REELMIND_MAX_WIDTH": "640",
            "REELMIND_API_KEYS": "a,b",
        }
    )
    assert (s.limits.max_duration_s, s.limits.max_frames, s.limits.max_width) == (12.5, 900, 640)
    assert s.api_keys == frozenset({"a", "b"})


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"REELMIND_BACKEND": "gcp"}, "REELMIND_BACKEND"),
        ({"REELMIND_MAX_WIDTH": "wide"}, "REELMIND_MAX_WIDTH must be an integer"),
        ({"REELMIND_MAX_DURATION_S": "-1"}, "must be positive"),
        ({"REELMIND_THUMBNAIL_FORMAT": "gif"}, "REELMIND_THUMBNAIL_FORMAT"),
        ({"REELMIND_BACKEND": "aws", "REELMIND_BUCKET": "b"}, "REELMIND_TABLE, REELMIND_EVENT_BUS"),
    ],
)
def test_wrong_values_fail_fast_naming_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Settings.from_env(env)
