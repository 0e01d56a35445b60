from __future__ import annotations

import copy
import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelmind.domain.policy import (
    NUDENET_LABELS,
    Detection,
    FrameSignals,
    SafetyPolicy,
    TermGroup,
    TextSpan,
    decide,
    find_terms,
    most_severe,
    normalize,
)
from reelmind.errors import ConfigError

POLICY = SafetyPolicy.load()
CJK_TERMS = sorted({t for g in POLICY.terms for t in g.zh if all("\u4e00" <= c <= "\u9fff" for c in t)})
EN_TERMS = sorted({t for g in POLICY.terms for t in g.en})


def _span(
    text: str, start_s: float = 0.0, end_s: float | None = None, source: str = "transcript"
) -> TextSpan:
    return TextSpan(text, start_s, start_s + 1.0 if end_s is None else end_s, source)  # type: ignore[arg-type]


def _frame(time_s: float, nsfw: float = 0.0, *detections: tuple[str, float]) -> FrameSignals:
    return FrameSignals(time_s, nsfw, tuple(Detection(label, score) for label, score in detections))


def _policy_with(*groups: TermGroup) -> SafetyPolicy:
    data = POLICY.to_dict()
    data["terms"] = [
        {"category": g.category, "action": g.action, "zh": list(g.zh), "en": list(g.en)} for g in groups
    ]
    return SafetyPolicy.from_dict(data)


# ---------------------------------------------------------------------------------------- the default


def test_the_default_policy_loads_with_both_languages_in_every_group() -> None:
    assert POLICY.version == "safety-policy-1"
    assert (POLICY.nsfw.review, POLICY.nsfw.block) == (0.5, 0.85)
    assert (POLICY.nudity.review_score, POLICY.nudity.block_score) == (0.45, 0.6)
    assert {
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "ANUS_EXPOSED",
    } <= POLICY.nudity.block_labels
    assert {g.category for g in POLICY.terms} >= {"drugs", "gambling", "scam", "violence", "hate", "sexual"}
    for group in POLICY.terms:
        assert 5 <= len(group.zh) <= 15, group
        assert 5 <= len(group.en) <= 15, group
    assert {g.action for g in POLICY.terms} == {"block", "review"}


def test_a_policy_survives_a_round_trip_through_its_document() -> None:
    assert SafetyPolicy.from_dict(POLICY.to_dict()) == POLICY


@pytest.mark.parametrize(
    "text",
    [
        "欢迎来到短视频平台",
        "Hello world",
        "classic glass assessment",
        "技能培训",
        "The heroine skilled at ice skating",
        "今天天气很好，我们去滑冰吧！",
        "呼吸毒气很危险",
        "眷恋童年的时光",
        "hair cutting tutorial",
        "",
    ],
)
def test_benign_text_is_allowed(text: str) -> None:
    verdict = decide([], [_span(text, source="ocr"), _span(text, source="transcript")], POLICY)
    assert verdict.action == "allow"
    assert verdict.reasons == ()


def test_no_signals_at_all_is_allowed() -> None:
    verdict = decide([], [], POLICY)
    assert (verdict.action, verdict.reasons, verdict.max_nsfw) == ("allow", (), 0.0)
    assert verdict.policy_version == "safety-policy-1"


# -------------------------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("冰毒", "冰毒"),
        ("冰 毒", "冰毒"),
        ("冰-毒", "冰毒"),
        ("冰\u200b毒", "冰毒"),
        ("冰\u3000毒", "冰毒"),
        ("这里有冰·毒！", "冰毒"),
        ("ＢＵＹ  Cocaine", "buy cocaine"),
        ("buy cocaine!!", "buy cocaine"),
        ("BUY-COCAINE", "buy cocaine"),
        ("where to buy\ncocaine?", "buy cocaine"),
        ("买cocaine", "cocaine"),
        ("c0caine", "cocaine"),
        ("c o c a i n e", "cocaine"),
        ("ВUY СОСАINЕ", "buy cocaine"),
        ("coca\u0301ine", "cocaine"),
        ("賭博網站", "赌博网站"),
        ("ｋ粉出售", "K粉出售"),
        ("Meth for sale", "meth for sale"),
    ],
)
def test_each_disguise_of_a_term_is_found_with_its_time(text: str, term: str) -> None:
    hits = find_terms([_span("nothing here", 1.0), _span(text, 12.5, 14.0, "ocr")], POLICY)
    hit = next(h for h in hits if h.term == term)
    assert (hit.start_s, hit.end_s, hit.source, hit.text) == (12.5, 14.0, "ocr", text)
    verdict = decide([], [_span(text, 12.5, 14.0, "ocr")], POLICY)
    reason = next(r for r in verdict.reasons if r.label == f"{hit.category}:{term}")
    assert (reason.kind, reason.times_s, reason.action) == ("term", (12.5,), hit.action)


