"""On-screen text (Chinese and English) with RapidOCR's PP-OCR models on onnxruntime.

RapidOCR does text detection, orientation and CTC recognition well; we hand it the model files the
registry verified and the thread count from settings, and keep its output to plain lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reelmind.models.registry import ModelRegistry

OCR_MODELS = ("ppocr-det", "ppocr-rec", "ppocr-cls")


@dataclass(frozen=True, slots=True)
class OcrLine:
    text: str
    score: float
    box: tuple[int, int, int, int]  # x, y, w, h


class OcrEngine:
    def __init__(self, registry: ModelRegistry, max_side: int = 960, min_score: float = 0.5) -> None:
        from rapidocr import RapidOCR

        threads = registry.threads
        params: dict[str, Any] = {
            "Global.log_level": "critical",
            "Global.text_score": min_score,
            "Global.use_cls": False,  # on-screen text in video is upright; saves a model pass per line
            "Det.model_path": str(registry.path("ppocr-det")),
            "Rec.model_path": str(registry.path("ppocr-rec")),
            "Cls.model_path": str(registry.path("ppocr-cls")),
            "Det.limit_type": "max",
            "Det.limit_side_len": max_side,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        self._engine = RapidOCR(params=params)
        self.versions = [registry.spec(name).ref for name in OCR_MODELS]

    def __call__(self, image: np.ndarray) -> list[OcrLine]:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 image, got {image.dtype} {image.shape}")
        out = self._engine(image)
        txts, scores, boxes = (getattr(out, name, None) for name in ("txts", "scores", "boxes"))
        if txts is None or scores is None or boxes is None:
            return []
        lines = []
        for text, score, quad in zip(txts, scores, boxes, strict=True):
            pts = np.asarray(quad, np.float32)
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            lines.append(
                OcrLine(str(text), round(float(score), 4), (int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
            )
        return lines
