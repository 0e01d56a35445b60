"""Tokens for keyword search, the same on every backend.

Latin-script text splits into words (NFKC-normalised, case-folded, letters and digits). Chinese,
Japanese and Korean text has no spaces, so each run of CJK characters gives its single characters
and every overlapping pair: "虎斑猫" -> 虎, 斑, 猫, 虎斑, 斑猫. A one-character query ("猫") then finds
every text containing the character, and a two-character word ranks texts containing it together
above texts with the characters apart.
"""

from __future__ import annotations

import re
import unicodedata

#: Han, Hiragana, Katakana, Hangul and their compatibility and extension blocks.
_CJK = (
    "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f"
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
#: A query longer than this many tokens is cut (a pasted essay is not a better query).
MAX_QUERY_TOKENS = 64


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def tokens(text: str) -> list[str]:
    """Search tokens of `text`, in order of appearance (with repeats, for term frequencies)."""
    out: list[str] = []
    pos = 0
    text = normalize(text)
    for run in _CJK_RUN.finditer(text):
        out += _WORD.findall(text[pos : run.start()])
        chars = run.group()
        for i, ch in enumerate(chars):
            out.append(ch)
            if i + 1 < len(chars):
                out.append(chars[i : i + 2])
        pos = run.end()
    out += _WORD.findall(text[pos:])
    return out


def query_tokens(text: str) -> list[str]:
    """Distinct tokens of a query, in order, at most `MAX_QUERY_TOKENS`."""
    seen: dict[str, None] = {}
    for tok in tokens(text):
        seen.setdefault(tok, None)
        if len(seen) == MAX_QUERY_TOKENS:
            break
    return list(seen)
