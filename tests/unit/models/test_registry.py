"""The model registry: files from packages or the build step, verified by checksum, opened once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from reelmind.errors import ModelChecksumMismatch, ModelUnavailable
from reelmind.models.registry import MODELS, ModelRegistry, ModelSpec
from reelmind.settings import Settings

MODEL_DIR = Settings().model_dir


def test_every_bundled_model_is_present_and_matches_its_checksum() -> None:
    assert ModelRegistry(MODEL_DIR).check() == dict.fromkeys(MODELS, "ok")


def test_a_session_is_opened_once_and_shared() -> None:
    registry = ModelRegistry(MODEL_DIR, threads=1)
    first = registry.session("open-nsfw")
    assert registry.session("open-nsfw") is first
    assert first.get_inputs()[0].shape[1:] == [224, 224, 3]


def test_the_exported_classifier_has_logits_and_an_embedding() -> None:
    session = ModelRegistry(MODEL_DIR).session("efficientnet-lite0")
    logits, embedding = session.run(None, {"image": np.zeros((2, 3, 224, 224), np.float32)})
    assert logits.shape == (2, 1000) and embedding.shape == (2, 1280)


def test_a_tampered_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not the weights you are looking for")
    spec = ModelSpec("m", "1", "model.onnx", hashlib.sha256(b"the real weights").hexdigest(), "MIT")
    registry = ModelRegistry(tmp_path, specs={"m": spec})
    with pytest.raises(ModelChecksumMismatch, match="refusing to run unknown weights"):
        registry.path("m")
    assert "SHA-256" in registry.check()["m"]


def test_a_missing_file_says_how_to_get_it(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, specs={"m": ModelSpec("m", "1", "absent.onnx", "0" * 64, "MIT")})
    with pytest.raises(ModelUnavailable, match="make models"):
        registry.path("m")
    packaged = ModelRegistry(
        tmp_path, specs={"p": ModelSpec("p", "1", "x.onnx", "0" * 64, "MIT", package="no_such_pkg")}
    )
    with pytest.raises(ModelUnavailable, match="not installed"):
        packaged.path("p")
    with pytest.raises(ModelUnavailable, match="no model named"):
        registry.spec("nope")


def test_a_good_file_is_verified_once(tmp_path: Path) -> None:
    data = b"weights"
    (tmp_path / "w.bin").write_bytes(data)
    registry = ModelRegistry(
        tmp_path, specs={"w": ModelSpec("w", "2", "w.bin", hashlib.sha256(data).hexdigest(), "MIT")}
    )
    assert registry.path("w") == tmp_path / "w.bin"
    (tmp_path / "w.bin").write_bytes(b"changed later")
    assert registry.path("w") == tmp_path / "w.bin", "checked on first use, not on every call"
    assert registry.spec("w").ref == "w@2"
