"""Content-safety rules: a configurable policy and the pure functions that turn model output into a verdict.

The models (a whole-frame NSFW classifier, NudeNet, OCR, speech recognition) run elsewhere; this module
only sees their numbers and strings:

* `FrameSignals` - one sampled frame: its time, its NSFW score and its NudeNet detections.
* `TextSpan` - one line of on-screen text (``ocr``) or one transcript segment (``transcript``).

`decide` applies a `SafetyPolicy` to both and returns a `Verdict`: ``allow``, ``review`` or ``block``,
with one `Reason` per rule that fired and the times at which it fired.

Text matching works on a normalized form of the text (see `normalize`): NFKC (full-width to half-width),
case folding, look-alike letters and traditional characters mapped to their plain forms, accents and
zero-width characters dropped. The result is split into tokens: each Chinese/Japanese character is a
token of its own and each run of other letters and digits is one word; everything else only separates
tokens. A term matches when its tokens occur consecutively in the text's tokens, so Chinese terms match
whatever is put between their characters ("冰 毒", "冰-毒") while English terms match whole words only
("kill" is not found in "skilled"). Two extra forms of the text catch common disguises of English:
digits and ``@``/``$`` used as letters inside words ("c0caine") and words spelled out letter by letter
("c o c a i n e").
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from reelmind.errors import ConfigError

Action = Literal["allow", "review", "block"]
TermAction = Literal["review", "block"]
ReasonKind = Literal["nsfw", "nudity", "term"]
TextSource = Literal["ocr", "transcript"]

#: Actions from least to most severe.
ACTIONS: tuple[Action, ...] = ("allow", "review", "block")
TERM_ACTIONS: tuple[TermAction, ...] = ("review", "block")
TEXT_SOURCES: tuple[TextSource, ...] = ("ocr", "transcript")
#: The languages a term group may list terms in.
TERM_LANGUAGES: tuple[str, ...] = ("zh", "en")

#: Every label the NudeNet detector emits, in the order of its output classes.
NUDENET_CLASSES: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
NUDENET_LABELS: frozenset[str] = frozenset(NUDENET_CLASSES)

_SEVERITY: dict[str, int] = {action: rank for rank, action in enumerate(ACTIONS)}
_KIND_ORDER: dict[str, int] = {"nsfw": 0, "nudity": 1, "term": 2}
_CATEGORY = re.compile(r"[a-z][a-z0-9_]*\Z")
_EXCERPT_CHARS = 80


def severity(action: str) -> int:
    """0 for ``allow``, 1 for ``review``, 2 for ``block``."""
    try:
        return _SEVERITY[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}") from None


def most_severe(actions: Iterable[str]) -> Action:
    """The most severe of `actions`, ``allow`` when there are none."""
    return ACTIONS[max((severity(a) for a in actions), default=0)]


# ---------------------------------------------------------------------------------------------- inputs


def _check_unit(value: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be a number between 0 and 1, got {value!r}")


def _check_time(value: float, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < math.inf:
        raise ValueError(f"{what} must be a finite number of seconds >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class Detection:
    """One NudeNet box: its label and confidence. Labels outside `NUDENET_LABELS` are ignored."""

    label: str
    score: float

    def __post_init__(self) -> None:
        _check_unit(self.score, f"the score of detection {self.label!r}")


@dataclass(frozen=True, slots=True)
class FrameSignals:
    """What the image models said about the frame at `time_s` seconds."""

    time_s: float
    nsfw: float
    detections: tuple[Detection, ...] = ()

    def __post_init__(self) -> None:
        _check_time(self.time_s, "a frame's time")
        _check_unit(self.nsfw, f"the nsfw score of the frame at {self.time_s} s")


@dataclass(frozen=True, slots=True)
class TextSpan:
    """Text shown (``ocr``) or spoken (``transcript``) from `start_s` to `end_s` seconds."""

    text: str
    start_s: float
    end_s: float
    source: TextSource

    def __post_init__(self) -> None:
        _check_time(self.start_s, "a text span's start")
        _check_time(self.end_s, "a text span's end")
        if self.end_s < self.start_s:
            raise ValueError(f"a text span ends ({self.end_s} s) before it starts ({self.start_s} s)")
        if self.source not in TEXT_SOURCES:
            raise ValueError(
                f"unknown text source {self.source!r}; expected one of {', '.join(TEXT_SOURCES)}"
            )


# ------------------------------------------------------------------------------------------ normalizing

# Letters that look like Latin ones (Cyrillic, Greek, small capitals), mapped before and after case
# folding, and traditional forms of common characters mapped to their simplified forms.
_LOOKALIKES = {
    # Cyrillic capitals and small letters
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "У": "Y", "І": "I", "Ј": "J", "Ѕ": "S", "Ԁ": "D", "Һ": "H", "Ԛ": "Q", "Ԝ": "W",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w",
    # Greek capitals and small letters
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    # Latin letters that NFKC leaves alone
    "ı": "i", "ɡ": "g", "ɑ": "a", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g",
    "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r",
    "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
}  # fmt: skip
# Pairs of (traditional, simplified) characters.
_TRADITIONAL = (
    "賭赌網网絡络場场錢钱彈弹製制藥药買买賣卖槍枪殺杀單单黃黄視视頻频約约兒儿種种滅灭級级騙骗詐诈資资"
    "號号碼码冊册贏赢輸输錄录臺台兇凶販贩運运傳传銷销團团夥伙這这個个們们來来為为會会說说時时點点發发"
    "現现開开關关對对無无與与門门問问間间車车長长電电話话線线經经給给紅红費费帶带獎奖領领穩稳賺赚賠赔"
    "內内薦荐務务職职豬猪盤盘燒烧結结蘿萝搖摇頭头鹼碱嗎吗購购貨货國国滾滚殘残廢废麼么讓让幣币額额戲戏"
    "體体檢检測测誰谁醫医療疗罰罚蠻蛮亂乱劑剂癮瘾員员紙纸證证腦脑懷怀從从兩两歲岁論论識识讀读寫写"
)
_LOOKALIKES.update({_TRADITIONAL[i]: _TRADITIONAL[i + 1] for i in range(0, len(_TRADITIONAL), 2)})
_FOLD_TABLE = str.maketrans(_LOOKALIKES)
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf"})  # combining marks; zero-width and other format chars

# Digits and symbols used as letters inside English words.
_LEET_TABLE = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_SYMBOLS = frozenset("@$")
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
_MIN_SPELLED_RUN = 3


def _is_cjk(ch: str) -> bool:
    """Han ideographs, kana and bopomofo: scripts written without spaces, one token per character."""
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x3040 <= cp <= 0x30FF
        or 0x3100 <= cp <= 0x312F
        or 0x31A0 <= cp <= 0x31FF
        or 0x3005 <= cp <= 0x3007
        or 0xF900 <= cp <= 0xFAFF
        or 0x20000 <= cp <= 0x323AF
    )


def _fold_once(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).translate(_FOLD_TABLE).casefold()
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    return unicodedata.normalize("NFC", s).translate(_FOLD_TABLE)


def _fold(text: str) -> str:
    """Case, width, look-alikes, traditional characters, accents and zero-width characters folded away."""
    for _ in range(4):  # one pass is almost always a fixed point; a few exotic characters need a second
        folded = _fold_once(text)
        if folded == text:
            break
        text = folded
    return text


def _tokens(folded: str, *, leet: bool = False) -> list[str]:
    """Each CJK character alone; each run of other letters and digits as one word; the rest separates."""
    tokens: list[str] = []
    word: list[str] = []

    def flush() -> None:
        if word:
            token = "".join(word)
            if leet and not _ASCII_LETTERS.isdisjoint(token):
                token = token.translate(_LEET_TABLE)
            tokens.append(token)
            word.clear()

    for ch in folded:
        if ch.isalnum() and _is_cjk(ch):
            flush()
            tokens.append(ch)
        elif ch.isalnum() or (leet and ch in _LEET_SYMBOLS):
            word.append(ch)
        else:
            flush()
    flush()
    return tokens


def normalize(text: str) -> str:
    """The canonical form text is matched in: its tokens, lower case, separated by single spaces.

    ``normalize("冰 毒") == normalize("冰-毒") == normalize("冰毒") == "冰 毒"`` and
    ``normalize("ＢＵＹ  Cocaine") == normalize("buy cocaine!!") == "buy cocaine"``.
    """
    return " ".join(_tokens(_fold(text)))


def _key(tokens: Sequence[str]) -> str:
    return " " + " ".join(tokens) + " "


def _spelled_out(tokens: Sequence[str]) -> tuple[list[str], set[str]]:
    """`tokens` with every run of 3+ single letters joined into one word, and the set of joined words."""
    merged: list[str] = []
    joined: set[str] = set()
    run: list[str] = []

    def flush() -> None:
        if len(run) >= _MIN_SPELLED_RUN:
            word = "".join(run)
            merged.append(word)
            joined.add(word)
        else:
            merged.extend(run)
        run.clear()

    for token in tokens:
        if len(token) == 1 and token.isalpha() and not _is_cjk(token):
            run.append(token)
        else:
            flush()
            merged.append(token)
    flush()
    return merged, joined


@dataclass(frozen=True, slots=True)
class _TextForms:
    plain: str
    spelled: str
    spelled_words: frozenset[str]
    leet: str

    @classmethod
    def of(cls, text: str) -> _TextForms:
        folded = _fold(text)
        tokens = _tokens(folded)
        merged, joined = _spelled_out(tokens)
        return cls(_key(tokens), _key(merged), frozenset(joined), _key(_tokens(folded, leet=True)))


@dataclass(frozen=True, slots=True)
class _TermMatcher:
    term: str
    category: str
    action: TermAction
    plain: str
    leet: str
    joined: str | None

    @classmethod
    def of(cls, term: str, group: TermGroup) -> _TermMatcher:
        folded = _fold(term)
        tokens = _tokens(folded)
        latin = not any(_is_cjk(t[0]) for t in tokens)
        return cls(
            term=term,
            category=group.category,
            action=group.action,
            plain=_key(tokens),
            leet=_key(_tokens(folded, leet=True)),
            joined="".join(tokens) if latin else None,
        )

    def found_in(self, text: _TextForms) -> bool:
        return (
            self.plain in text.plain
            or self.leet in text.leet
            or self.plain in text.spelled
            or (self.joined is not None and self.joined in text.spelled_words)
        )


# ---------------------------------------------------------------------------------------------- policy


def _check_threshold(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{what} must be a number between 0 and 1, got {value!r}")
    return float(value)


def _check_min_frames(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a whole number >= 1, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class NsfwRule:
    """Thresholds on the whole-frame NSFW score."""

    review: float
    block: float
    min_block_frames: int = 1

    def __post_init__(self) -> None:
        _check_threshold(self.review, "nsfw.review")
        _check_threshold(self.block, "nsfw.block")
        _check_min_frames(self.min_block_frames, "nsfw.min_block_frames")
        if self.review > self.block:
            raise ConfigError(f"nsfw.review ({self.review}) must not exceed nsfw.block ({self.block})")


@dataclass(frozen=True, slots=True)
class NudityRule:
    """Which NudeNet labels block or ask for review, and at what detection score."""

    block_labels: frozenset[str]
    review_labels: frozenset[str]
    block_score: float
    review_score: float
    min_block_frames: int = 1

    def __post_init__(self) -> None:
        _check_threshold(self.block_score, "nudity.block_score")
        _check_threshold(self.review_score, "nudity.review_score")
        _check_min_frames(self.min_block_frames, "nudity.min_block_frames")
        if self.review_score > self.block_score:
            raise ConfigError(
                f"nudity.review_score ({self.review_score}) must not exceed nudity.block_score ({self.block_score})"
            )
        for name, labels in (("block_labels", self.block_labels), ("review_labels", self.review_labels)):
            unknown = sorted(str(label) for label in labels if label not in NUDENET_LABELS)
            if unknown:
                raise ConfigError(
                    f"nudity.{name} has unknown labels {', '.join(unknown)}; "
                    f"NudeNet's labels are {', '.join(sorted(NUDENET_LABELS))}"
                )
        both = sorted(self.block_labels & self.review_labels)
        if both:
            raise ConfigError(
                f"labels {', '.join(both)} are in both nudity.block_labels and nudity.review_labels"
            )


@dataclass(frozen=True, slots=True)
class TermGroup:
    """Terms of one category, in Chinese (`zh`) and English (`en`), that all lead to `action`."""

    category: str
    action: TermAction
    zh: tuple[str, ...] = ()
    en: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.category, str) or not _CATEGORY.match(self.category):
            raise ConfigError(
                f"a term group's category must be a lower-case name such as 'drugs', got {self.category!r}"
            )
        if self.action not in TERM_ACTIONS:
            raise ConfigError(
                f"term group {self.category!r}: action must be one of {', '.join(TERM_ACTIONS)}, "
                f"got {self.action!r}"
            )
        if not self.zh and not self.en:
            raise ConfigError(f"term group {self.category!r} ({self.action}) lists no terms")
        for term in self.terms:
            if not isinstance(term, str) or not normalize(term):
                raise ConfigError(
                    f"term group {self.category!r} ({self.action}): {term!r} has no letters or digits to match"
                )

    @property
    def terms(self) -> tuple[str, ...]:
        return self.zh + self.en


@dataclass(frozen=True, slots=True)
class SafetyPolicy:
    """Thresholds for the frame models and term lists for text. Build with `load` or `from_dict`."""

    version: str
    nsfw: NsfwRule
    nudity: NudityRule
    terms: tuple[TermGroup, ...]
    _matchers: tuple[_TermMatcher, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not self.version.strip():
            raise ConfigError(f"the policy needs a non-empty version string, got {self.version!r}")
        matchers: list[_TermMatcher] = []
        seen: dict[str, _TermMatcher] = {}
        for group in self.terms:
            for term in group.terms:
                matcher = _TermMatcher.of(term, group)
                earlier = seen.get(matcher.plain)
                if earlier is not None:
                    raise ConfigError(
                        f"term {term!r} ({group.category}, {group.action}) is listed twice; it matches the same "
                        f"text as {earlier.term!r} ({earlier.category}, {earlier.action})"
                    )
                seen[matcher.plain] = matcher
                matchers.append(matcher)
        object.__setattr__(self, "_matchers", tuple(matchers))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "safety policy") -> SafetyPolicy:
        """Validate a parsed policy document; every problem raises `ConfigError` naming `where`."""
        try:
            root = _mapping(data, "the policy")
            _check_keys(root, "the policy", required={"version", "nsfw", "nudity", "terms"})
            nsfw = _mapping(root["nsfw"], "nsfw")
            _check_keys(nsfw, "nsfw", required={"review", "block"}, optional={"min_block_frames"})
            nudity = _mapping(root["nudity"], "nudity")
            _check_keys(
                nudity,
                "nudity",
                required={"block_labels", "review_labels", "block_score", "review_score"},
                optional={"min_block_frames"},
            )
            return cls(
                version=root["version"],
                nsfw=NsfwRule(
                    review=_check_threshold(nsfw["review"], "nsfw.review"),
                    block=_check_threshold(nsfw["block"], "nsfw.block"),
                    min_block_frames=_check_min_frames(
                        nsfw.get("min_block_frames", 1), "nsfw.min_block_frames"
                    ),
                ),
                nudity=NudityRule(
                    block_labels=frozenset(_strings(nudity["block_labels"], "nudity.block_labels")),
                    review_labels=frozenset(_strings(nudity["review_labels"], "nudity.review_labels")),
                    block_score=_check_threshold(nudity["block_score"], "nudity.block_score"),
                    review_score=_check_threshold(nudity["review_score"], "nudity.review_score"),
                    min_block_frames=_check_min_frames(
                        nudity.get("min_block_frames", 1), "nudity.min_block_frames"
                    ),
                ),
                terms=_term_groups(root["terms"], "terms"),
            )
        except ConfigError as err:
            raise ConfigError(f"{where}: {err.message}") from err

    @classmethod
    def load(cls, path: Path | None = None, *, extra_terms: Path | None = None) -> SafetyPolicy:
        """Read a policy file (the packaged default when `path` is None).

        `extra_terms` names a file whose ``terms:`` list of groups is added to the policy's own, so a
        deployment can extend the default lists without copying them.
        """
        if path is None:
            where = "the default safety policy"
            resource = resources.files("reelmind") / "data" / "safety_policy.yaml"
            policy = cls.from_dict(_parse_yaml(resource.read_text(encoding="utf-8"), where), where=where)
        else:
            policy = cls.from_dict(_read_yaml(path), where=str(path))
        if extra_terms is not None:
            where = str(extra_terms)
            try:
                root = _mapping(_read_yaml(extra_terms), "the term file")
                _check_keys(root, "the term file", required={"terms"})
                groups = _term_groups(root["terms"], "terms")
                return policy.with_terms(groups)
            except ConfigError as err:
                raise ConfigError(f"{where}: {err.message}") from err
        return policy

    def with_terms(self, groups: Iterable[TermGroup]) -> SafetyPolicy:
        """This policy with `groups` added; a term already listed raises `ConfigError`."""
        return replace(self, terms=self.terms + tuple(groups))

    def to_dict(self) -> dict[str, Any]:
        """The policy as a document `from_dict` accepts."""
        return {
            "version": self.version,
            "nsfw": {
                "review": self.nsfw.review,
                "block": self.nsfw.block,
                "min_block_frames": self.nsfw.min_block_frames,
            },
            "nudity": {
                "block_labels": sorted(self.nudity.block_labels),
                "review_labels": sorted(self.nudity.review_labels),
                "block_score": self.nudity.block_score,
                "review_score": self.nudity.review_score,
                "min_block_frames": self.nudity.min_block_frames,
            },
            "terms": [
                {"category": g.category, "action": g.action, "zh": list(g.zh), "en": list(g.en)}
                for g in self.terms
            ],
        }


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the safety policy {path}: {err}") from err
    return _parse_yaml(text, str(path))


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{where} is not valid YAML: {err}") from err


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what} must be a mapping, got {type(value).__name__}")
    return cast(Mapping[str, Any], value)


def _check_keys(
    value: Mapping[str, Any],
    what: str,
    *,
    required: set[str],
    optional: frozenset[str] | set[str] = frozenset(),
) -> None:
    missing = sorted(required - set(value))
    if missing:
        raise ConfigError(f"{what} is missing {', '.join(missing)}")
    unknown = sorted(str(k) for k in value if k not in required and k not in optional)
    if unknown:
        allowed = ", ".join(sorted(required | set(optional)))
        raise ConfigError(f"{what} has unknown keys {', '.join(unknown)}; expected {allowed}")


def _strings(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{what} must be a list of strings, got {value!r}")
    return tuple(value)


def _term_groups(value: object, what: str) -> tuple[TermGroup, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{what} must be a list of term groups, got {type(value).__name__}")
    groups: list[TermGroup] = []
    for i, item in enumerate(value):
        where = f"{what}[{i}]"
        group = _mapping(item, where)
        _check_keys(group, where, required={"category", "action"}, optional=set(TERM_LANGUAGES))
        lists = {lang: _strings(group.get(lang), f"{where}.{lang}") for lang in TERM_LANGUAGES}
        try:
            groups.append(
                TermGroup(category=group["category"], action=group["action"], zh=lists["zh"], en=lists["en"])
            )
        except ConfigError as err:
            raise ConfigError(f"{where}: {err.message}") from err
    return tuple(groups)


# ------------------------------------------------------------------------------------------- decisions


@dataclass(frozen=True, slots=True)
class TermHit:
    """`term` (of `category`, leading to `action`) found in one text span."""

    term: str
    category: str
    action: TermAction
    source: TextSource
    text: str
    start_s: float
    end_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "category": self.category,
            "action": self.action,
            "source": self.source,
            "text": self.text,
            "start_s": self.start_s,
            "end_s": self.end_s,
        }


@dataclass(frozen=True, slots=True)
class Reason:
    """One rule that fired: for ``nsfw`` the label is ``nsfw``, for ``nudity`` the NudeNet label, for
    ``term`` ``category:term``. `score` is the highest model score (1.0 for a term) and `times_s` the
    sorted times at which the rule fired at the level of `action`."""

    kind: ReasonKind
    label: str
    action: Action
    score: float
    times_s: tuple[float, ...]
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "action": self.action,
            "score": self.score,
            "times_s": list(self.times_s),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """The most severe action among `reasons` (``allow`` when none fired)."""

    action: Action
    reasons: tuple[Reason, ...]
    max_nsfw: float
    policy_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reasons": [r.to_dict() for r in self.reasons],
            "max_nsfw": self.max_nsfw,
            "policy_version": self.policy_version,
        }


def find_terms(spans: Iterable[TextSpan], policy: SafetyPolicy) -> list[TermHit]:
    """Every (span, term) pair where the term occurs in the span's text, in span time order."""
    hits: list[TermHit] = []
    for span in sorted(spans, key=lambda s: (s.start_s, s.end_s)):
        forms = _TextForms.of(span.text)
        hits.extend(
            TermHit(m.term, m.category, m.action, span.source, span.text, span.start_s, span.end_s)
            for m in policy._matchers
            if m.found_in(forms)
        )
    return hits


