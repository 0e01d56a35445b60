"""The sentence embedder on the real model, its pure numpy parts, ConSE and the class-name cache."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from reelmind.errors import ModelChecksumMismatch
from reelmind.models.registry import ModelRegistry
from reelmind.models.text import (
    CLASS_PROMPT,
    DIM,
    TOKENIZER,
    TextEmbedder,
    class_table_name,
    class_text_embeddings,
    conse,
    mean_pool,
    pad_batch,
)
from reelmind.settings import Settings

MODEL_DIR = Settings().model_dir


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry(MODEL_DIR, threads=2)


@pytest.fixture(scope="module")
def embed(registry: ModelRegistry) -> TextEmbedder:
    return TextEmbedder.from_registry(registry)


def test_vectors_are_384_d_and_unit_length(embed: TextEmbedder) -> None:
    v = embed(["a dog running on the beach", "城市夜景", "42"])
    assert v.shape == (3, DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_close_sentences_are_closer_than_unrelated_ones(embed: TextEmbedder) -> None:
    cat, kitten, rocket = embed(["a cat sitting on a sofa", "a kitten resting on a couch", "a rocket launch"])
    assert float(cat @ kitten) > 0.6
    assert float(cat @ kitten) > float(cat @ rocket) + 0.3
    assert float(cat @ kitten) > float(kitten @ rocket) + 0.3


def test_batches_give_the_same_vectors_as_one_by_one(registry: ModelRegistry) -> None:
    small = TextEmbedder.from_registry(registry, batch_size=3)  # several batches, each padded differently
    texts = [
        "a rocket launch",
        "",
        "the quick brown fox jumps over the lazy dog while the sun sets behind the hills",
        "snow",
        "word " * 300,  # longer than max_tokens
        "Street food at night in a busy market",
        "   ",
    ]
    batched = small(texts)
    alone = np.vstack([small([t]) for t in texts])
    assert np.allclose(batched, alone, atol=1e-5)


def test_empty_input_and_blank_texts(embed: TextEmbedder) -> None:
    none = embed([])
    assert none.shape == (0, DIM) and none.dtype == np.float32
    blank, spaces = embed(["", " \t\n "])
    assert np.isfinite(blank).all() and np.linalg.norm(blank) == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(blank, spaces, atol=1e-6), "both are just [CLS] [SEP]"
    with pytest.raises(TypeError):
        embed("a single string, not a list")


def test_long_texts_are_truncated_to_max_tokens(registry: ModelRegistry) -> None:
    short = TextEmbedder.from_registry(registry, max_tokens=6)  # [CLS] + 4 wordpieces + [SEP]
    a, b, c = short(["one two three four five six", "one two three four seven eight", "one two three"])
    assert np.allclose(a, b, atol=1e-6) and not np.allclose(a, c, atol=1e-3)
    with pytest.raises(ValueError):
        TextEmbedder.from_registry(registry, max_tokens=1000)


class _Session:
    """A stand-in encoder that declares only input_ids and attention_mask, and records what it is fed."""

    def __init__(self) -> None:
        self.fed: list[dict[str, np.ndarray]] = []

    def get_inputs(self) -> list[Any]:
        return [
            SimpleNamespace(name="input_ids", type="tensor(int32)"),
            SimpleNamespace(name="attention_mask", type="tensor(int64)"),
        ]

    def get_outputs(self) -> list[Any]:
        return [SimpleNamespace(name="last_hidden_state", shape=["batch", "sequence", 8])]

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        assert names == ["last_hidden_state"]
        self.fed.append(feeds)
        ids = feeds["input_ids"]
        return [np.repeat(ids[..., None].astype(np.float32), 8, axis=2) + 1.0]


def test_only_the_declared_inputs_are_fed_with_their_types(registry: ModelRegistry) -> None:
    import tokenizers

    session = _Session()
    tokenizer = tokenizers.Tokenizer.from_file(str(registry.path(TOKENIZER)))
    v = TextEmbedder(session, tokenizer)(["hello", "hello world"])
    assert v.shape == (2, 8) and np.allclose(np.linalg.norm(v, axis=1), 1.0)
    (feeds,) = session.fed
    assert set(feeds) == {"input_ids", "attention_mask"}
    assert feeds["input_ids"].dtype == np.int32 and feeds["attention_mask"].dtype == np.int64
    assert feeds["input_ids"].shape == (2, 4), "padded to the longest in the batch, not to 128"
    assert tokenizer.padding is not None and tokenizer.padding["length"] == 128, (
        "the caller's copy is untouched"
    )


class _ImageSession(_Session):
    def get_inputs(self) -> list[Any]:
        return [SimpleNamespace(name="pixel_values", type="tensor(float)")]


def test_an_unknown_input_is_refused(registry: ModelRegistry) -> None:
    import tokenizers

    with pytest.raises(ValueError, match="not a BERT-style text encoder"):
        TextEmbedder(_ImageSession(), tokenizers.Tokenizer.from_file(str(registry.path(TOKENIZER))))


def test_pad_batch_pads_right_and_masks() -> None:
    ids, mask = pad_batch([[101, 7, 102], [101, 102]], pad_id=0)
    assert ids.tolist() == [[101, 7, 102], [101, 102, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    empty_ids, empty_mask = pad_batch([])
    assert empty_ids.shape == (0, 0) and empty_mask.shape == (0, 0)


def test_mean_pool_ignores_padding() -> None:
    hidden = np.array(
        [
            [[1.0, 2.0], [3.0, 4.0], [1e6, -1e6]],  # the last token is padding
            [[2.0, 2.0], [9e9, 9e9], [9e9, 9e9]],
            [[5.0, 5.0], [5.0, 5.0], [5.0, 5.0]],  # no real token at all
        ],
        np.float32,
    )
    mask = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]])
    pooled = mean_pool(hidden, mask)
    assert pooled.dtype == np.float32
    assert np.allclose(pooled, [[2.0, 3.0], [2.0, 2.0], [0.0, 0.0]])
    with pytest.raises(ValueError):
        mean_pool(hidden, mask[:, :2])


def test_conse_follows_the_probable_classes() -> None:
    class_text = np.eye(4, dtype=np.float32)  # class i points along axis i
    probs = np.array([[0.6, 0.3, 0.06, 0.04], [0.05, 0.05, 0.1, 0.8]], np.float32)
    out = conse(probs, class_text, top_k=2)
    assert out.shape == (2, 4) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    expected0 = np.array([0.6, 0.3, 0, 0]) / np.linalg.norm([0.6, 0.3])
    assert np.allclose(out[0], expected0, atol=1e-6)
    assert out[1].argmax() == 3 and out[1, 0] == 0 and out[1, 1] == 0, "only the top 2 classes count"
    assert np.allclose(out[1, 2:], np.array([0.1, 0.8]) / np.linalg.norm([0.1, 0.8]), atol=1e-6)


def test_conse_top_k_and_edge_cases() -> None:
    rng = np.random.default_rng(0)
    class_text = rng.normal(size=(6, 5)).astype(np.float32)
    probs = rng.dirichlet(np.ones(6), size=3).astype(np.float32)
    top1 = conse(probs, class_text, top_k=1)
    best = class_text[probs.argmax(axis=1)]
    assert np.allclose(top1, best / np.linalg.norm(best, axis=1, keepdims=True), atol=1e-6)
    everything = conse(probs, class_text, top_k=100)  # more than there are classes: all of them
    mixed = probs @ class_text
    assert np.allclose(everything, mixed / np.linalg.norm(mixed, axis=1, keepdims=True), atol=1e-5)
    assert np.allclose(np.linalg.norm(conse(np.zeros((1, 6)), class_text), axis=1), 1.0)
    assert conse(np.zeros((0, 6)), class_text).shape == (0, 5)
    with pytest.raises(ValueError):
        conse(probs, class_text[:5])
    with pytest.raises(ValueError):
        conse(probs, class_text, top_k=0)


def test_class_text_embeddings_are_cached_and_recomputed_when_names_change(
    embed: TextEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["tabby cat", "space shuttle", "golden retriever"]
    first = class_text_embeddings(embed, names, tmp_path)
    assert first.shape == (3, DIM)
    assert np.allclose(first, embed([CLASS_PROMPT.format(name=n) for n in names]), atol=1e-5)
    (cached,) = tmp_path.glob("*.npy")
    assert not list(tmp_path.glob("*.part")), "written atomically, nothing left behind"

    def refuse(self: TextEmbedder, texts: object) -> np.ndarray:
        raise AssertionError("should have been read from the cache")

    with monkeypatch.context() as m:
        m.setattr(TextEmbedder, "__call__", refuse)
        assert np.array_equal(class_text_embeddings(embed, names, tmp_path), first)

    changed = class_text_embeddings(embed, [*names[:2], "beagle"], tmp_path)
    assert np.allclose(changed[:2], first[:2], atol=1e-6) and not np.allclose(changed[2], first[2])
    assert len(list(tmp_path.glob("*.npy"))) == 2 and cached.exists()
    other_prompt = class_text_embeddings(embed, names, tmp_path, prompt="{name}")
    assert not np.allclose(other_prompt, first)
    assert len(list(tmp_path.glob("*.npy"))) == 3


def test_another_model_does_not_read_the_cache(embed: TextEmbedder, tmp_path: Path) -> None:
    names = ["volcano", "lakeside"]
    class_text_embeddings(embed, names, tmp_path)
    other = TextEmbedder(embed.session, embed.tokenizer, model_id="other-weights")
    class_text_embeddings(other, names, tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 2


def test_class_text_embeddings_without_a_usable_cache(embed: TextEmbedder, tmp_path: Path) -> None:
    names = ["volcano", "lakeside"]
    expected = class_text_embeddings(embed, names, None)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert np.allclose(class_text_embeddings(embed, names, blocker / "cache"), expected, atol=1e-6)
    (tmp_path / "corrupt").mkdir()
    class_text_embeddings(embed, names, tmp_path / "corrupt")
    (cached,) = (tmp_path / "corrupt").glob("*.npy")
    cached.write_bytes(b"garbage")
    assert np.allclose(class_text_embeddings(embed, names, tmp_path / "corrupt"), expected, atol=1e-6)
    assert class_text_embeddings(embed, [], tmp_path).shape == (0, DIM)


def test_a_tampered_tokenizer_is_refused(tmp_path: Path, registry: ModelRegistry) -> None:
    shutil.copyfile(registry.path(TOKENIZER), tmp_path / registry.spec(TOKENIZER).filename)
    with (tmp_path / registry.spec(TOKENIZER).filename).open("a") as fh:
        fh.write(" ")
    with pytest.raises(ModelChecksumMismatch, match="refusing to run unknown weights"):
        TextEmbedder.from_registry(ModelRegistry(tmp_path))


def test_a_prebuilt_table_in_the_model_folder_is_read_first_and_only_for_its_names(
    embed: TextEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a table the build step wrote into a (read-only) model folder
    names = ["tabby cat", "space shuttle"]
    prebuilt, cache = tmp_path / "models", tmp_path / "cache"
    built = class_text_embeddings(embed, names, prebuilt)
    assert (prebuilt / class_table_name(embed, names)).is_file()

    def refuse(self: TextEmbedder, texts: object) -> np.ndarray:
        raise AssertionError("should have been read from the model folder")

    # WHEN a process asks for the same names THEN it reads it, computing and caching nothing
    with monkeypatch.context() as m:
        m.setattr(TextEmbedder, "__call__", refuse)
        assert np.array_equal(class_text_embeddings(embed, names, cache, prebuilt_dir=prebuilt), built)
    assert not cache.exists()
    # and other names are computed, not taken from a table made for different ones
    other = class_text_embeddings(embed, ["beagle", "volcano"], cache, prebuilt_dir=prebuilt)
    assert np.allclose(other, embed([CLASS_PROMPT.format(name=n) for n in ["beagle", "volcano"]]), atol=1e-5)
    assert len(list(cache.glob("*.npy"))) == 1
