from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reelmind.domain.taxonomy import (
    TagSummary,
    Taxonomy,
    aggregate,
    default_taxonomy,
)
from reelmind.errors import ConfigError

PACKAGED = Path(__file__).parents[3] / "shared" / "reelmind" / "data" / "taxonomy.yaml"
LEVEL1 = {"animals", "food", "sports", "music", "vehicles", "people", "nature", "places", "objects", "talent"}
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
PATTERN_TAGS = [
    "maze",
    "jigsaw_puzzle",
    "window_screen",
    "honeycomb",
    "doormat",
    "dishcloth",
    "bubble",
    "nematode",
    "chain_mail",
    "shower_curtain",
    "prayer_rug",
    "velvet",
    "wool",
    "spotlight",
    "lampshade",
    "brain_coral",
    "petri_dish",
    "theater_curtain",
    "handkerchief",
    "crossword",
    "website",
]

TABBY, PERSIAN, GOLDEN_RETRIEVER, ESPRESSO, MAZE = 281, 283, 207, 967, 646


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return default_taxonomy()


def frames(*peaks: dict[int, float], n: int = 1000) -> np.ndarray:
    """One softmax-like row per dict: the given classes get their probability, the rest share what is left."""
    rows = np.empty((len(peaks), n))
    for r, peak in enumerate(peaks):
        rest = (1.0 - sum(peak.values())) / (n - len(peak))
        rows[r] = rest
        for i, p in peak.items():
            rows[r, i] = p
    return rows


def tiny() -> dict[str, Any]:
    """A valid three-class taxonomy to break one field at a time."""
    return {
        "version": "t-1",
        "default_threshold": 0.2,
        "category_threshold": 0.3,
        "categories": [
            {
                "id": "animals",
                "en": "Animals",
                "zh": "动物",
                "children": [
                    {"id": "cat", "en": "Cats", "zh": "猫"},
                    {"id": "dog", "en": "Dogs", "zh": "狗"},
                ],
            },
            {
                "id": "food",
                "en": "Food",
                "zh": "美食",
                "children": [{"id": "coffee", "en": "Coffee", "zh": "咖啡"}],
            },
        ],
        "thresholds": {"espresso": 0.5},
        "classes": [
            {"i": 0, "tag": "tabby_cat", "en": "tabby cat", "zh": "虎斑猫", "cat": "animals/cat"},
            {"i": 1, "tag": "beagle", "en": "Beagle", "zh": "比格犬", "cat": "animals/dog"},
            {"i": 2, "tag": "espresso", "en": "espresso", "zh": "浓缩咖啡", "cat": "food/coffee"},
        ],
    }


# ------------------------------------------------------------------------------------- the packaged file


def test_the_packaged_taxonomy_loads_once(tax: Taxonomy) -> None:
    assert tax.version == "taxonomy-1"
    assert default_taxonomy() is tax
    assert [c.tag for c in Taxonomy.load(PACKAGED).classes] == [c.tag for c in tax.classes]


def test_every_one_of_the_1000_classes_maps_to_exactly_one_second_level_category(tax: Taxonomy) -> None:
    assert len(tax.classes) == 1000
    assert [c.index for c in tax.classes] == list(range(1000))
    assert all(c.category in tax.level2 for c in tax.classes)
    assert tax.membership.shape == (1000, len(tax.level2))
    assert (tax.membership.sum(axis=1) == 1).all()
    assert (tax.parents.sum(axis=1) == 1).all()
    assert tax.thresholds.shape == (1000,)


def test_every_second_level_category_holds_at_least_one_class(tax: Taxonomy) -> None:
    assert (tax.membership.sum(axis=0) >= 1).all()


def test_the_first_level_is_the_agreed_set(tax: Taxonomy) -> None:
    assert set(tax.level1) == LEVEL1
    for cat in tax.level2.values():
        assert cat.parent in tax.level1
        assert cat.id.startswith(f"{cat.parent}/")


def test_ids_are_snake_case_and_tags_are_unique(tax: Taxonomy) -> None:
    tags = [c.tag for c in tax.classes]
    assert len(set(tags)) == len(tags)
    assert all(SNAKE.match(t) for t in tags)
    assert all(SNAKE.match(part) for cid in tax.level2 for part in cid.split("/"))
    assert all(SNAKE.match(cid) for cid in tax.level1)


