"""Image models on keyframes: ImageNet classes + visual embedding, NSFW score, nudity detection.

Runners read input and output names from the model and keep no per-call state; pre- and
post-processing are pure numpy functions (tested on their own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from reelmind.domain.policy import NUDENET_CLASSES

if TYPE_CHECKING:
    import onnxruntime as ort

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
NSFW_MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)


def _check_images(images: Sequence[np.ndarray]) -> None:
    for img in images:
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or min(img.shape[:2]) < 1:
            raise ValueError(f"expected BGR uint8 images (h, w, 3), got {img.dtype} {img.shape}")


def classifier_input(images: Sequence[np.ndarray], size: int = 224) -> np.ndarray:
    """BGR frames -> (n, 3, size, size) float32, RGB, ImageNet-normalised; the whole frame is kept."""
    _check_images(images)
    out = np.empty((len(images), 3, size, size), np.float32)
    for i, img in enumerate(images):
        rgb = cv2.cvtColor(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        out[i] = ((rgb.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    out: np.ndarray = x / np.maximum(norm, 1e-12)
    return out


@dataclass(frozen=True, slots=True)
class Classification:
    probs: np.ndarray  # (n, 1000) softmax over ImageNet-1k
    embeddings: np.ndarray  # (n, 1280) L2-normalised penultimate features


class ImageClassifier:
    """EfficientNet-Lite0 on ImageNet-1k; also the visual embedding."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        names = [o.name for o in session.get_outputs()]
        self.logits_name, self.embedding_name = names[0], names[1]

    def __call__(self, images: Sequence[np.ndarray]) -> Classification:
        if not images:
            return Classification(np.zeros((0, 1000), np.float32), np.zeros((0, 1280), np.float32))
        logits, emb = self.session.run(
            [self.logits_name, self.embedding_name], {self.input_name: classifier_input(images)}
        )
        return Classification(softmax(np.asarray(logits)), l2_normalize(np.asarray(emb)))


def nsfw_input(images: Sequence[np.ndarray]) -> np.ndarray:
    """open_nsfw's reference preprocessing: 256x256, centre 224 crop, BGR minus the dataset mean, NHWC."""
    _check_images(images)
    out = np.empty((len(images), 224, 224, 3), np.float32)
    for i, img in enumerate(images):
        resized = cv2.resize(img, (256, 256), interpolation=cv2.INTER_LINEAR)
        out[i] = resized[16:240, 16:240].astype(np.float32) - NSFW_MEAN_BGR
    return out


class NsfwScorer:
    """Yahoo's open_nsfw: the probability that an image is not safe for work."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros(0, np.float32)
        (probs,) = self.session.run(None, {self.input_name: nsfw_input(images)})
        return np.asarray(probs, np.float32)[:, 1]


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    score: float
    box: tuple[int, int, int, int]  # x, y, w, h in the original image


def letterbox(img: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """Pad to a square at the bottom-right, resize to `size`: (1, 3, size, size) RGB in 0..1, and the scale."""
    h, w = img.shape[:2]
    side = max(h, w)
    padded = cv2.copyMakeBorder(img, 0, side - h, 0, side - w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    rgb = cv2.cvtColor(cv2.resize(padded, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    return (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None], side / size


def decode_detections(
    output: np.ndarray,
    scale: float,
    image_size: tuple[int, int],
    min_score: float = 0.2,
    nms_iou: float = 0.45,
) -> list[Detection]:
    """YOLOv8-style head (1, 4 + classes, anchors) -> boxes in the original image after NMS."""
    rows = np.asarray(output)[0].T  # (anchors, 4 + classes)
    scores = rows[:, 4:]
    cls = scores.argmax(axis=1)
    best = scores[np.arange(len(rows)), cls]
    keep = best >= min_score
    if not keep.any():
        return []
    rows, cls, best = rows[keep], cls[keep], best[keep]
    h, w = image_size
    cx, cy, bw, bh = (rows[:, i] * scale for i in range(4))
    x = np.clip(cx - bw / 2, 0, w)
    y = np.clip(cy - bh / 2, 0, h)
    bw = np.minimum(bw, w - x)
    bh = np.minimum(bh, h - y)
    boxes = [[float(a), float(b), float(c), float(d)] for a, b, c, d in zip(x, y, bw, bh, strict=True)]
    picked = cv2.dnn.NMSBoxes(boxes, best.astype(float).tolist(), min_score, nms_iou)
    return [
        Detection(
            NUDENET_CLASSES[int(cls[i])],
            round(float(best[i]), 4),
            (int(boxes[i][0]), int(boxes[i][1]), int(boxes[i][2]), int(boxes[i][3])),
        )
        for i in np.asarray(picked, dtype=int).reshape(-1)
    ]


class NudityDetector:
    """NudeNet's 320n body-part detector (exposed and covered parts, faces)."""

    def __init__(self, session: ort.InferenceSession, size: int = 320) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.size = size

    def __call__(self, image: np.ndarray) -> list[Detection]:
        _check_images([image])
        blob, scale = letterbox(image, self.size)
        (out,) = self.session.run(None, {self.input_name: blob})
        return decode_detections(np.asarray(out), scale, (image.shape[0], image.shape[1]))
