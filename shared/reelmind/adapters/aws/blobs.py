"""Blob store on an S3 bucket. Keys are validated before any request; errors become typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from reelmind.adapters.aws.errors import THROTTLING_CODES, aws_errors
from reelmind.domain.keys import validate_key
from reelmind.errors import InvalidKey, NotFound, ReelMindError, TransientError
from reelmind.ports import BlobInfo, PresignedUpload

#: DeleteObjects accepts at most this many keys per request.
DELETE_BATCH = 1000
#: Keys per ListObjectsV2 page (S3's maximum).
LIST_PAGE_SIZE = 1000
#: Per-key DeleteObjects error codes that a later retry may clear.
RETRYABLE_DELETE_CODES = THROTTLING_CODES | {"InternalError", "ServiceUnavailable"}


def _etag(raw: str) -> str:
    return raw.strip('"')


def _validate_prefix(prefix: str) -> str:
    """A prefix is a key, optionally ending in one '/'; '' (the whole bucket) is allowed."""
    if prefix:
        validate_key(prefix.removesuffix("/"))
    return prefix


class S3BlobStore:
    """The `BlobStore` port on one bucket; `client` is an S3 client (one from the environment if None)."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        self.bucket = bucket
        # SigV4 for presigned URLs too: SSE-KMS objects (the media bucket's default) refuse SigV2.
        config = Config(signature_version="s3v4", retries={"mode": "standard"})
        # Any, not S3Client: the typed client comes from an optional stub package (mypy-boto3-s3).
        self._s3: Any = client or boto3.client("s3", config=config)

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> BlobInfo:
        validate_key(key)
        extra = {"ContentType": content_type} if content_type else {}
        with aws_errors(f"put {self._where(key)}"):
            resp = self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)
        return BlobInfo(key=key, size=len(data), etag=_etag(resp["ETag"]))

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> BlobInfo:
        validate_key(key)
        extra = {"ContentType": content_type} if content_type else None
        with aws_errors(f"upload {self._where(key)}"):
            # The transfer manager switches to a multipart upload for large files.
            self._s3.upload_file(str(path), self.bucket, key, ExtraArgs=extra)
        info = self.head(key)
        if info is None:  # pragma: no cover - S3 reads its own writes
            raise NotFound(f"{self._where(key)} is missing right after its upload")
        return info

    def get_bytes(self, key: str) -> bytes:
        validate_key(key)
        with aws_errors(f"get {self._where(key)}"):
            resp = self._s3.get_object(Bucket=self.bucket, Key=key)
            body: bytes = resp["Body"].read()
        return body

    def download(self, key: str, dest: Path) -> Path:
        validate_key(key)
        with aws_errors(f"download {self._where(key)}"):
            self._s3.download_file(self.bucket, key, str(dest))
        return dest

    def head(self, key: str) -> BlobInfo | None:
        validate_key(key)
        try:
            with aws_errors(f"head {self._where(key)}"):
                resp = self._s3.head_object(Bucket=self.bucket, Key=key)
        except NotFound:
            return None
        return BlobInfo(key=key, size=int(resp["ContentLength"]), etag=_etag(resp["ETag"]))

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        """Every object under `prefix`, in key order, fetched page by page as it is consumed."""
        return self._list(_validate_prefix(prefix))

    def _list(self, prefix: str) -> Iterator[BlobInfo]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": LIST_PAGE_SIZE}
        )
        with aws_errors(f"list {self._where(prefix)}"):
            for page in pages:
                for obj in page.get("Contents", []):
                    yield BlobInfo(key=obj["Key"], size=int(obj["Size"]), etag=_etag(obj["ETag"]))

    def delete(self, key: str) -> None:
        """Delete the current version (the bucket is versioned: its lifecycle rule expires old versions)."""
        validate_key(key)
        with aws_errors(f"delete {self._where(key)}"):
            self._s3.delete_object(Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix` (not '': that would empty the bucket); return how many."""
        if not prefix:
            raise InvalidKey("refusing to delete with an empty prefix: it would empty the bucket")
        keys = [b.key for b in self.list(prefix)]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            with aws_errors(f"delete under {self._where(prefix)}"):
                resp = self._s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            errors = resp.get("Errors") or []
            if errors:
                codes = sorted({str(err.get("Code")) for err in errors})
                message = (
                    f"could not delete {len(errors)} objects under {self._where(prefix)}: {', '.join(codes)}"
                )
                if RETRYABLE_DELETE_CODES.intersection(codes):
                    raise TransientError(message)
                raise ReelMindError(message)
        return len(keys)

    def presign_upload(self, key: str, max_bytes: int, expires_in_s: int) -> PresignedUpload:
        """A form POST for exactly `key`, of 1 to `max_bytes` bytes, valid for `expires_in_s` seconds."""
        validate_key(key)
        if "${filename}" in key:
            # S3 would substitute the uploader's file name, letting the client pick the key.
            raise InvalidKey("the object key contains '${filename}'")
        with aws_errors(f"presign POST {self._where(key)}"):
            post = self._s3.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Conditions=[["content-length-range", 1, max_bytes]],
                ExpiresIn=expires_in_s,
            )
        return PresignedUpload(
            url=str(post["url"]),
            fields={str(k): str(v) for k, v in post["fields"].items()},
            key=key,
            max_bytes=max_bytes,
            expires_in_s=expires_in_s,
        )

    def url_for(self, key: str, expires_in_s: int = 3600) -> str:
        validate_key(key)
        with aws_errors(f"presign GET {self._where(key)}"):
            url: str = self._s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in_s
            )
        return url