def test_names_are_present_and_every_chinese_name_is_chinese(tax: Taxonomy) -> None:
    named = [*tax.level1.values(), *tax.level2.values(), *tax.classes]
    for item in named:
        assert item.en.strip(), item
        assert CJK.search(item.zh), item


def test_english_names_follow_the_class_list(tax: Taxonomy) -> None:
    assert tax.classes[0].en == "tench"
    assert tax.classes[TABBY].en == "tabby cat"
    assert tax.classes[ESPRESSO].zh == "浓缩咖啡"
    assert tax.classes[999].en == "toilet paper"


@pytest.mark.parametrize(
    ("indices", "category"),
    [
        (range(281, 286), "animals/cat"),
        (range(151, 269), "animals/dog"),
        ([967, 968, 504, 505], "food/coffee"),
        ([657, 744], "objects/weapons"),
        ([812], "vehicles/spacecraft"),
        ([402, 546], "music/guitar"),
        ([842, 433, 639], "sports/swimming"),
    ],
)
def test_required_mappings(tax: Taxonomy, indices: range | list[int], category: str) -> None:
    assert {tax.classes[i].category for i in indices} == {category}


@pytest.mark.parametrize("tag", PATTERN_TAGS)
def test_pattern_classes_need_high_confidence(tax: Taxonomy, tag: str) -> None:
    assert tax.threshold(tag) >= 0.5


# ----------------------------------------------------------------------------------------- validation


def test_the_tiny_taxonomy_is_valid() -> None:
    tax = Taxonomy.from_dict(tiny())
    assert list(tax.level2) == ["animals/cat", "animals/dog", "food/coffee"]
    assert tax.thresholds.tolist() == [0.2, 0.2, 0.5]
    assert tax.category_threshold == 0.3


def _broken(change: str) -> dict[str, Any]:
    data = copy.deepcopy(tiny())
    classes = data["classes"]
    if change == "duplicate tag":
        classes[1]["tag"] = "tabby_cat"
    elif change == "unknown category":
        classes[2]["cat"] = "food/tea"
    elif change == "unknown first level":
        classes[2]["cat"] = "drinks/coffee"
    elif change == "missing class":
        del classes[1]
    elif change == "classes out of order":
        classes[0], classes[1] = classes[1], classes[0]
    elif change == "threshold zero":
        data["default_threshold"] = 0
    elif change == "threshold above one":
        data["category_threshold"] = 1.5
    elif change == "threshold not a number":
        data["thresholds"] = {"espresso": "high"}
    elif change == "override for an unknown tag":
        data["thresholds"] = {"latte": 0.5}
    elif change == "duplicate second level":
        data["categories"][0]["children"].append({"id": "cat", "en": "Cats", "zh": "猫"})
    elif change == "duplicate first level":
        data["categories"].append(copy.deepcopy(data["categories"][1]))
    elif change == "id not snake case":
        data["categories"][0]["children"][0]["id"] = "Cat"
    elif change == "first level without children":
        data["categories"][1]["children"] = []
    elif change == "empty chinese name":
        classes[0]["zh"] = ""
    elif change == "no version":
        del data["version"]
    return data


@pytest.mark.parametrize(
    "change",
    [
        "duplicate tag",
        "unknown category",
        "unknown first level",
        "missing class",
        "classes out of order",
        "threshold zero",
        "threshold above one",
        "threshold not a number",
        "override for an unknown tag",
        "duplicate second level",
        "duplicate first level",
        "id not snake case",
        "first level without children",
        "empty chinese name",
        "no version",
    ],
)
def test_invalid_taxonomies_are_config_errors(change: str) -> None:
    with pytest.raises(ConfigError):
        Taxonomy.from_dict(_broken(change))


def test_the_error_names_the_problem() -> None:
    with pytest.raises(ConfigError, match=r"'tabby_cat'.*0 and 1"):
        Taxonomy.from_dict(_broken("duplicate tag"))
    with pytest.raises(ConfigError, match="food/tea"):
        Taxonomy.from_dict(_broken("unknown category"))
    with pytest.raises(ConfigError, match="latte"):
        Taxonomy.from_dict(_broken("override for an unknown tag"))


