"""Sentence embeddings in the 384-d space of all-MiniLM-L6-v2, and ConSE, which brings images there too.

A text query and a video meet in one space: text is embedded directly (int8 all-MiniLM-L6-v2, mean-pooled
over its tokens, L2-normalised); an image is placed at the probability-weighted mean of the embeddings of
its most likely ImageNet class names ("a photo of a {name}"), the convex combination of semantic
embeddings (ConSE) of Norouzi et al., 2014.

The vocabulary is English (uncased WordPiece): most Chinese characters become [UNK].

As in `reelmind.models.vision`, runners read input and output names from the model and keep no per-call
state; pooling and ConSE are pure numpy functions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tokenizers

if TYPE_CHECKING:
    import onnxruntime as ort

    from reelmind.models.registry import ModelRegistry

log = logging.getLogger(__name__)

MODEL = "minilm-l6-int8"
TOKENIZER = "minilm-l6-tokenizer"
DIM = 384
#: the prompt class names are embedded in (CLIP's and ConSE's usual template)
CLASS_PROMPT = "a photo of a {name}"
CLASS_BATCH = 64
#: the inputs a BERT-style encoder may declare; an exported model can leave out token_type_ids
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_INT_TYPES: dict[str, type[np.signedinteger]] = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
#: the encoder's position embeddings
_MAX_POSITIONS = 512


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    out: np.ndarray = (x / np.maximum(norm, 1e-12)).astype(np.float32, copy=False)
    return out


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Token id lists -> (ids, attention mask), both (n, longest) int64, padded on the right."""
    width = max((len(s) for s in seqs), default=0)
    ids = np.full((len(seqs), width), pad_id, np.int64)
    mask = np.zeros((len(seqs), width), np.int64)
    for i, seq in enumerate(seqs):
        ids[i, : len(seq)] = seq
        mask[i, : len(seq)] = 1
    return ids, mask


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(n, tokens, d) token vectors and their (n, tokens) attention mask -> (n, d) float32, the mean over
    the real tokens only; a row without any real token gives zeros."""
    if hidden.ndim != 3 or mask.shape != hidden.shape[:2]:
        raise ValueError(f"expected hidden (n, t, d) and mask (n, t), got {hidden.shape} and {mask.shape}")
    weights = mask.astype(np.float32)
    summed = np.einsum("ntd,nt->nd", hidden.astype(np.float32, copy=False), weights)
    out: np.ndarray = summed / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    return out


class TextEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX): texts -> (n, 384) float32 unit vectors.

    Texts are sorted by length and run in batches of `batch_size`, each padded to its longest text; a text
    longer than `max_tokens` wordpieces (with [CLS] and [SEP]) is truncated. `model_id` names the weights
    and vocabulary (their checksums); caches of embeddings are keyed by it, and without it nothing is
    cached.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        tokenizer: tokenizers.Tokenizer,
        max_tokens: int = 128,
        *,
        batch_size: int = 64,
        model_id: str | None = None,
    ) -> None:
        if not 2 <= max_tokens <= _MAX_POSITIONS:
            raise ValueError(f"max_tokens must be within 2..{_MAX_POSITIONS}, not {max_tokens}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.session = session
        declared = {i.name: i.type for i in session.get_inputs()}
        unknown = sorted(set(declared) - set(_INPUTS))
        if "input_ids" not in declared or unknown:
            raise ValueError(
                f"not a BERT-style text encoder: inputs {sorted(declared)}, expected some of {list(_INPUTS)}"
            )
        #: the inputs to feed, each with the integer type the model declares
        self.inputs = {name: _INT_TYPES.get(declared[name], np.int64) for name in _INPUTS if name in declared}
        outputs = session.get_outputs()
        names = [o.name for o in outputs]
        self.output_name = "last_hidden_state" if "last_hidden_state" in names else names[0]
        width = outputs[names.index(self.output_name)].shape[-1]
        self.dim = width if isinstance(width, int) else DIM
        # A private copy: the packaged tokenizer.json pads every text to 128 tokens. Here the tokenizer
        # only truncates, and each batch is padded to its own longest text.
        padding = tokenizer.padding
        self.pad_id = int(padding["pad_id"]) if padding else tokenizer.token_to_id("[PAD]") or 0
        self.tokenizer = tokenizers.Tokenizer.from_str(tokenizer.to_str())
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_tokens)
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.model_id = model_id

    @classmethod
    def from_registry(
        cls, registry: ModelRegistry, max_tokens: int = 128, batch_size: int = 64
    ) -> TextEmbedder:
        """The registry's verified model and tokenizer (raises ModelUnavailable / ModelChecksumMismatch)."""
        tokenizer = tokenizers.Tokenizer.from_file(str(registry.path(TOKENIZER)))
        session = registry.session(MODEL)
        model_id = f"{registry.spec(MODEL).sha256}+{registry.spec(TOKENIZER).sha256}"
        return cls(session, tokenizer, max_tokens, batch_size=batch_size, model_id=model_id)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("expected a sequence of texts, got a single string")
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            ids, mask = pad_batch([encodings[i].ids for i in rows], self.pad_id)
            values = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            feeds = {name: values[name].astype(dtype, copy=False) for name, dtype in self.inputs.items()}
            (hidden,) = self.session.run([self.output_name], feeds)
            out[rows] = _unit(mean_pool(np.asarray(hidden), mask))
        return out


