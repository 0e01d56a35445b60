"""Result store on one DynamoDB table (single-table design, through PynamoDB).

Items (the table of `template.yaml`: string keys `pk`/`sk`, index `gsi1` on `gsi1pk`/`gsi1sk`,
all attributes projected):

* video  - pk `VIDEO#<id>`, sk `META`; `status`, `created_at`, `lease_until` (epoch seconds, 0 when
  free), `rev` (bumped by every write of `data`), `data` (the JSON of `Video.to_dict()`), and
  gsi1pk `STATUS#<status>`, gsi1sk `<created_at, zero-padded to 20 characters>#<id>`.
  Once moderated, a video also carries gsi2pk `MODERATION#<allow|review|block>` and gsi2sk (the same
  value as gsi1sk): index `gsi2` is sparse and holds moderated videos only, so the review queue is
  one query.
* result - pk `VIDEO#<id>`, sk `RESULT#<kind>`; `version`, `created_at`, `payload` (JSON). Results
  have no gsi1 keys, so the index holds videos only.

`list_videos(moderation=m)` queries the `MODERATION#m` partition of gsi2 (a status, if also given,
is applied to those items). `list_videos(status=s)` queries the `STATUS#s` partition of gsi1 newest first. Without a status it
queries every status partition (three) with the same bound and merges them: the gsi1sk of the last
item returned is the cursor, and it orders the same way in every partition. Index reads are
eventually consistent, so a video can show under its old status for a moment after a transition.

Every rule of the SQLite adapter is a conditional write: `create_video` only when the item is
absent, `claim` only when PROCESSING with an expired lease, `put_result` only when absent or of
another version. `transition` and `add_alias` read the item and write it back on condition that
`rev` is unchanged, re-reading after a lost race; `Busy` is raised if they keep losing.

The PynamoDB model classes are built per (table, endpoint, region) by a cached factory, since a
model's table lives on its class. The endpoint is `AWS_ENDPOINT_URL_DYNAMODB` or `AWS_ENDPOINT_URL`
when set, the region `AWS_REGION` or `AWS_DEFAULT_REGION`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, PynamoDBException, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from reelmind.adapters.aws.errors import THROTTLING_CODES
from reelmind.domain.video import MODERATED_BY, Moderation, Video, VideoStatus
from reelmind.errors import BadRequest, Busy, Throttled
from reelmind.ports import Page, Result

VIDEO_PREFIX = "VIDEO#"
META = "META"
RESULT_PREFIX = "RESULT#"
STATUS_PREFIX = "STATUS#"
MODERATION_PREFIX = "MODERATION#"
#: Read-modify-write attempts before `Busy` is raised.
OPTIMISTIC_ATTEMPTS = 3

_P = ParamSpec("_P")
_CURSOR_SK = re.compile(r"\d{13,}\.\d{6}#.+")


class ByStatus(GlobalSecondaryIndex["VideoItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ByModeration(GlobalSecondaryIndex["VideoItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class VideoItem(Model):
    """A video; unbound (no table) until subclassed by `_models`."""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    created_at = NumberAttribute()
    lease_until = NumberAttribute(default=0)
    rev = NumberAttribute(default=0)
    data = UnicodeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_status = ByStatus()
    by_moderation = ByModeration()


class ResultItem(Model):
    """One analyzer's result for a video; unbound (no table) until subclassed by `_models`."""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    version = UnicodeAttribute()
    created_at = NumberAttribute()
    payload = UnicodeAttribute()


@functools.cache
def _models(
    table: str, endpoint: str | None, region_name: str | None
) -> tuple[type[VideoItem], type[ResultItem]]:
    """Model classes bound to one table (cached: one class, and so one connection, per table)."""

    class BoundVideoItem(VideoItem):
        class Meta:
            table_name = table
            host = endpoint
            region = region_name

    class BoundResultItem(ResultItem):
        class Meta:
            table_name = table
            host = endpoint
            region = region_name

    return BoundVideoItem, BoundResultItem


def _video_pk(video_id: str) -> str:
    return VIDEO_PREFIX + video_id


def _gsi1sk(created_at: float, video_id: str) -> str:
    return f"{created_at:020.6f}#{video_id}"