@pytest.mark.parametrize("data", [None, [], "taxonomy"])
def test_data_that_is_not_a_mapping_is_a_config_error(data: Any) -> None:
    with pytest.raises(ConfigError):
        Taxonomy.from_dict(data)


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Taxonomy.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Taxonomy.load(bad)


def test_overrides_return_a_copy(tax: Taxonomy) -> None:
    lowered = tax.with_overrides({"maze": 0.1, "tabby_cat": 0.9})
    assert lowered.threshold("maze") == 0.1
    assert lowered.threshold("tabby_cat") == 0.9
    assert tax.threshold("maze") >= 0.5
    assert tax.threshold("tabby_cat") == pytest.approx(0.15)
    with pytest.raises(ConfigError):
        tax.with_overrides({"not_a_tag": 0.5})
    with pytest.raises(ConfigError):
        tax.with_overrides({"maze": 0.0})


# ------------------------------------------------------------------------------------------ aggregate


def test_a_cat_video_is_an_animal_video_about_cats(tax: Taxonomy) -> None:
    # GIVEN three keyframes where a tabby or a Persian cat dominates
    probs = frames({TABBY: 0.7, PERSIAN: 0.1}, {TABBY: 0.5, PERSIAN: 0.3}, {TABBY: 0.6, PERSIAN: 0.2})

    # WHEN they are aggregated
    summary = aggregate(tax, probs)

    # THEN the video is animals -> cat, and the top tag is the tabby with its best frame kept
    assert [c.id for c in summary.categories] == ["animals"]
    assert [c.id for c in summary.categories[0].children] == ["animals/cat"]
    assert summary.categories[0].children[0].zh == "猫咪"
    assert [t.tag for t in summary.tags] == ["tabby_cat", "persian_cat"]
    assert summary.tags[0].score == pytest.approx(0.6)
    assert summary.tags[0].max_score == pytest.approx(0.7)
    assert summary.tags[0].category == "animals/cat"


def test_category_scores_are_probability_mass(tax: Taxonomy) -> None:
    # GIVEN one frame split between two cat breeds, neither enough on its own for a tag
    probs = frames({TABBY: 0.14, PERSIAN: 0.14})
    summary = aggregate(tax, probs)

    # THEN no tag passes, but the cat category does on the summed mass, and the first level sums all
    # of its children (including the ones below the category threshold)
    assert summary.tags == []
    cat = summary.categories[0].children[0]
    assert cat.id == "animals/cat"
    assert cat.score == pytest.approx(0.28 + 3 * probs[0, 0])
    animals = probs[0] @ tax.membership @ tax.parents
    assert summary.categories[0].score == pytest.approx(animals[tax.level1_ids.index("animals")])


def test_weights_change_the_winner(tax: Taxonomy) -> None:
    # GIVEN a cat shot and a dog shot
    probs = frames({TABBY: 0.8}, {GOLDEN_RETRIEVER: 0.8})

    # WHEN the dog shot lasts three times as long, the dog wins; and the other way round
    dog_long = aggregate(tax, probs, weights=np.array([1.0, 3.0]))
    cat_long = aggregate(tax, probs, weights=np.array([3.0, 1.0]))

    # THEN
    assert dog_long.tags[0].tag == "golden_retriever"
    assert dog_long.categories[0].children[0].id == "animals/dog"
    assert cat_long.tags[0].tag == "tabby_cat"
    assert cat_long.categories[0].children[0].id == "animals/cat"
    assert dog_long.tags[0].score == pytest.approx(0.6, abs=1e-3)


def test_a_zero_weight_frame_does_not_count(tax: Taxonomy) -> None:
    probs = frames({TABBY: 0.8}, {ESPRESSO: 0.9})
    summary = aggregate(tax, probs, weights=[1.0, 0.0])
    assert [t.tag for t in summary.tags] == ["tabby_cat"]
    assert summary.tags[0].score == pytest.approx(0.8)