def conse(probs: np.ndarray, class_text: np.ndarray, top_k: int = 10) -> np.ndarray:
    """ConSE: (n, C) class probabilities and (C, d) class text embeddings -> (n, d) float32 unit vectors.

    Each row is the sum of the text embeddings of its `top_k` most probable classes, weighted by their
    probabilities renormalised over those classes, then L2-normalised. A row whose top classes all have
    probability 0 weighs them equally.
    """
    if probs.ndim != 2 or class_text.ndim != 2 or probs.shape[1] != class_text.shape[0]:
        raise ValueError(
            f"expected probs (n, C) and class_text (C, d), got {probs.shape} and {class_text.shape}"
        )
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, not {top_k}")
    n, classes = probs.shape
    if n == 0 or classes == 0:
        return np.zeros((n, class_text.shape[1]), np.float32)
    k = min(top_k, classes)
    p = probs.astype(np.float32, copy=False)
    top = np.argpartition(-p, k - 1, axis=1)[:, :k]  # (n, k): the k largest, in no particular order
    weights = np.take_along_axis(p, top, axis=1)
    mass = weights.sum(axis=1, keepdims=True)
    weights = np.where(mass > 0, weights / np.where(mass > 0, mass, 1.0), 1.0 / k)
    mixed = np.einsum("nk,nkd->nd", weights, class_text.astype(np.float32, copy=False)[top])
    return _unit(mixed)


def _cache_key(embedder: TextEmbedder, names: Sequence[str], prompt: str) -> str:
    identity = {
        "model": embedder.model_id,
        "max_tokens": embedder.max_tokens,
        "prompt": prompt,
        "names": list(names),
    }
    return hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode()).hexdigest()[:32]


def class_table_name(embedder: TextEmbedder, names: Sequence[str], prompt: str = CLASS_PROMPT) -> str:
    """File name of the class-name table for this model, these names and this prompt."""
    return f"class-text-{_cache_key(embedder, names, prompt)}.npy"


def _read_cache(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    try:
        cached = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable class embedding cache %s: %s", path, exc)
        return None
    if cached.shape != shape or cached.dtype != np.float32:
        log.warning("ignoring class embedding cache %s: %s %s", path, cached.dtype, cached.shape)
        return None
    out: np.ndarray = cached
    return out


def _write_cache(path: Path, matrix: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy.part", delete=False) as tmp:
            tmp_path = Path(tmp.name)
            np.save(tmp, matrix, allow_pickle=False)
        try:
            tmp_path.replace(path)
        finally:
            tmp_path.unlink(missing_ok=True)
    except OSError as exc:
        log.info("not caching class embeddings in %s: %s", path.parent, exc)


def class_text_embeddings(
    embedder: TextEmbedder,
    names: Sequence[str],
    cache_dir: Path | None,
    *,
    prompt: str = CLASS_PROMPT,
    prebuilt_dir: Path | None = None,
) -> np.ndarray:
    """(len(names), d) unit vectors of `prompt` filled with each class name, in batches of 64.

    The matrix is cached as .npy in `cache_dir`, keyed by the model's checksums, the names and the prompt,
    so another model or taxonomy is recomputed. Without a cache folder (None, or one that cannot be
    written), or an embedder without a `model_id`, it is simply computed. `prebuilt_dir` (the model
    folder, read only) is looked in first: the model build step writes the table of the bundled taxonomy
    there (`class_table_name`), so a fresh process never spends its first request computing it.
    """
    shape = (len(names), embedder.dim)
    path = None
    if embedder.model_id is not None and names:
        name = class_table_name(embedder, names, prompt)
        if prebuilt_dir is not None:
            prebuilt = _read_cache(prebuilt_dir / name, shape)
            if prebuilt is not None:
                return prebuilt
        if cache_dir is not None:
            path = cache_dir / name
            cached = _read_cache(path, shape)
            if cached is not None:
                return cached
    texts = [prompt.format(name=name) for name in names]
    matrix = np.zeros(shape, np.float32)
    for start in range(0, len(texts), CLASS_BATCH):
        matrix[start : start + CLASS_BATCH] = embedder(texts[start : start + CLASS_BATCH])
    if path is not None:
        _write_cache(path, matrix)
    return matrix
