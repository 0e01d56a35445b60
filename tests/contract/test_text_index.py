"""TextIndex contract, on the SQLite adapter and on OpenSearch: a word in any field finds a document, field
weights order the results, Chinese matches by character and by character pair, deletes and replacements
are honoured, `k` limits the answer, and a query without a word answers nothing.

The aws case runs `OpenSearchTextIndex` against osmem-server (an in-memory OpenSearch API emulator with
BM25 scoring). Both adapters tokenize with `reelmind.domain.text`, so the same queries match the same
documents; scores differ in scale, so the tests compare orders, not values.
"""

from __future__ import annotations

import pytest

from reelmind.ports import Hit, TextDoc
from tests.contract.conftest import OpenTextIndex

DOCS = [
    TextDoc(
        "tabby", {"title": "Sleepy afternoon", "tags": "猫 虎斑猫", "transcript": "purring softly"}, {"n": 1}
    ),
    TextDoc("zebra", {"title": "Savanna crossing", "tags": "斑马 老虎", "ocr": "WILDLIFE PARK"}, {"n": 2}),
    TextDoc(
        "city", {"title": "Night market", "transcript": "the vendor sells noodles", "ocr": "夜市"}, {"n": 3}
    ),
]


def _ids(hits: list[Hit]) -> list[str]:
    return [h.id for h in hits]


@pytest.mark.parametrize("weights", [None, {"title": 2.0, "tags": 1.5}], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("afternoon", "tabby"),  # title
        ("Purring", "tabby"),  # transcript, any case
        ("wildlife", "zebra"),  # ocr, written in capitals
        ("NOODLES!", "city"),  # punctuation is not part of a word
        ("夜市", "city"),  # Chinese in ocr
    ],
)
def test_a_document_is_found_by_a_word_in_any_field(
    open_text_index: OpenTextIndex, weights: dict[str, float] | None, query: str, expected: str
) -> None:
    index = open_text_index(weights)
    index.upsert(DOCS)
    hits = index.search(query, 10)
    assert _ids(hits) == [expected]
    assert hits[0].meta == next(d.meta for d in DOCS if d.id == expected)
    assert hits[0].score > 0


def test_field_weights_order_the_results(open_text_index: OpenTextIndex) -> None:
    # The same words in swapped fields: only the weights can tell the two documents apart.
    docs = [
        TextDoc("in-title", {"title": "zebra crossing", "transcript": "morning walk"}),
        TextDoc("in-transcript", {"title": "morning walk", "transcript": "zebra crossing"}),
    ]
    title_first = open_text_index({"title": 3.0, "transcript": 1.0})
    title_first.upsert(docs)
    hits = title_first.search("zebra", 10)
    assert _ids(hits) == ["in-title", "in-transcript"]
    assert hits[0].score > hits[1].score
    transcript_first = open_text_index({"title": 1.0, "transcript": 3.0})  # same data, other weights
    assert _ids(transcript_first.search("zebra", 10)) == ["in-transcript", "in-title"]


def test_one_chinese_character_finds_a_word_that_contains_it(open_text_index: OpenTextIndex) -> None:
    index = open_text_index(None)
    index.upsert(DOCS)
    assert _ids(index.search("猫", 10)) == ["tabby"]


def test_a_two_character_word_ranks_it_above_its_characters_apart(open_text_index: OpenTextIndex) -> None:
    index = open_text_index(None)
    index.upsert(DOCS)
    # "tabby" has 虎斑 together (in 虎斑猫); "zebra" has 斑 (斑马) and 虎 (老虎) apart.
    assert _ids(index.search("虎斑", 10)) == ["tabby", "zebra"]
    assert _ids(index.search("斑马", 10))[0] == "zebra"


def test_deletes_are_honoured(open_text_index: OpenTextIndex) -> None:
    index = open_text_index(None)
    index.upsert(DOCS)
    index.delete(["tabby", "not-there"])
    assert index.search("purring", 10) == []
    assert "tabby" not in _ids(index.search("猫 虎", 10))
    assert index.count() == 2
    reopened = open_text_index(None)
    assert reopened.search("purring", 10) == []
    assert reopened.count() == 2


def test_upsert_replaces_a_document(open_text_index: OpenTextIndex) -> None:
    index = open_text_index(None)
    index.upsert(DOCS)
    index.upsert([TextDoc("tabby", {"title": "Rainy morning"}, {"n": 10})])
    assert index.count() == 3
    assert index.search("purring", 10) == []  # the old fields are gone, not merged
    assert index.search("猫", 10) == []
    hits = index.search("rainy", 10)
    assert _ids(hits) == ["tabby"] and hits[0].meta == {"n": 10}


def test_k_limits_the_answer_best_first(open_text_index: OpenTextIndex) -> None:
    index = open_text_index(None)
    index.upsert([TextDoc(f"d{i}", {"title": "cat " * (i + 1) + "video"}) for i in range(6)])
    hits = index.search("cat", 3)
    assert len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(index.search("cat", 100)) == 6
    assert index.search("cat", 0) == []


@pytest.mark.parametrize("query", ["", "   ", "!!! ... ？。，", "\n\t-"])
def test_a_query_without_a_word_answers_nothing(open_text_index: OpenTextIndex, query: str) -> None:
    index = open_text_index(None)
    index.upsert(DOCS)
    assert index.search(query, 10) == []


def test_count(open_text_index: OpenTextIndex) -> None:
    index = open_text_index(None)
    assert index.count() == 0
    index.upsert(DOCS)
    assert index.count() == 3
    index.upsert(DOCS[:1])
    assert index.count() == 3
    index.upsert([TextDoc("empty", {})])  # a document without text is still a document
    assert index.count() == 4