def test_normalize_makes_the_variants_equal() -> None:
    assert normalize("冰 毒") == normalize("冰-毒") == normalize("冰毒") == "冰 毒"
    assert normalize("ＢＵＹ  Cocaine") == normalize("buy cocaine!!") == "buy cocaine"
    assert normalize("a\u200bb\ufeffc") == "abc"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("skilled workers", False),
        ("killer whale", False),
        ("overkill", False),
        ("kill them", True),
        ("KILL!", True),
        ("don't-kill", True),
        ("杀kill杀", True),
    ],
)
def test_latin_terms_match_whole_words_only(text: str, found: bool) -> None:
    policy = _policy_with(TermGroup("violence", "review", zh=("杀人",), en=("kill",)))
    assert bool(find_terms([_span(text)], policy)) is found


def test_a_phrase_must_keep_its_words_apart() -> None:
    assert (
        find_terms([_span("buycocaine")], _policy_with(TermGroup("drugs", "block", en=("buy cocaine",))))
        == []
    )


def test_one_reason_per_term_with_sorted_distinct_times() -> None:
    spans = [
        _span("冰毒", 5.0),
        _span("buy cocaine", 1.0, source="ocr"),
        _span("冰 毒", 5.0),
        _span("冰毒", 3.0),
    ]
    reasons = {r.label: r for r in decide([], spans, POLICY).reasons}
    assert reasons["drugs:冰毒"].times_s == (3.0, 5.0)
    assert reasons["drugs:buy cocaine"].times_s == (1.0,)
    assert reasons["drugs:buy cocaine"].action == "block"
    assert reasons["drugs:冰毒"].action == "review"
    assert "ocr" in reasons["drugs:buy cocaine"].detail


# -------------------------------------------------------------------------------------------- frames


def test_a_high_nsfw_score_blocks_at_the_frames_that_reach_it() -> None:
    frames = [_frame(0.0, 0.1), _frame(1.0, 0.9), _frame(2.0, 0.6), _frame(3.0, 0.95)]
    verdict = decide(frames, [], POLICY)
    assert verdict.action == "block"
    assert verdict.max_nsfw == 0.95
    (reason,) = verdict.reasons
    assert (reason.kind, reason.label, reason.action, reason.times_s, reason.score) == (
        "nsfw",
        "nsfw",
        "block",
        (1.0, 3.0),
        0.95,
    )


@pytest.mark.parametrize(
    ("score", "action"), [(0.6, "review"), (0.5, "review"), (0.49, "allow"), (0.85, "block")]
)
def test_nsfw_thresholds_are_inclusive(score: float, action: str) -> None:
    verdict = decide([_frame(0.0, 0.1), _frame(2.0, score)], [], POLICY)
    assert verdict.action == action
    if action != "allow":
        assert verdict.reasons[0].times_s == (2.0,)


def test_an_exposed_label_above_block_score_blocks() -> None:
    frames = [_frame(4.0, 0.2, ("FEMALE_GENITALIA_EXPOSED", 0.7), ("FACE_FEMALE", 0.9)), _frame(5.0, 0.2)]
    verdict = decide(frames, [], POLICY)
    assert verdict.action == "block"
    (reason,) = verdict.reasons
    assert (reason.kind, reason.label, reason.times_s, reason.score) == (
        "nudity",
        "FEMALE_GENITALIA_EXPOSED",
        (4.0,),
        0.7,
    )


def test_an_exposed_label_between_the_scores_asks_for_review() -> None:
    verdict = decide([_frame(1.0, 0.0, ("BUTTOCKS_EXPOSED", 0.5))], [], POLICY)
    assert verdict.action == "review"


def test_covered_and_everyday_labels_are_allowed() -> None:
    everyday = sorted(NUDENET_LABELS - POLICY.nudity.block_labels - POLICY.nudity.review_labels)
    assert {"FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED", "BELLY_COVERED", "FEET_COVERED"} <= set(everyday)
    frames = [_frame(float(i), 0.1, (label, 0.99)) for i, label in enumerate(everyday)]
    assert decide(frames, [], POLICY).action == "allow"


def test_a_review_label_asks_for_review_but_never_blocks() -> None:
    verdict = decide([_frame(1.0, 0.0, ("FEMALE_GENITALIA_COVERED", 0.99))], [], POLICY)
    assert verdict.action == "review"


