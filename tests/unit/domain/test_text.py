"""Search tokens: words for Latin scripts, characters and pairs for Chinese."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reelmind.domain.text import MAX_QUERY_TOKENS, query_tokens, tokens


def test_latin_words_are_normalised() -> None:
    assert tokens("Hello, WORLD! Ｃａｆé 2026") == ["hello", "world", "café", "2026"]


def test_chinese_gives_characters_and_pairs() -> None:
    assert tokens("虎斑猫") == ["虎", "虎斑", "斑", "斑猫", "猫"]
    assert tokens("我的cat视频") == ["我", "我的", "的", "cat", "视", "视频", "频"]


def test_punctuation_and_symbols_give_nothing() -> None:
    assert tokens("?!… —— ###") == [] and tokens("") == []


def test_query_tokens_are_distinct_and_bounded() -> None:
    assert query_tokens("cat cat 猫") == ["cat", "猫"]
    assert len(query_tokens(" ".join(f"w{i}" for i in range(10_000)))) == MAX_QUERY_TOKENS


@given(st.text(max_size=200))
def test_tokens_never_fail_and_are_never_empty_strings(text: str) -> None:
    assert all(tok and tok == tok.casefold() for tok in tokens(text))
