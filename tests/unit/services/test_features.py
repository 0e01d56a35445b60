"""Video features from stored results (local result store, blob folder, feature store): what each field
comes from, what keeps a video out of the feed, originality's matches, deletes, idempotence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reelmind.adapters.local.blobs import FolderBlobStore
from reelmind.adapters.local.features import SqliteFeatureStore
from reelmind.adapters.local.results import SqliteResultStore
from reelmind.domain.video import MediaInfo, Moderation, Video, VideoStatus
from reelmind.ports import Result
from reelmind.services.embed import SEMANTIC_DIM, vectors_bytes
from reelmind.services.features import FeatureService


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def service(tmp_path: Path) -> FeatureService:
    return FeatureService(
        FolderBlobStore(tmp_path / "blobs"),
        SqliteResultStore(tmp_path / "results.db"),
        SqliteFeatureStore(tmp_path / "features.db"),
        clock=Clock(),
    )


def _unit(seed: int, n: int = 1) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, SEMANTIC_DIM)).astype(np.float32)
    out: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def _result(svc: FeatureService, video_id: str, kind: str, payload: dict[str, Any]) -> None:
    svc.results.put_result(
        Result(video_id, kind, f"{kind}-1", {**payload, "status": "ok"}, 1.0), replace=True
    )


def _video(
    svc: FeatureService,
    video_id: str,
    *,
    created_at: float = 500.0,
    moderation: Moderation | None = Moderation.ALLOW,
    results: tuple[str, ...] = ("tags", "quality", "originality", "embed"),
    pooled: bool = True,
) -> np.ndarray:
    """A READY video with the given results; returns its pooled semantic vector."""
    media = MediaInfo("mp4", 12.0, 1000, 640, 360, 30.0, 360, "h264", None, None, 1000)
    svc.results.create_video(
        Video(video_id, f"uploads/{video_id}.mp4", VideoStatus.READY, created_at, 1.0, media=media)
    )
    if moderation is not None:
        svc.results.moderate(video_id, moderation, by="auto", at=2.0)
    frames = _unit(sum(map(ord, video_id)), 3)
    semantic = _unit(sum(map(ord, video_id)) + 1)[0]
    if "tags" in results:
        cats = [{"id": "food", "score": 0.3, "children": []}, {"id": "animals", "score": 0.6, "children": []}]
        _result(svc, video_id, "tags", {"categories": cats, "tags": []})
    if "quality" in results:
        _result(svc, video_id, "quality", {"score": 81.5, "parts": {}, "issues": []})
    if "originality" in results:
        _result(svc, video_id, "originality", {"original": True, "duplicate_of": None, "matches": []})
    if "embed" in results:
        key = f"derived/{video_id}/embeddings.npz"
        data = vectors_bytes(
            np.zeros((3, 4), np.float32), frames, np.arange(3.0), semantic_video=semantic if pooled else None
        )
        svc.blobs.put_bytes(key, data)
        _result(svc, video_id, "embed", {"vectors": {"key": key, "keyframes": 3, "regions": 18}})
    if pooled:
        return semantic
    mean = frames.mean(axis=0)
    out: np.ndarray = mean / np.linalg.norm(mean)
    return out


def test_features_come_from_the_results(service: FeatureService) -> None:
    semantic = _video(service, "v1")
    built = service.build("v1")
    assert built is not None and built.eligible and built.reasons == ()
    f = built.features
    assert (f.category, f.quality, f.created_at, f.duration_s) == ("animals", 81.5, 500.0, 12.0)
    assert f.embedding.dtype == np.float32 and np.allclose(f.embedding, semantic, atol=2e-3)


def test_an_older_embeddings_file_gives_the_mean_of_its_keyframes(service: FeatureService) -> None:
    expected = _video(service, "v1", pooled=False)
    built = service.build("v1")
    assert built is not None and np.allclose(built.features.embedding, expected, atol=2e-3)


def test_a_video_not_fully_understood_gets_defaults_and_stays_out(service: FeatureService) -> None:
    _video(service, "v1", moderation=None, results=())
    built = service.build("v1")
    assert built is not None and not built.eligible
    assert (built.features.category, built.features.quality) == ("", 50.0)
    assert not built.features.embedding.any() and built.features.embedding.shape == (SEMANTIC_DIM,)
    assert set(built.reasons) == {"not_moderated", "originality_pending", "not_embedded"}


@pytest.mark.parametrize(
    ("moderation", "reason"), [(Moderation.BLOCK, "blocked"), (Moderation.REVIEW, "in_review")]
)
def test_moderation_keeps_a_video_out(service: FeatureService, moderation: Moderation, reason: str) -> None:
    _video(service, "v1", moderation=moderation)
    built = service.build("v1")
    assert built is not None and not built.eligible and built.reasons == (reason,)


def test_refresh_stores_the_features_and_a_retry_stores_the_same(service: FeatureService) -> None:
    _video(service, "v1")
    first = service.refresh("v1")
    again = service.refresh("v1")
    assert first == again and first["eligible"] is True
    changes = list(service.store.changed_since(0.0))
    assert [(f.video_id, e) for f, e, _ in changes] == [("v1", True)]
    service.results.moderate("v1", Moderation.BLOCK, by="human", at=3.0)
    assert service.refresh("v1")["reasons"] == ["blocked"]
    assert [(f.video_id, e) for f, e, _ in service.store.changed_since(0.0)] == [("v1", False)]


def test_originality_refreshes_the_later_uploads_it_marked_duplicates(service: FeatureService) -> None:
    _video(service, "early", created_at=100.0)
    _video(service, "late", created_at=200.0)
    assert service.on_analysis("late", "originality")["refreshed"][0]["eligible"] is True
    # "early" is analysed after "late": its originality run marks "late" a duplicate, with no event for it
    _result(
        service,
        "late",
        "originality",
        {"original": False, "duplicate_of": {"video_id": "early"}, "matches": []},
    )
    _result(
        service,
        "early",
        "originality",
        {"original": True, "duplicate_of": None, "matches": [{"video_id": "late"}]},
    )
    out = service.on_analysis("early", "originality")
    assert [(r["video_id"], r["eligible"]) for r in out["refreshed"]] == [("early", True), ("late", False)]
    assert out["refreshed"][1]["reasons"] == ["duplicate"]
    assert service.on_analysis("early", "ocr")["refreshed"] == []  # ocr shapes no feature


def test_a_deleted_video_keeps_its_features_but_leaves_the_feed(service: FeatureService) -> None:
    semantic = _video(service, "v1")
    service.refresh("v1")
    service.results.delete_video("v1")
    assert service.refresh("v1") == {
        "video_id": "v1",
        "eligible": False,
        "reasons": ["deleted"],
        "known": True,
    }
    [(features, eligible, _)] = service.store.changed_since(0.0)
    assert not eligible and np.allclose(features.embedding, semantic, atol=2e-3)
    assert service.removed("never-seen")["known"] is False
    assert service.store.get_features(["never-seen"]) == {}
