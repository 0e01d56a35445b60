"""Pre- and post-processing of the image models (pure numpy), and the runners on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reelmind import samples
from reelmind.domain.policy import NUDENET_CLASSES
from reelmind.models.registry import ModelRegistry
from reelmind.models.vision import (
    ImageClassifier,
    NsfwScorer,
    NudityDetector,
    classifier_input,
    decode_detections,
    letterbox,
    nsfw_input,
    softmax,
)
from reelmind.settings import Settings


def _bgr(name: str) -> np.ndarray:
    return cv2.cvtColor(samples.photo(name), cv2.COLOR_RGB2BGR)


def test_classifier_input_is_normalised_rgb_nchw() -> None:
    img = np.zeros((90, 160, 3), np.uint8)
    img[:, :, 2] = 255  # pure red in BGR
    x = classifier_input([img])
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    assert x[0, 0].mean() == pytest.approx((1 - 0.485) / 0.229, rel=1e-4)  # red channel first
    assert x[0, 2].mean() == pytest.approx((0 - 0.406) / 0.225, rel=1e-4)


def test_nsfw_input_is_a_centre_crop_minus_the_mean() -> None:
    img = np.full((300, 500, 3), 104, np.uint8)
    x = nsfw_input([img])
    assert x.shape == (1, 224, 224, 3) and abs(float(x[0, :, :, 0].mean())) < 1e-6


def test_bad_images_are_refused() -> None:
    with pytest.raises(ValueError):
        classifier_input([np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError):
        nsfw_input([np.zeros((10, 10, 3), np.float32)])


def test_softmax_rows_sum_to_one() -> None:
    p = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    assert np.allclose(p.sum(axis=1), 1.0) and np.allclose(p[1], [0.25, 0.75])


def test_letterbox_pads_bottom_right_and_reports_the_scale() -> None:
    blob, scale = letterbox(np.full((100, 200, 3), 255, np.uint8), 320)
    assert blob.shape == (1, 3, 320, 320) and scale == pytest.approx(200 / 320)
    assert blob[0, :, :100, :].min() > 0.99 and blob[0, :, 200:, :].max() == 0.0


def test_decode_detections_scales_boxes_and_suppresses_overlaps() -> None:
    classes = len(NUDENET_CLASSES)
    out = np.zeros((1, 4 + classes, 3), np.float32)
    # two overlapping boxes of the same part, and one weak box that is dropped
    out[0, :4, 0] = [100, 100, 40, 40]
    out[0, 4 + 1, 0] = 0.9  # FACE_FEMALE
    out[0, :4, 1] = [102, 101, 40, 40]
    out[0, 4 + 1, 1] = 0.6
    out[0, :4, 2] = [10, 10, 5, 5]
    out[0, 4 + 3, 2] = 0.1
    dets = decode_detections(out, scale=2.0, image_size=(640, 640))
    assert [(d.label, d.score) for d in dets] == [("FACE_FEMALE", 0.9)]
    assert dets[0].box == (160, 160, 80, 80)
    assert decode_detections(np.zeros((1, 4 + classes, 5), np.float32), 1.0, (10, 10)) == []


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry(Settings().model_dir, threads=2)


def test_the_classifier_knows_a_cat_and_espresso(registry: ModelRegistry) -> None:
    result = ImageClassifier(registry.session("efficientnet-lite0"))([_bgr("chelsea"), _bgr("coffee")])
    top = result.probs.argmax(axis=1)
    assert 281 <= top[0] <= 285, "a domestic cat"
    assert top[1] == 967, "espresso"
    assert np.allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, atol=1e-5)


def test_ordinary_photos_are_safe_for_work(registry: ModelRegistry) -> None:
    scores = NsfwScorer(registry.session("open-nsfw"))(
        [_bgr(n) for n in ("chelsea", "coffee", "rocket", "astronaut")]
    )
    assert scores.shape == (4,) and float(scores.max()) < 0.2


def test_the_nudity_detector_finds_a_face_and_nothing_exposed(registry: ModelRegistry) -> None:
    dets = NudityDetector(registry.session("nudenet-320n"))(_bgr("astronaut"))
    assert any(d.label.startswith("FACE_") for d in dets)
    assert not any(d.label.endswith("_EXPOSED") and "FEET" not in d.label and d.score > 0.5 for d in dets)
