"""BlobStore contract, on the folder and the S3 adapter: round trips, prefixes, safe keys, NotFound."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reelmind.errors import InvalidKey, NotFound
from reelmind.ports import BlobStore

BAD_KEYS = [
    "",
    "/abs/clip.mp4",
    "../up.mp4",
    "a/../b.mp4",
    "a/./b.mp4",
    "a//b.mp4",
    "a\\b.mp4",
    "dir/",
    "nul\x00.mp4",
]


def _keys(store: BlobStore, prefix: str) -> list[str]:
    return [b.key for b in store.list(prefix)]


def test_the_adapter_is_a_blob_store(blob_store: BlobStore) -> None:
    assert isinstance(blob_store, BlobStore)


def test_put_get_head_round_trip(blob_store: BlobStore) -> None:
    key = "derived/v1/thumbs/cover 1+x.jpg"  # spaces and '+' are legal in keys
    info = blob_store.put_bytes(key, b"jpeg bytes", content_type="image/jpeg")
    assert (info.key, info.size) == (key, 10)
    assert info.etag
    assert blob_store.get_bytes(key) == b"jpeg bytes"
    assert blob_store.head(key) == info


def test_put_replaces_the_object(blob_store: BlobStore) -> None:
    blob_store.put_bytes("derived/v1/a.json", b"old")
    info = blob_store.put_bytes("derived/v1/a.json", b"newer")
    assert blob_store.get_bytes("derived/v1/a.json") == b"newer"
    assert blob_store.head("derived/v1/a.json") == info and info.size == 5


def test_missing_objects(blob_store: BlobStore, tmp_path: Path) -> None:
    blob_store.put_bytes("derived/v1/a/b.jpg", b"x")
    for key in ["derived/v1/missing.jpg", "derived/v1/a"]:  # "a" is only a folder of other keys
        assert blob_store.head(key) is None
        with pytest.raises(NotFound):
            blob_store.get_bytes(key)
        with pytest.raises(NotFound):
            blob_store.download(key, tmp_path / "out")


def test_put_file_and_download(blob_store: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "src.mp4"
    src.write_bytes(bytes(range(256)) * 40)
    info = blob_store.put_file("uploads/a/clip.mp4", src, content_type="video/mp4")
    assert (info.key, info.size) == ("uploads/a/clip.mp4", 10_240)
    assert info == blob_store.head("uploads/a/clip.mp4")
    dest = blob_store.download("uploads/a/clip.mp4", tmp_path / "dest.mp4")
    assert dest == tmp_path / "dest.mp4" and dest.read_bytes() == src.read_bytes()


def test_list_is_everything_under_the_prefix_in_key_order(blob_store: BlobStore) -> None:
    keys = ["derived/v1/k0.jpg", "derived/v1/sub/k1.jpg", "derived/v1-x.jpg", "derived/v10/k2.jpg"]
    for key in [*reversed(keys), "uploads/x.mp4"]:
        blob_store.put_bytes(key, key.encode())
    listed = list(blob_store.list("derived/v1/"))
    assert [b.key for b in listed] == ["derived/v1/k0.jpg", "derived/v1/sub/k1.jpg"]
    assert [b.size for b in listed] == [len(b.key) for b in listed]
    assert listed == [blob_store.head(b.key) for b in listed]
    assert _keys(blob_store, "derived/v1") == sorted(keys), "a prefix matches the start of keys, not folders"
    assert _keys(blob_store, "derived/v1/k") == ["derived/v1/k0.jpg"]
    assert _keys(blob_store, "") == sorted([*keys, "uploads/x.mp4"])
    assert _keys(blob_store, "nothing/") == []


def test_delete_prefix_deletes_only_under_the_prefix(blob_store: BlobStore) -> None:
    for i in range(5):
        blob_store.put_bytes(f"derived/v1/k{i}", b"x")
    blob_store.put_bytes("derived/v10/keep", b"x")
    assert blob_store.delete_prefix("derived/v1/") == 5
    assert _keys(blob_store, "") == ["derived/v10/keep"]
    assert blob_store.head("derived/v1/k0") is None
    assert blob_store.delete_prefix("derived/v1/") == 0


def test_delete_removes_exactly_one_object(blob_store: BlobStore) -> None:
    blob_store.put_bytes("uploads/a/clip.mp4", b"x")
    blob_store.put_bytes("uploads/a/clip.mp4.bak", b"x")
    blob_store.delete("uploads/a/clip.mp4")
    assert _keys(blob_store, "uploads/") == ["uploads/a/clip.mp4.bak"]
    blob_store.delete("uploads/a/clip.mp4")  # already gone: not an error


def test_delete_with_an_empty_prefix_is_refused(blob_store: BlobStore) -> None:
    blob_store.put_bytes("derived/v1/keep", b"x")
    with pytest.raises(InvalidKey):
        blob_store.delete_prefix("")
    assert _keys(blob_store, "") == ["derived/v1/keep"]


def unsafe_calls(store: BlobStore, key: str, tmp_path: Path) -> list[Callable[[], object]]:
    """Every store call that takes `key`; each must refuse an unsafe key with `InvalidKey`."""
    (tmp_path / "f").write_bytes(b"x")
    calls: list[Callable[[], object]] = [
        lambda: store.put_bytes(key, b"x"),
        lambda: store.put_file(key, tmp_path / "f"),
        lambda: store.get_bytes(key),
        lambda: store.download(key, tmp_path / "out"),
        lambda: store.head(key),
        lambda: store.presign_upload(key, 10, 60),
        lambda: store.url_for(key),
        lambda: store.delete(key),
    ]
    if key not in {"", "dir/"}:  # both are legal prefixes: the whole store and a folder
        calls.append(lambda: store.list(key))
        calls.append(lambda: store.delete_prefix(key))
    return calls


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_unsafe_keys_are_refused(blob_store: BlobStore, tmp_path: Path, key: str) -> None:
    attempts = unsafe_calls(blob_store, key, tmp_path)
    for attempt in attempts:
        with pytest.raises(InvalidKey):
            attempt()
    assert not (tmp_path / "out").exists()