def test_unknown_detection_labels_are_ignored() -> None:
    assert decide([_frame(1.0, 0.0, ("SOMETHING_NEW", 0.99))], [], POLICY).action == "allow"


def test_min_block_frames_turns_a_single_spike_into_review() -> None:
    data = POLICY.to_dict()
    data["nsfw"]["min_block_frames"] = 2
    policy = SafetyPolicy.from_dict(data)
    one = decide([_frame(1.0, 0.9), _frame(2.0, 0.1)], [], policy)
    assert one.action == "review"
    assert one.reasons[0].times_s == (1.0,)
    two = decide([_frame(1.0, 0.9), _frame(2.0, 0.95)], [], policy)
    assert two.action == "block"


# ------------------------------------------------------------------------------------------- severity


def test_the_most_severe_reason_decides_and_comes_first() -> None:
    frames = [_frame(1.0, 0.6), _frame(2.0, 0.1, ("ANUS_EXPOSED", 0.8))]
    verdict = decide(frames, [_span("冰毒", 0.5)], POLICY)
    assert verdict.action == "block"
    assert [r.action for r in verdict.reasons] == ["block", "review", "review"]
    assert [r.kind for r in verdict.reasons] == ["nudity", "nsfw", "term"]
    assert most_severe([]) == "allow"
    assert most_severe(["review", "allow"]) == "review"
    assert most_severe(["review", "block", "allow"]) == "block"


def test_review_only_reasons_give_review() -> None:
    assert decide([_frame(0.0, 0.55)], [_span("guaranteed returns!")], POLICY).action == "review"


def test_the_verdict_is_json_safe() -> None:
    verdict = decide([_frame(1.0, 0.9)], [_span("买冰毒", 2.0)], POLICY)
    doc = verdict.to_dict()
    assert json.loads(json.dumps(doc, ensure_ascii=False)) == doc
    assert doc["action"] == "block"
    assert doc["policy_version"] == "safety-policy-1"
    assert {r["kind"] for r in doc["reasons"]} == {"nsfw", "term"}


# ------------------------------------------------------------------------------------------ validation


def _broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(POLICY.to_dict())
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["nsfw"].update(review=0.9), "must not exceed"),
        (lambda d: d["nsfw"].update(block=1.5), "between 0 and 1"),
        (lambda d: d["nsfw"].update(block="high"), "between 0 and 1"),
        (lambda d: d["nsfw"].update(review=True), "between 0 and 1"),
        (lambda d: d["nsfw"].update(min_block_frames=0), "min_block_frames"),
        (lambda d: d["nudity"].update(review_score=0.7), "must not exceed"),
        (lambda d: d["nudity"].update(block_score=-0.1), "between 0 and 1"),
        (lambda d: d["nudity"]["block_labels"].append("NAKED"), "unknown labels NAKED"),
        (lambda d: d["nudity"]["review_labels"].append("ANUS_EXPOSED"), "in both"),
        (lambda d: d["nudity"].update(block_labels="ANUS_EXPOSED"), "list of strings"),
        (lambda d: d["terms"][0].update(action="allow"), "action must be one of"),
        (lambda d: d["terms"][0].update(action="ban"), "action must be one of"),
        (lambda d: d["terms"][0]["zh"].append(""), "no letters or digits"),
        (lambda d: d["terms"][0]["en"].append("!!!"), "no letters or digits"),
        (lambda d: d["terms"][0].update(zh=[], en=[]), "lists no terms"),
        (lambda d: d["terms"][0].update(category="Drugs!"), "category"),
        (lambda d: d["terms"][0].update(fr=["cocaïne"]), "unknown keys fr"),
        (lambda d: d["terms"][1]["zh"].append("冰 毒"), "listed twice"),
        (lambda d: d["terms"][1]["en"].append("Buy Cocaine"), "listed twice"),
        (lambda d: d.update(terms={"drugs": []}), "list of term groups"),
        (lambda d: d.update(version=""), "version"),
        (lambda d: d.update(extra=1), "unknown keys extra"),
        (lambda d: d.pop("nudity"), "missing nudity"),
        (lambda d: d["nsfw"].pop("block"), "missing block"),
    ],
)
def test_invalid_policies_raise_config_error(change: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SafetyPolicy.from_dict(_broken(change))


def test_a_policy_that_is_not_a_mapping_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="mapping"):
        SafetyPolicy.from_dict([])  # type: ignore[arg-type]