def _threshold_reason(
    kind: ReasonKind,
    label: str,
    scores: Mapping[float, float],
    *,
    review: float,
    block: float | None,
    min_block_frames: int,
    frames: int,
) -> Reason | None:
    """`scores` maps frame time to the frame's score; None when no frame reaches `review`."""
    if not scores:
        return None
    top = max(scores.values())
    block_times = sorted(t for t, s in scores.items() if block is not None and s >= block)
    review_times = sorted(t for t, s in scores.items() if s >= review)
    what = "nsfw score" if kind == "nsfw" else f"{label} detected with score"
    if block is not None and block_times and len(block_times) >= min_block_frames:
        detail = f"{what} up to {top:.2f}; at least {block:.2f} in {len(block_times)} of {frames} frames"
        return Reason(kind, label, "block", top, tuple(block_times), detail)
    if review_times:
        detail = f"{what} up to {top:.2f}; at least {review:.2f} in {len(review_times)} of {frames} frames"
        if block_times:
            detail += f" (blocking takes {min_block_frames} frames at {block:.2f})"
        return Reason(kind, label, "review", top, tuple(review_times), detail)
    return None


def frame_reasons(frames: Sequence[FrameSignals], policy: SafetyPolicy) -> list[Reason]:
    """The ``nsfw`` reason and one ``nudity`` reason per label that fired, from the frame signals."""
    nsfw: dict[float, float] = {}
    labels: dict[str, dict[float, float]] = {}
    watched = policy.nudity.block_labels | policy.nudity.review_labels
    for frame in frames:
        nsfw[frame.time_s] = max(frame.nsfw, nsfw.get(frame.time_s, 0.0))
        for det in frame.detections:
            if det.label in watched:
                by_time = labels.setdefault(det.label, {})
                by_time[frame.time_s] = max(det.score, by_time.get(frame.time_s, 0.0))
    count = len({frame.time_s for frame in frames})
    found = [
        _threshold_reason(
            "nsfw",
            "nsfw",
            nsfw,
            review=policy.nsfw.review,
            block=policy.nsfw.block,
            min_block_frames=policy.nsfw.min_block_frames,
            frames=count,
        )
    ]
    for label in sorted(labels):
        found.append(
            _threshold_reason(
                "nudity",
                label,
                labels[label],
                review=policy.nudity.review_score,
                block=policy.nudity.block_score if label in policy.nudity.block_labels else None,
                min_block_frames=policy.nudity.min_block_frames,
                frames=count,
            )
        )
    return [r for r in found if r is not None]


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXCERPT_CHARS else flat[: _EXCERPT_CHARS - 1] + "…"


