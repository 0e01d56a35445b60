"""embed: every video and every shot as vectors in the k-NN indexes, and as a keyword document.

- visual (1280-d): EfficientNet-Lite0's pooled features, per keyframe, and per video pooled over shots
  by shot length. Also per region of each keyframe (the whole frame, its centre and four corners at
  half size), so a query image showing one element of a frame (a product, a landmark) finds the shot.
- semantic (384-d, the all-MiniLM-L6-v2 text space): no CLIP model installs offline, so pictures enter
  the text space by ConSE (the probability-weighted mean of the text embeddings of the likely ImageNet
  classes), blended with the embedding of what the video says in words: title, on-screen text,
  transcript. A text query is embedded by the same model and meets videos there.
- keyword document: title, tags and categories in English and in Chinese, OCR text and transcript.

Vectors for every keyframe are also kept in `derived/{id}/embeddings.npz`, so search can say which
shot matched; the pooled semantic vector is kept there too, for the ranking features. The embedder is a
port-like seam (`SemanticEmbedder`): a deployment with a real CLIP model on an endpoint supplies its own
image and text encoders.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from reelmind.domain import keys
from reelmind.domain.taxonomy import Taxonomy, aggregate
from reelmind.models.vision import ImageClassifier, l2_normalize
from reelmind.ports import BlobStore, TextDoc, TextIndex, VectorIndex
from reelmind.services.analysis import VideoContext

EMBED_VERSION = "embed-1"
VISUAL_DIM = 1280
SEMANTIC_DIM = 384
#: Index names: one vector per video (visual, semantic) and one per keyframe region.
VISUAL, SEMANTIC, REGIONS = "visual", "semantic", "regions"
#: Regions of a keyframe, as (x0, y0, x1, y1) fractions: the whole frame, the centre, four corners.
REGION_BOXES = (
    (0.0, 0.0, 1.0, 1.0),
    (0.25, 0.25, 0.75, 0.75),
    (0.0, 0.0, 0.5, 0.5),
    (0.5, 0.0, 1.0, 0.5),
    (0.0, 0.5, 0.5, 1.0),
    (0.5, 0.5, 1.0, 1.0),
)


class SemanticEmbedder(Protocol):
    """Pictures and text into one space. The bundled one is ConSE over MiniLM; a CLIP endpoint fits too."""

    ref: str

    def text(self, texts: Sequence[str]) -> np.ndarray: ...
    def images(self, probs: np.ndarray) -> np.ndarray:
        """Semantic vectors for pictures, from their ImageNet class probabilities (n, 1000)."""
        ...


def regions(image: np.ndarray) -> list[np.ndarray]:
    h, w = image.shape[:2]
    return [
        image[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w)] for x0, y0, x1, y1 in REGION_BOXES
    ]


def blend(picture: np.ndarray, words: np.ndarray | None, words_weight: float) -> np.ndarray:
    """A unit vector between what the pictures show and what the video says (when it says anything)."""
    if words is None:
        return l2_normalize(picture)
    return l2_normalize((1.0 - words_weight) * l2_normalize(picture) + words_weight * l2_normalize(words))


def vectors_bytes(
    visual: np.ndarray, semantic: np.ndarray, times: np.ndarray, semantic_video: np.ndarray | None = None
) -> bytes:
    """Per-keyframe vectors as float16 (half the bytes; cosine rankings are unchanged at this precision),
    and the video's pooled semantic vector (the one in the "semantic" index) as `semantic_video` (1, dim)."""
    buf = io.BytesIO()
    arrays: dict[str, Any] = {
        "visual": visual.astype(np.float16),
        "semantic": semantic.astype(np.float16),
        "times": times.astype(np.float32),
    }
    if semantic_video is not None:
        arrays["semantic_video"] = semantic_video.astype(np.float16)[None, :]
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


