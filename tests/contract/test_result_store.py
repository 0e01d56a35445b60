"""ResultStore contract, on the SQLite and the DynamoDB adapter: conditional writes, leases, paging."""

from __future__ import annotations

from typing import Any

import pytest

from reelmind.domain.video import MediaInfo, Moderation, Video, VideoStatus
from reelmind.errors import BadRequest
from reelmind.ports import Result, ResultStore

MEDIA = MediaInfo("mp4", 2.0, 1000, 320, 180, 25.0, 50, "h264", "aac", 44100, 4000)
T0 = 1_700_000_000.0


def make_video(video_id: str, created_at: float = T0, **kw: Any) -> Video:
    fields: dict[str, Any] = {
        "video_id": video_id,
        "source_key": f"uploads/{video_id}.mp4",
        "status": VideoStatus.PROCESSING,
        "created_at": created_at,
        "updated_at": created_at,
        **kw,
    }
    return Video(**fields)


def _get(store: ResultStore, video_id: str) -> Video:
    video = store.get_video(video_id)
    assert video is not None
    return video


def _ids(store: ResultStore, **kw: Any) -> list[str]:
    return [v.video_id for v in store.list_videos(**kw).items]


def test_create_video_only_once(result_store: ResultStore) -> None:
    first = make_video("v1", title="first", media=MEDIA, sha256="ab" * 32)
    assert result_store.create_video(first) is True
    assert result_store.create_video(make_video("v1", title="second")) is False
    assert result_store.get_video("v1") == first
    assert result_store.get_video("nope") is None


def test_claim_takes_a_lease_that_expires(result_store: ResultStore) -> None:
    result_store.create_video(make_video("v1"))
    assert result_store.claim("v1", now=100.0, lease_s=30) is True
    assert result_store.claim("v1", now=110.0, lease_s=30) is False, "the lease is live until 130"
    assert result_store.claim("v1", now=130.0, lease_s=30) is True, "an expired lease can be taken"
    assert result_store.claim("missing", now=0.0, lease_s=30) is False


def test_release_gives_the_lease_back(result_store: ResultStore) -> None:
    result_store.create_video(make_video("v1"))
    assert result_store.claim("v1", now=100.0, lease_s=30)
    result_store.release("v1")
    assert result_store.claim("v1", now=101.0, lease_s=30) is True, "a released lease can be taken"
    result_store.release("missing")
    assert result_store.get_video("missing") is None, "release must not create a video"


def test_a_finished_video_is_never_claimed(result_store: ResultStore) -> None:
    result_store.create_video(make_video("v1"))
    assert result_store.transition("v1", VideoStatus.READY, expected=[VideoStatus.PROCESSING])
    assert result_store.claim("v1", now=10_000.0, lease_s=30) is False
    result_store.release("v1")
    assert _get(result_store, "v1").status is VideoStatus.READY


def test_transition_with_a_wrong_expected_status_changes_nothing(result_store: ResultStore) -> None:
    result_store.create_video(make_video("v1"))
    before = result_store.get_video("v1")
    changed = result_store.transition(
        "v1", VideoStatus.FAILED, expected=[VideoStatus.READY], changes={"error": "x", "error_code": "y"}
    )
    assert changed is False
    assert result_store.get_video("v1") == before
    assert result_store.list_videos(status=VideoStatus.FAILED).items == []
    assert result_store.transition("missing", VideoStatus.READY, expected=list(VideoStatus)) is False
    assert result_store.get_video("missing") is None


def test_transition_sets_status_and_changes(result_store: ResultStore) -> None:
    result_store.create_video(make_video("v1"))
    changed = result_store.transition(
        "v1",
        VideoStatus.FAILED,
        expected=[VideoStatus.PROCESSING, VideoStatus.READY],
        changes={"error": "bad file", "error_code": "corrupt_media", "updated_at": 5.0},
    )
    assert changed is True
    after = _get(result_store, "v1")
    assert (after.status, after.error, after.error_code, after.updated_at) == (
        VideoStatus.FAILED,
        "bad file",
        "corrupt_media",
        5.0,
    )
    assert _ids(result_store, status=VideoStatus.FAILED) == ["v1"]
    assert result_store.list_videos(status=VideoStatus.PROCESSING).items == []


def test_transition_clears_the_lease(result_store: ResultStore) -> None:
    result_store.create_video(make_video("v1"))
    assert result_store.claim("v1", now=100.0, lease_s=60)
    assert result_store.transition("v1", VideoStatus.PROCESSING, expected=[VideoStatus.PROCESSING])
    assert result_store.claim("v1", now=101.0, lease_s=60), "the transition gave the lease back"