def test_load_reads_a_deployment_file_and_extra_terms(tmp_path: Path) -> None:
    main = tmp_path / "policy.yaml"
    main.write_text(
        "version: custom-2\n"
        "nsfw: {review: 0.4, block: 0.7}\n"
        "nudity: {block_labels: [ANUS_EXPOSED], review_labels: [], block_score: 0.5, review_score: 0.5}\n"
        "terms:\n  - {category: spam, action: review, zh: [加我微信], en: [follow for follow]}\n",
        encoding="utf-8",
    )
    extra = tmp_path / "extra.yaml"
    extra.write_text("terms:\n  - {category: brand, action: block, en: [acme knockoffs]}\n", encoding="utf-8")
    policy = SafetyPolicy.load(main, extra_terms=extra)
    assert policy.version == "custom-2"
    assert [g.category for g in policy.terms] == ["spam", "brand"]
    verdict = decide([_frame(0.0, 0.75)], [_span("加 我 微 信"), _span("ACME knockoffs", 9.0)], policy)
    assert verdict.action == "block"
    assert {r.label for r in verdict.reasons} == {"nsfw", "spam:加我微信", "brand:acme knockoffs"}


@pytest.mark.parametrize(
    ("content", "message"),
    [("nsfw: [unclosed\n", "not valid YAML"), ("just text\n", "mapping"), ("{}\n", "missing")],
)
def test_bad_files_raise_config_error_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        SafetyPolicy.load(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        SafetyPolicy.load(tmp_path / "absent.yaml")


def test_extra_terms_may_not_repeat_a_default_term(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("terms:\n  - {category: drugs, action: block, zh: [冰毒]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="listed twice"):
        SafetyPolicy.load(extra_terms=extra)


@pytest.mark.parametrize(
    "build",
    [
        lambda: FrameSignals(0.0, 1.5, ()),
        lambda: FrameSignals(0.0, float("nan"), ()),
        lambda: FrameSignals(-1.0, 0.5, ()),
        lambda: Detection("ANUS_EXPOSED", 2.0),
        lambda: TextSpan("x", 2.0, 1.0, "ocr"),
        lambda: TextSpan("x", 0.0, 1.0, "subtitle"),  # type: ignore[arg-type]
    ],
)
def test_malformed_model_output_is_rejected(build: Any) -> None:
    with pytest.raises(ValueError):
        build()


# ------------------------------------------------------------------------------------------ properties

_SEPARATORS = st.sampled_from(
    [" ", "\u3000", "-", "_", ".", "·", "。", "，", "！", "*", "/", "\t", "\u200b", "\ufeff"]
)


@given(
    term=st.sampled_from(CJK_TERMS),
    gaps=st.lists(st.lists(_SEPARATORS, max_size=3).map("".join), min_size=20, max_size=20),
    prefix=st.text(max_size=10),
    suffix=st.text(max_size=10),
)
def test_separators_between_the_characters_of_a_chinese_term_never_hide_it(
    term: str, gaps: list[str], prefix: str, suffix: str
) -> None:
    disguised = "".join(ch + gap for ch, gap in zip(term, gaps, strict=False))
    hits = find_terms([_span(prefix + disguised + suffix, 7.0)], POLICY)
    assert term in {h.term for h in hits}


@given(
    term=st.sampled_from(EN_TERMS),
    prefix=st.text(alphabet=string.ascii_lowercase, max_size=4),
    suffix=st.text(alphabet=string.ascii_lowercase, max_size=4),
)
def test_an_english_term_glued_into_longer_words_is_not_found(term: str, prefix: str, suffix: str) -> None:
    if not prefix and not suffix:
        prefix = "x"
    hits = find_terms([_span(f"say {prefix}{term}{suffix} now")], POLICY)
    assert term not in {h.term for h in hits}


@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


_FRAMES = st.lists(
    st.builds(
        FrameSignals,
        st.floats(0.0, 60.0),
        st.floats(0.0, 1.0),
        st.lists(
            st.builds(Detection, st.sampled_from(sorted(NUDENET_LABELS)), st.floats(0.0, 1.0)), max_size=3
        ).map(tuple),
    ),
    max_size=6,
)


@given(frames=_FRAMES, more=_FRAMES)
def test_more_frames_never_make_the_verdict_milder(
    frames: list[FrameSignals], more: list[FrameSignals]
) -> None:
    order = ["allow", "review", "block"]
    before = decide(frames, [], POLICY)
    after = decide(frames + more, [], POLICY)
    assert order.index(after.action) >= order.index(before.action)
    assert after.max_nsfw >= before.max_nsfw