def test_pattern_classes_are_suppressed_by_their_threshold(tax: Taxonomy) -> None:
    # GIVEN a test pattern the classifier calls a maze at 40 %, as confident as a real espresso shot
    probs = frames({MAZE: 0.4, ESPRESSO: 0.4})

    # WHEN aggregated with the packaged thresholds, and with the maze threshold lowered by config
    default = aggregate(tax, probs)
    lowered = aggregate(tax.with_overrides({"maze": 0.3}), probs)

    # THEN only the espresso is a tag by default
    assert [t.tag for t in default.tags] == ["espresso"]
    assert {t.tag for t in lowered.tags} == {"maze", "espresso"}


def test_top_k_limits_the_tags(tax: Taxonomy) -> None:
    probs = frames({TABBY: 0.3, PERSIAN: 0.25, GOLDEN_RETRIEVER: 0.2, ESPRESSO: 0.16})
    assert [t.tag for t in aggregate(tax, probs, top_k=2).tags] == ["tabby_cat", "persian_cat"]
    assert len(aggregate(tax, probs).tags) == 4
    assert aggregate(tax, probs, top_k=0).tags == []


def test_categories_are_sorted_by_score(tax: Taxonomy) -> None:
    probs = frames({TABBY: 0.3, ESPRESSO: 0.6})
    summary = aggregate(tax, probs)
    assert [c.id for c in summary.categories] == ["food", "animals"]
    assert summary.categories[0].children[0].id == "food/coffee"


def test_zero_frames_give_an_empty_summary(tax: Taxonomy) -> None:
    summary = aggregate(tax, np.zeros((0, 1000)))
    assert summary == TagSummary([], [])
    assert summary.to_dict() == {"categories": [], "tags": []}
    assert aggregate(tax, np.zeros((0, 1000)), weights=np.zeros(0)).tags == []


def test_to_dict_is_plain_json_with_rounded_scores(tax: Taxonomy) -> None:
    probs = frames({TABBY: 2 / 3})
    data = aggregate(tax, probs).to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    tag = data["tags"][0]
    assert tag == {
        "tag": "tabby_cat",
        "en": "tabby cat",
        "zh": "虎斑猫",
        "category": "animals/cat",
        "score": 0.6667,
        "max_score": 0.6667,
    }
    assert type(tag["score"]) is float
    assert data["categories"][0]["children"][0]["id"] == "animals/cat"


@pytest.mark.parametrize(
    ("probs", "weights"),
    [
        (np.full(1000, 0.001), None),
        (np.full((2, 999), 0.001), None),
        (np.full((2, 1000, 1), 0.001), None),
        (np.full((2, 1000), 0.001), np.ones(3)),
        (np.full((2, 1000), 0.001), np.ones((2, 1))),
        (np.full((2, 1000), 0.001), np.array([1.0, -1.0])),
        (np.full((2, 1000), 0.001), np.zeros(2)),
        (np.full((2, 1000), 0.001), np.array([1.0, np.nan])),
        (np.full((2, 1000), np.nan), None),
        (np.full((2, 1000), -0.001), None),
        (np.full((2, 1000), 2.0), None),
    ],
    ids=[
        "one-dimensional",
        "too few classes",
        "three-dimensional",
        "too many weights",
        "weights not flat",
        "negative weight",
        "all weights zero",
        "NaN weight",
        "NaN probability",
        "negative probability",
        "probability above one",
    ],
)
def test_bad_input_is_a_value_error(tax: Taxonomy, probs: np.ndarray, weights: np.ndarray | None) -> None:
    with pytest.raises(ValueError):
        aggregate(tax, probs, weights)


def test_negative_top_k_is_a_value_error(tax: Taxonomy) -> None:
    with pytest.raises(ValueError):
        aggregate(tax, frames({TABBY: 0.5}), top_k=-1)


def test_a_tiny_taxonomy_aggregates_too() -> None:
    tax = Taxonomy.from_dict(tiny())
    summary = aggregate(tax, np.array([[0.1, 0.2, 0.7], [0.0, 0.6, 0.4]]))
    assert [t.tag for t in summary.tags] == ["espresso", "beagle"]
    assert [c.id for c in summary.categories] == ["food", "animals"]
    assert [c.id for c in summary.categories[1].children] == ["animals/dog"]
    assert summary.categories[1].score == pytest.approx(0.45)