def term_reasons(hits: Iterable[TermHit]) -> list[Reason]:
    """One ``term`` reason per matched term, with the start times of every span it was found in."""
    grouped: dict[tuple[str, str], list[TermHit]] = {}
    for hit in hits:
        grouped.setdefault((hit.category, hit.term), []).append(hit)
    reasons: list[Reason] = []
    for (category, term), found in grouped.items():
        sources = ", ".join(s for s in TEXT_SOURCES if any(h.source == s for h in found))
        first = min(found, key=lambda h: h.start_s)
        detail = f"{category} term {term!r} in {sources}: {_excerpt(first.text)!r}"
        action = most_severe(h.action for h in found)
        times = tuple(sorted({h.start_s for h in found}))
        reasons.append(Reason("term", f"{category}:{term}", action, 1.0, times, detail))
    return reasons


def _reason_order(reason: Reason) -> tuple[int, int, float, str]:
    return (-severity(reason.action), _KIND_ORDER[reason.kind], reason.times_s[0], reason.label)


def decide(frames: Sequence[FrameSignals], spans: Sequence[TextSpan], policy: SafetyPolicy) -> Verdict:
    """Apply `policy` to a video's frame signals and text; the most severe reason sets the action."""
    reasons = frame_reasons(frames, policy) + term_reasons(find_terms(spans, policy))
    reasons.sort(key=_reason_order)
    return Verdict(
        action=most_severe(r.action for r in reasons),
        reasons=tuple(reasons),
        max_nsfw=max((f.nsfw for f in frames), default=0.0),
        policy_version=policy.version,
    )