def test_add_alias_is_idempotent(result_store: ResultStore) -> None:
    result_store.create_video(make_video("v1"))
    result_store.add_alias("v1", "uploads/b.mp4")
    result_store.add_alias("v1", "uploads/b.mp4")
    result_store.add_alias("v1", "uploads/v1.mp4")  # the source key itself
    result_store.add_alias("v1", "uploads/c.mp4")
    assert _get(result_store, "v1").aliases == ["uploads/b.mp4", "uploads/c.mp4"]
    result_store.add_alias("missing", "uploads/d.mp4")
    assert result_store.get_video("missing") is None


def test_put_result_is_idempotent_per_version(result_store: ResultStore) -> None:
    result_store.create_video(make_video("v1"))
    assert result_store.put_result(Result("v1", "tags", "m1", {"tags": ["cat"]}, 1.0)) is True
    assert result_store.put_result(Result("v1", "tags", "m1", {"tags": ["dog"]}, 2.0)) is False
    assert result_store.get_results("v1") == {"tags": Result("v1", "tags", "m1", {"tags": ["cat"]}, 1.0)}

    assert result_store.put_result(Result("v1", "tags", "m2", {"tags": ["dog"]}, 3.0)) is True
    assert result_store.get_results("v1") == {"tags": Result("v1", "tags", "m2", {"tags": ["dog"]}, 3.0)}


def test_delete_video_removes_it_and_its_results(result_store: ResultStore) -> None:
    result_store.create_video(make_video("v1"))
    result_store.create_video(make_video("v2"))
    result_store.put_result(Result("v1", "tags", "m1", {"tags": []}, 1.0))
    result_store.put_result(Result("v2", "tags", "m1", {"tags": []}, 1.0))
    assert result_store.delete_video("v1") is True
    assert result_store.get_video("v1") is None and result_store.get_results("v1") == {}
    assert result_store.get_video("v2") is not None and set(result_store.get_results("v2")) == {"tags"}
    assert result_store.delete_video("v1") is False
    assert _ids(result_store) == ["v2"]


def test_put_result_with_replace_overwrites_the_same_version(result_store: ResultStore) -> None:
    result_store.create_video(make_video("v1"))
    result_store.put_result(Result("v1", "originality", "o1", {"original": True}, 1.0))
    corrected = Result("v1", "originality", "o1", {"original": False}, 2.0)
    assert result_store.put_result(corrected, replace=True) is True
    assert result_store.get_results("v1") == {"originality": corrected}


def test_get_results_by_kind_and_video(result_store: ResultStore) -> None:
    result_store.create_video(make_video("v1"))
    result_store.create_video(make_video("v2"))
    before = result_store.get_video("v1")
    assert result_store.put_result(Result("v1", "tags", "m2", {"tags": ["dog"]}, 3.0))
    assert result_store.put_result(Result("v1", "ingest", "i1", {"shots": [{"index": 0}]}, 4.0))
    assert result_store.put_result(Result("v2", "tags", "m2", {"tags": []}, 5.0))
    assert result_store.get_results("v1") == {
        "ingest": Result("v1", "ingest", "i1", {"shots": [{"index": 0}]}, 4.0),
        "tags": Result("v1", "tags", "m2", {"tags": ["dog"]}, 3.0),
    }
    assert result_store.get_results("v2") == {"tags": Result("v2", "tags", "m2", {"tags": []}, 5.0)}
    assert result_store.get_results("nope") == {}
    assert result_store.get_video("v1") == before, "results do not touch the video"
    assert _ids(result_store) == ["v2", "v1"], "results are not listed as videos"


@pytest.fixture
def nine_videos(result_store: ResultStore) -> ResultStore:
    """v0..v7 one second apart, statuses cycling PROCESSING, READY, FAILED; v7b ties with v7."""
    statuses = [VideoStatus.PROCESSING, VideoStatus.READY, VideoStatus.FAILED]
    for i in range(8):
        result_store.create_video(make_video(f"v{i}", created_at=T0 + i))
        if statuses[i % 3] is not VideoStatus.PROCESSING:
            result_store.transition(f"v{i}", statuses[i % 3], expected=[VideoStatus.PROCESSING])
    result_store.create_video(make_video("v7b", created_at=T0 + 7))
    return result_store


