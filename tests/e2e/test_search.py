"""Search end to end on a labelled retrieval set: text to video (English and Chinese), image to shot,
similar videos, persistence, deletes and hostile queries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from reelmind import samples
from reelmind.api.app import create_app
from reelmind.errors import BadRequest
from reelmind.runtime import Runtime, bootstrap
from tests.conftest import local_runtime, upload

Indexed = tuple[Runtime, dict[str, str], dict[str, Path]]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    folder = tmp_path_factory.mktemp("search")
    with local_runtime(folder) as runtime:
        ids, paths = {}, {}
        for item in samples.retrieval_set():
            path = samples.write_clip(item.spec, folder / f"{item.spec.name}.mp4").path
            ids[item.spec.name], paths[item.spec.name] = (
                upload(runtime, f"uploads/{item.spec.name}/clip.mp4", path),
                path,
            )
        yield runtime, ids, paths


def _mrr(runtime: Runtime, ids: dict[str, str], language: str) -> tuple[float, list[str]]:
    ranks, report = [], []
    for item in samples.retrieval_set():
        for query in item.queries_en if language == "en" else item.queries_zh:
            found, _ = runtime.search.search(query, limit=10)
            order = [f.video_id for f in found]
            target = ids[item.spec.name]
            rank = order.index(target) + 1 if target in order else None
            ranks.append(1.0 / rank if rank else 0.0)
            report.append(f"{query!r}->{rank}")
    return sum(ranks) / len(ranks), report


@pytest.mark.parametrize("language", ["en", "zh"])
def test_text_queries_naming_the_subject_find_it(indexed: Indexed, language: str) -> None:
    runtime, ids, _ = indexed
    mrr, report = _mrr(runtime, ids, language)
    assert mrr >= 0.8, f"MRR@10 {mrr:.3f}: {report}"


def _frame(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="bgr24")
    raise AssertionError("frame not found")


@pytest.mark.parametrize("name", ["r01", "r02", "r03", "r04", "r05", "r06"])
def test_an_image_query_from_a_40_percent_crop_finds_its_video_and_shot(indexed: Indexed, name: str) -> None:
    runtime, ids, paths = indexed
    frame = _frame(paths[name], 30)
    h, w = frame.shape[:2]
    crop = frame[int(0.3 * h) : int(0.7 * h), int(0.35 * w) : int(0.75 * w)]  # 40% of each side
    ok, jpeg = cv2.imencode(".jpg", crop)
    assert ok
    found = runtime.search.by_image(jpeg.tobytes(), limit=5)
    assert found[0].video_id == ids[name], [f.video_id for f in found]
    assert found[0].shot is not None and 0.0 <= found[0].shot["time_s"] <= 2.0


def test_similar_videos_exclude_the_video_itself(indexed: Indexed) -> None:
    runtime, ids, _ = indexed
    similar = runtime.search.similar(ids["r01"], limit=5)
    assert similar and ids["r01"] not in [f.video_id for f in similar]
    assert [f.score for f in similar] == sorted((f.score for f in similar), reverse=True)


def test_filters_and_pagination(indexed: Indexed) -> None:
    runtime, ids, _ = indexed
    first, cursor = runtime.search.search("a photo", limit=3)
    assert len(first) == 3 and cursor is not None
    rest, _ = runtime.search.search("a photo", limit=3, cursor=cursor)
    assert not {f.video_id for f in first} & {f.video_id for f in rest}
    from reelmind.services.search import Filters

    cats, _ = runtime.search.search("cat", filters=Filters(category="animals/cat"))
    assert cats and all(f.video_id == ids["r01"] for f in cats)
    assert runtime.search.search("cat", filters=Filters(min_duration_s=100))[0] == []


def test_a_blocked_video_is_never_found(indexed: Indexed) -> None:
    from reelmind.domain.video import Moderation

    runtime, ids, _ = indexed
    runtime.results.moderate(ids["r02"], Moderation.BLOCK, by="human", at=1.0)
    try:
        found, _ = runtime.search.search("coffee", limit=10)
        assert ids["r02"] not in [f.video_id for f in found]
    finally:
        runtime.results.moderate(ids["r02"], Moderation.ALLOW, by="human", at=2.0)


def test_the_index_survives_a_restart_and_forgets_a_deleted_video(indexed: Indexed) -> None:
    runtime, ids, _ = indexed
    before, _ = runtime.search.search("astronaut", limit=5)
    again = bootstrap(runtime.settings)  # a new process on the same data
    after, _ = again.search.search("astronaut", limit=5)
    assert [f.video_id for f in after] == [f.video_id for f in before]
    again.search.forget(ids["r10"])
    assert ids["r10"] not in [f.video_id for f in again.search.search("a photo", limit=50)[0]]
    assert ids["r10"] not in [f.video_id for f in runtime.search.search("a photo", limit=50)[0]]


@pytest.mark.parametrize("query", ["", "   ", "x" * 10_000])
def test_empty_or_huge_queries_are_a_clear_400(indexed: Indexed, query: str) -> None:
    runtime, _, _ = indexed
    response = TestClient(create_app(runtime)).get("/search", params={"q": query})
    assert (response.status_code in (400, 422) and "error" in response.json()) or "detail" in response.json()
    with pytest.raises(BadRequest):
        runtime.search.search(query)


@pytest.mark.parametrize("query", ["?!…—###", "ᚠᚢᚦᚨᚱᚲ", "🙂🙂", "مرحبا بالعالم"])
def test_punctuation_or_unexpected_scripts_give_an_answer_not_an_error(indexed: Indexed, query: str) -> None:
    runtime, _, _ = indexed
    response = TestClient(create_app(runtime)).get("/search", params={"q": query})
    assert response.status_code == 200 and isinstance(response.json()["items"], list)


def test_deleting_a_video_removes_it_from_search_storage_and_records(indexed: Indexed) -> None:
    runtime, ids, _ = indexed
    client = TestClient(create_app(runtime))
    video_id = ids["r09"]
    assert video_id in [f.video_id for f in runtime.search.search("a photo", limit=50)[0]]
    response = client.delete(f"/videos/{video_id}")
    assert response.status_code == 200 and response.json()["files_removed"] > 3
    assert video_id not in [f.video_id for f in runtime.search.search("a photo", limit=50)[0]]
    assert client.get(f"/videos/{video_id}").status_code == 404
    assert (
        list(runtime.blobs.list(f"derived/{video_id}/")) == []
        and list(runtime.blobs.list("uploads/r09/")) == []
    )
    assert client.delete(f"/videos/{video_id}").status_code == 404


def test_the_api_serves_every_search(indexed: Indexed) -> None:
    runtime, ids, paths = indexed
    client = TestClient(create_app(runtime))
    body = client.get("/search", params={"q": "猫"}).json()
    assert body["items"][0]["video_id"] == ids["r01"] and body["items"][0]["shot"]["thumbnail_url"]
    assert client.get(f"/videos/{ids['r03']}/similar").status_code == 200
    assert client.get("/videos/vnope/similar").status_code == 404
    _, jpeg = cv2.imencode(".jpg", _frame(paths["r02"], 10))
    response = client.post("/search/image", files={"file": ("q.jpg", jpeg.tobytes(), "image/jpeg")})
    assert response.status_code == 200 and response.json()["items"][0]["video_id"] == ids["r02"]
    assert client.post("/search/image", content=b"not an image").status_code == 400