def _encode_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(sk.encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        sk = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        sk = ""
    if not _CURSOR_SK.fullmatch(sk):
        raise BadRequest("the page cursor is not valid; pass back the cursor of the previous page")
    return sk


def _code(error: PynamoDBException) -> str:
    return error.cause_response_code or ""


def dynamo_location() -> tuple[str | None, str | None]:
    """(endpoint, region) for the PynamoDB models: `AWS_ENDPOINT_URL_DYNAMODB` or `AWS_ENDPOINT_URL`, and
    `AWS_REGION` or `AWS_DEFAULT_REGION`; None leaves each to botocore's own defaults."""
    host = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    return host, region


@contextmanager
def _dynamo(what: str) -> Iterator[None]:
    """Re-raise DynamoDB throttling as `Throttled`."""
    try:
        yield
    except PynamoDBException as e:
        if _code(e) in THROTTLING_CODES:
            raise Throttled(f"{what}: DynamoDB throttled the request ({_code(e)}); retry later") from e
        raise


def _conditional(write: Callable[_P, object], *args: _P.args, **kwargs: _P.kwargs) -> bool:
    """Run a conditional write, `write(*args, **kwargs)`; False when its condition did not hold."""
    try:
        write(*args, **kwargs)
    except (PutError, UpdateError) as e:
        if _code(e) == "ConditionalCheckFailedException":
            return False
        raise
    return True


class DynamoResultStore:
    """The `ResultStore` port on the DynamoDB table named `table`."""

    def __init__(self, table: str) -> None:
        self.table = table
        host, region = dynamo_location()
        self._videos, self._results = _models(table, host, region)

    # -- videos ---------------------------------------------------------------------------------
    def _get(self, video_id: str) -> VideoItem | None:
        with _dynamo(f"get video {video_id!r}"):
            try:
                return self._videos.get(_video_pk(video_id), META, consistent_read=True)
            except DoesNotExist:
                return None

    def _key(self, video_id: str) -> VideoItem:
        return self._videos(_video_pk(video_id), META)

    def create_video(self, video: Video) -> bool:
        item = self._videos(
            _video_pk(video.video_id),
            META,
            status=video.status.value,
            created_at=video.created_at,
            lease_until=0,
            rev=0,
            data=json.dumps(video.to_dict()),
            gsi1pk=STATUS_PREFIX + video.status.value,
            gsi1sk=_gsi1sk(video.created_at, video.video_id),
        )
        with _dynamo(f"create video {video.video_id!r}"):
            return _conditional(item.save, condition=self._videos.pk.does_not_exist())

    def get_video(self, video_id: str) -> Video | None:
        item = self._get(video_id)
        return Video.from_dict(json.loads(item.data)) if item else None

    def claim(self, video_id: str, now: float, lease_s: float) -> bool:
        v = self._videos
        condition = (v.status == VideoStatus.PROCESSING.value) & (v.lease_until <= now)
        with _dynamo(f"claim video {video_id!r}"):
            return _conditional(
                self._key(video_id).update, [v.lease_until.set(now + lease_s)], condition=condition
            )

    def release(self, video_id: str) -> None:
        v = self._videos
        with _dynamo(f"release video {video_id!r}"):
            _conditional(
                self._key(video_id).update,
                [v.lease_until.set(0)],
                condition=v.status == VideoStatus.PROCESSING.value,
            )

    def _rewrite(self, video_id: str, edit: Callable[[VideoItem, dict[str, Any]], list[Any] | None]) -> bool:
        """Read the video, let `edit` change its data (and name extra update actions), write it back
        if `rev` is unchanged. `edit` returns None to write nothing. False when the video is absent
        or `edit` declined."""
        v = self._videos
        for _ in range(OPTIMISTIC_ATTEMPTS):
            item = self._get(video_id)
            if item is None:
                return False
            data: dict[str, Any] = json.loads(item.data)
            extra = edit(item, data)
            if extra is None:
                return False
            actions = [*extra, v.data.set(json.dumps(data)), v.rev.set(item.rev + 1)]
            condition: Condition = v.rev == item.rev
            with _dynamo(f"update video {video_id!r}"):
                if _conditional(self._key(video_id).update, actions, condition=condition):
                    return True
        raise Busy(f"video {video_id!r} kept changing while being updated; retry later")

    def transition(
        self,
        video_id: str,
        to: VideoStatus,
        *,
        expected: Sequence[VideoStatus],
        changes: Mapping[str, Any] | None = None,
    ) -> bool:
        v = self._videos

        def edit(item: VideoItem, data: dict[str, Any]) -> list[Any] | None:
            if VideoStatus(item.status) not in expected:
                return None
            data.update(changes or {})
            data["status"] = to.value
            return [
                v.status.set(to.value),
                v.lease_until.set(0),
                v.gsi1pk.set(STATUS_PREFIX + to.value),
            ]

        return self._rewrite(video_id, edit)

    def add_alias(self, video_id: str, key: str) -> None:
        def edit(_item: VideoItem, data: dict[str, Any]) -> list[Any] | None:
            aliases = data.setdefault("aliases", [])
            if key == data["source_key"] or key in aliases:
                return None
            aliases.append(key)
            return []

        self._rewrite(video_id, edit)

    def moderate(self, video_id: str, decision: Moderation, *, by: str, at: float) -> bool:
        if by not in MODERATED_BY:
            raise ValueError(f"moderated by must be one of {MODERATED_BY}, not {by!r}")
        v = self._videos

        def edit(item: VideoItem, data: dict[str, Any]) -> list[Any] | None:
            if by == "auto" and data.get("moderated_by") == "human":
                return None
            data.update(moderation=decision.value, moderated_by=by, moderated_at=at)
            return [v.gsi2pk.set(MODERATION_PREFIX + decision.value), v.gsi2sk.set(item.gsi1sk)]

        return self._rewrite(video_id, edit)

    def list_videos(
        self,
        *,
        status: VideoStatus | None = None,
        moderation: Moderation | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        if limit < 1:
            raise BadRequest("the page size must be at least 1")
        before = _decode_cursor(cursor) if cursor else None
        if moderation is not None:
            return self._list_moderated(moderation, status, limit, before)
        statuses = [status] if status is not None else list(VideoStatus)
        candidates: list[VideoItem] = []
        with _dynamo("list videos"):
            for s in statuses:
                candidates += self._videos.by_status.query(
                    STATUS_PREFIX + s.value,
                    range_key_condition=(ByStatus.gsi1sk < before) if before else None,
                    scan_index_forward=False,
                    limit=limit + 1,
                )
        candidates.sort(key=lambda item: item.gsi1sk, reverse=True)
        page = candidates[:limit]
        next_cursor = _encode_cursor(page[-1].gsi1sk) if len(candidates) > limit else None
        return Page(items=[Video.from_dict(json.loads(item.data)) for item in page], cursor=next_cursor)

    def _list_moderated(
        self, moderation: Moderation, status: VideoStatus | None, limit: int, before: str | None
    ) -> Page:
        page: list[VideoItem] = []
        more = False
        with _dynamo("list moderated videos"):
            for item in self._videos.by_moderation.query(
                MODERATION_PREFIX + moderation.value,
                range_key_condition=(ByModeration.gsi2sk < before) if before else None,
                scan_index_forward=False,
            ):
                if status is not None and item.status != status.value:
                    continue
                if len(page) == limit:
                    more = True
                    break
                page.append(item)
        next_cursor = _encode_cursor(page[-1].gsi1sk) if more else None
        return Page(items=[Video.from_dict(json.loads(item.data)) for item in page], cursor=next_cursor)

    def delete_video(self, video_id: str) -> bool:
        """Delete the results first, then the video item, so a crash midway leaves a findable video."""
        r = self._results
        with _dynamo(f"delete video {video_id!r}"):
            for item in r.query(_video_pk(video_id), r.sk.startswith(RESULT_PREFIX)):
                item.delete()
            try:
                self._key(video_id).delete(condition=self._videos.pk.exists())
            except DeleteError as e:
                if _code(e) == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    # -- results --------------------------------------------------------------------------------
    def put_result(self, result: Result, *, replace: bool = False) -> bool:
        r = self._results
        item = r(
            _video_pk(result.video_id),
            RESULT_PREFIX + result.kind,
            version=result.version,
            created_at=result.created_at,
            payload=json.dumps(result.payload),
        )
        condition = None if replace else r.pk.does_not_exist() | (r.version != result.version)
        with _dynamo(f"put result {result.kind!r} of video {result.video_id!r}"):
            return _conditional(item.save, condition=condition)

    def get_results(self, video_id: str) -> dict[str, Result]:
        r = self._results
        with _dynamo(f"get results of video {video_id!r}"):
            items = list(r.query(_video_pk(video_id), r.sk.startswith(RESULT_PREFIX), consistent_read=True))
        results: dict[str, Result] = {}
        for item in items:
            kind = item.sk.removeprefix(RESULT_PREFIX)
            results[kind] = Result(
                video_id, kind, item.version, json.loads(item.payload), float(item.created_at)
            )
        return results