def test_list_videos_newest_first_across_pages(nine_videos: ResultStore) -> None:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = nine_videos.list_videos(limit=4, cursor=cursor)
        pages.append([v.video_id for v in page.items])
        if page.cursor is None:
            break
        cursor = page.cursor
    assert pages == [["v7b", "v7", "v6", "v5"], ["v4", "v3", "v2", "v1"], ["v0"]]
    assert _ids(nine_videos) == ["v7b", "v7", "v6", "v5", "v4", "v3", "v2", "v1", "v0"]


def test_a_full_last_page_has_no_cursor(nine_videos: ResultStore) -> None:
    first = nine_videos.list_videos(limit=6)
    rest = nine_videos.list_videos(limit=3, cursor=first.cursor)
    assert ([v.video_id for v in rest.items], rest.cursor) == (["v2", "v1", "v0"], None)


def test_list_videos_by_status(nine_videos: ResultStore) -> None:
    ready = nine_videos.list_videos(status=VideoStatus.READY, limit=2)
    assert [v.video_id for v in ready.items] == ["v7", "v4"]
    assert all(v.status is VideoStatus.READY for v in ready.items)
    rest = nine_videos.list_videos(status=VideoStatus.READY, limit=2, cursor=ready.cursor)
    assert ([v.video_id for v in rest.items], rest.cursor) == (["v1"], None)
    assert _ids(nine_videos, status=VideoStatus.PROCESSING) == ["v7b", "v6", "v3", "v0"]
    assert _ids(nine_videos, status=VideoStatus.FAILED) == ["v5", "v2"]


def test_moderation_is_set_and_a_human_decision_stands(result_store: ResultStore) -> None:
    result_store.create_video(make_video("v1"))
    assert result_store.moderate("v1", Moderation.REVIEW, by="auto", at=10.0) is True
    video = _get(result_store, "v1")
    assert (video.moderation, video.moderated_by, video.moderated_at) == (Moderation.REVIEW, "auto", 10.0)
    assert result_store.moderate("v1", Moderation.ALLOW, by="human", at=11.0) is True
    assert result_store.moderate("v1", Moderation.BLOCK, by="auto", at=12.0) is False, "a person decided"
    assert _get(result_store, "v1").moderation is Moderation.ALLOW
    assert result_store.moderate("v1", Moderation.BLOCK, by="human", at=13.0) is True, "a person may revise"
    assert _get(result_store, "v1").hidden
    assert result_store.moderate("missing", Moderation.ALLOW, by="auto", at=0.0) is False
    with pytest.raises(ValueError):
        result_store.moderate("v1", Moderation.ALLOW, by="robot", at=0.0)


def test_list_videos_by_moderation(nine_videos: ResultStore) -> None:
    for i, decision in [
        (1, Moderation.REVIEW),
        (4, Moderation.REVIEW),
        (7, Moderation.REVIEW),
        (5, Moderation.BLOCK),
    ]:
        nine_videos.moderate(f"v{i}", decision, by="auto", at=T0 + 100)
    first = nine_videos.list_videos(moderation=Moderation.REVIEW, limit=2)
    assert [v.video_id for v in first.items] == ["v7", "v4"]
    rest = nine_videos.list_videos(moderation=Moderation.REVIEW, limit=2, cursor=first.cursor)
    assert ([v.video_id for v in rest.items], rest.cursor) == (["v1"], None)
    assert _ids(nine_videos, moderation=Moderation.BLOCK) == ["v5"]
    assert _ids(nine_videos, moderation=Moderation.ALLOW) == []
    nine_videos.moderate("v4", Moderation.ALLOW, by="human", at=T0 + 200)
    assert _ids(nine_videos, moderation=Moderation.REVIEW) == ["v7", "v1"], "a decided video leaves the queue"
    assert _ids(nine_videos, moderation=Moderation.REVIEW, status=VideoStatus.FAILED) == []
    assert _ids(nine_videos, moderation=Moderation.REVIEW, status=VideoStatus.READY) == ["v7", "v1"]


def test_list_videos_of_an_empty_store(result_store: ResultStore) -> None:
    page = result_store.list_videos()
    assert (page.items, page.cursor) == ([], None)


@pytest.mark.parametrize("cursor", ["not a cursor", "bm90IGpzb24=", "W10="], ids=repr)
def test_a_bad_cursor_is_a_bad_request(result_store: ResultStore, cursor: str) -> None:
    with pytest.raises(BadRequest):
        result_store.list_videos(cursor=cursor)


@pytest.mark.parametrize("limit", [0, -1])
def test_a_page_size_under_one_is_a_bad_request(result_store: ResultStore, limit: int) -> None:
    with pytest.raises(BadRequest):
        result_store.list_videos(limit=limit)
