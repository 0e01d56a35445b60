"""Blob store on a folder. Keys are checked and resolved inside the root; writes are atomic."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

from reelmind.domain.keys import validate_key
from reelmind.errors import InvalidKey, NotFound
from reelmind.ports import BlobInfo, PresignedUpload

ObjectCreated = Callable[[BlobInfo], None]


class FolderBlobStore:
    def __init__(self, root: Path, on_created: ObjectCreated | None = None, bucket: str = "local") -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.bucket = bucket
        self._on_created = on_created

    def _path(self, key: str) -> Path:
        validate_key(key)
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidKey(f"the key {key!r} resolves outside the store")
        return path

    def _commit(self, key: str, write: Callable[[Path], object]) -> BlobInfo:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        os.close(fd)
        try:
            write(Path(tmp))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        info = self._info(key, path)
        if self._on_created is not None:
            self._on_created(info)
        return info

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> BlobInfo:
        return self._commit(key, lambda tmp: tmp.write_bytes(data))

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> BlobInfo:
        return self._commit(key, lambda tmp: shutil.copyfile(path, tmp))

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object at {key!r}") from None

    def download(self, key: str, dest: Path) -> Path:
        path = self._path(key)
        try:
            shutil.copyfile(path, dest)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object at {key!r}") from None
        return dest

    def head(self, key: str) -> BlobInfo | None:
        path = self._path(key)
        return self._info(key, path) if path.is_file() else None

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        """Every object whose key starts with `prefix` (as S3 matches it), in key order."""
        if prefix:  # a key, optionally ending in '/'; '' is the whole store
            validate_key(prefix.removesuffix("/"))
        return self._list(prefix)

    def _list(self, prefix: str) -> Iterator[BlobInfo]:
        folder = self.root / prefix.rpartition("/")[0]  # the deepest folder holding every match
        if not folder.is_dir():
            return
        found = (
            (path.relative_to(self.root).as_posix(), path)
            for path in folder.rglob("*")
            if path.is_file() and not path.name.startswith(".tmp-")
        )
        for key, path in sorted(found):
            if key.startswith(prefix):
                yield self._info(key, path)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix` (not '': that would empty the store); return how many."""
        if not prefix:
            raise InvalidKey("refusing to delete with an empty prefix: it would empty the store")
        keys = [b.key for b in self.list(prefix)]
        for key in keys:
            self._path(key).unlink(missing_ok=True)
        return len(keys)

    def presign_upload(self, key: str, max_bytes: int, expires_in_s: int) -> PresignedUpload:
        self._path(key)
        return PresignedUpload(
            url="/videos", fields={"key": key}, key=key, max_bytes=max_bytes, expires_in_s=expires_in_s
        )

    def url_for(self, key: str, expires_in_s: int = 3600) -> str:
        self._path(key)
        return "/blobs/" + quote(key)

    def local_path(self, key: str) -> Path:
        return self._path(key)

    @staticmethod
    def _info(key: str, path: Path) -> BlobInfo:
        st = path.stat()
        return BlobInfo(key=key, size=st.st_size, etag=f"{st.st_size:x}-{st.st_mtime_ns:x}")