class EmbedAnalyzer:
    kind = "embed"

    def __init__(
        self,
        classifier: ImageClassifier,
        classifier_ref: str,
        semantic: SemanticEmbedder,
        taxonomy: Taxonomy,
        blobs: BlobStore,
        indexes: Callable[[str, int], VectorIndex],
        text_index: Callable[[], TextIndex],
        words_weight: float = 0.5,
    ) -> None:
        self.classifier = classifier
        self.classifier_ref = classifier_ref
        self.semantic = semantic
        self.taxonomy = taxonomy
        self.blobs = blobs
        self._indexes = indexes
        self._text_index = text_index
        self.words_weight = words_weight

    def version(self, ctx: VideoContext) -> str:
        inputs = "+".join(f"{k}:{r.version}" for k in ("ocr", "asr") if (r := ctx.results.get(k)) is not None)
        return f"{EMBED_VERSION}+{self.classifier_ref}+{self.semantic.ref}+{self.taxonomy.version}+[{inputs}]"

    def analyze(self, ctx: VideoContext) -> dict[str, Any]:
        frames = ctx.keyframes()
        stored = ctx.ingest["keyframes"]
        weights = ctx.shot_weights()
        pics = self.classifier([k.image for k in frames])
        crops = self.classifier([r for k in frames for r in regions(k.image)])
        semantic_frames = self.semantic.images(pics.probs)
        tags = aggregate(self.taxonomy, pics.probs, weights).to_dict()
        words = self._words(ctx, tags)
        said = " ".join(w for w in (words["title"], words["ocr"], words["transcript"]) if w).strip()
        said_vec = self.semantic.text([said])[0] if said else None
        w = weights / max(1e-9, float(weights.sum()))
        visual = l2_normalize((pics.embeddings * w[:, None]).sum(axis=0))
        semantic = blend((semantic_frames * w[:, None]).sum(axis=0), said_vec, self.words_weight)
        video = ctx.video
        meta = {
            "video_id": video.video_id,
            "created_at": video.created_at,
            "duration_s": ctx.duration_s,
            "categories": sorted(
                {c["id"] for c in tags["categories"]}
                | {ch["id"] for c in tags["categories"] for ch in c["children"]}
            ),
        }
        self._indexes(VISUAL, VISUAL_DIM).upsert([video.video_id], visual[None, :], [meta])
        self._indexes(SEMANTIC, SEMANTIC_DIM).upsert([video.video_id], semantic[None, :], [meta])
        region_ids, region_meta = [], []
        for i, kf in enumerate(stored):
            for r in range(len(REGION_BOXES)):
                region_ids.append(f"{video.video_id}#{i}#{r}")
                region_meta.append(
                    {**meta, "keyframe": i, "time_s": kf["time_s"], "key": kf["key"], "region": r}
                )
        self._indexes(REGIONS, VISUAL_DIM).upsert(region_ids, crops.embeddings, region_meta)
        self._text_index().upsert([TextDoc(video.video_id, words, meta)])
        vectors_key = keys.derived_key(video.video_id, "embeddings.npz")
        self.blobs.put_bytes(
            vectors_key,
            vectors_bytes(
                visual=pics.embeddings,
                semantic=semantic_frames,
                times=np.array([k.time_s for k in frames]),
                semantic_video=semantic,
            ),
            "application/octet-stream",
        )
        return {
            "models": [self.classifier_ref, self.semantic.ref],
            "vectors": {"key": vectors_key, "keyframes": len(frames), "regions": len(region_ids)},
            "indexed_text": {k: v[:500] for k, v in words.items()},
        }

    def _words(self, ctx: VideoContext, tags: dict[str, Any]) -> dict[str, str]:
        ocr = ctx.results.get("ocr")
        asr = ctx.results.get("asr")
        cats = [c for top in tags["categories"] for c in (top, *top["children"])]
        return {
            "title": ctx.video.title or keys.title_from_key(ctx.video.source_key),
            "tags_en": " ".join([*(c["en"] for c in cats), *(t["en"] for t in tags["tags"])]),
            "tags_zh": " ".join([*(c["zh"] for c in cats), *(t["zh"] for t in tags["tags"])]),
            "ocr": ocr.payload.get("text", "") if ocr is not None else "",
            "transcript": asr.payload.get("text", "") if asr is not None else "",
        }


class ConseEmbedder:
    """The bundled `SemanticEmbedder`: MiniLM for text, ConSE over ImageNet class names for pictures."""

    def __init__(
        self, text: Callable[[Sequence[str]], np.ndarray], class_text: np.ndarray, ref: str, top_k: int = 10
    ) -> None:
        from reelmind.models.text import conse

        self._text = text
        self._conse = conse
        self.class_text = class_text
        self.ref = ref
        self.top_k = top_k

    def text(self, texts: Sequence[str]) -> np.ndarray:
        return self._text(texts)

    def images(self, probs: np.ndarray) -> np.ndarray:
        out: np.ndarray = self._conse(probs, self.class_text, self.top_k)
        return out
