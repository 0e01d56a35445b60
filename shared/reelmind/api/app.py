"""Routes for videos and their results. Errors map to responses in one place."""

from __future__ import annotations

import hashlib
import hmac
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from reelmind import __version__
from reelmind.domain.keys import DERIVED_PREFIX, validate_key
from reelmind.domain.video import VideoStatus
from reelmind.errors import (
    BadRequest,
    ConfigError,
    FrameTooLarge,
    InputError,
    NotFound,
    ReelMindError,
    TooLarge,
    TooLong,
    TransientError,
    UnsupportedMedia,
)
from reelmind.runtime import Runtime
from reelmind.services.interactions import parse_batch
from reelmind.services.search import MAX_IMAGE_BYTES, Filters

_STATUS = {
    NotFound: 404,
    TooLarge: 413,
    UnsupportedMedia: 415,
    TooLong: 422,
    FrameTooLarge: 422,
    BadRequest: 400,
    InputError: 400,
    TransientError: 503,
    ConfigError: 500,
}
_CHUNK = 1 << 20


def http_status(exc: ReelMindError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


class UploadRequest(BaseModel):
    filename: str = Field(min_length=1, max_length=255, examples=["my clip.mp4"])


class JobRequestBody(BaseModel):
    type: str = Field(min_length=1, max_length=32, examples=["asr"])
    params: dict[str, Any] = Field(default_factory=dict, examples=[{"style": "cartoon"}])


class ReviewDecision(BaseModel):
    decision: str = Field(pattern="^(allow|block)$", examples=["allow"])


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="ReelMind", version=__version__, description="The AI back end of a short-video platform."
    )

    @app.exception_handler(ReelMindError)
    async def _typed_error(_: Request, exc: ReelMindError) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message}}, status_code=http_status(exc)
        )

    def authenticate(request: Request) -> None:
        keys = runtime.settings.api_keys
        if not keys:
            return  # locally without keys (loopback only); on AWS the gateway authenticates with IAM
        supplied = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        if not any(hmac.compare_digest(supplied.encode(), k.encode()) for k in keys):
            raise _Unauthorized()

    router = APIRouter(dependencies=[Depends(authenticate)])

    @router.post("/videos", status_code=201)
    async def create_video(request: Request) -> dict[str, Any]:
        """JSON `{"filename"}` returns a presigned upload; locally a multipart `file` is taken directly."""
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            if runtime.local is None:
                raise BadRequest(
                    "upload the file with the presigned POST this endpoint returns for a JSON body"
                )
            form = await request.form()
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise BadRequest("the form needs a 'file' field with a file name")
            return await _accept_file(runtime, upload)
        try:
            body = UploadRequest.model_validate(await request.json())
        except ValueError as exc:
            raise BadRequest(f'expected JSON {{"filename": ...}}: {exc}') from None
        presigned = runtime.catalog.new_upload(body.filename)
        return {
            "upload": {
                "url": presigned.url,
                "fields": presigned.fields,
                "key": presigned.key,
                "max_bytes": presigned.max_bytes,
                "expires_in_s": presigned.expires_in_s,
            },
            "video_id_rule": "v + the first 20 hex digits of the file's SHA-256",
        }

    @router.get("/videos")
    def list_videos(
        status: VideoStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        page = runtime.catalog.videos(status, limit, cursor)
        return {"items": [v.to_dict() for v in page.items], "cursor": page.cursor}

    @router.get("/videos/{video_id}")
    def get_video(video_id: str) -> dict[str, Any]:
        return runtime.catalog.video(video_id)

    @router.delete("/videos/{video_id}")
    def delete_video(video_id: str) -> dict[str, Any]:
        """Remove the video from search and the feed, delete its files and its records."""

        def forget(vid: str) -> None:
            runtime.search.forget(vid)
            runtime.features.removed(vid)

        return runtime.catalog.delete(video_id, forget)

    async def _job_body(request: Request) -> JobRequestBody:
        raw = await request.body()
        if len(raw) > 64 * 1024:
            raise TooLarge(f"the job request is {len(raw)} bytes; the limit is 65536")
        try:
            return JobRequestBody.model_validate_json(raw)
        except ValueError as exc:
            raise BadRequest(f'expected JSON {{"type": ..., "params": {{...}}}}: {exc}') from None

    @router.post("/videos/{video_id}/jobs", status_code=202)
    async def create_video_job(video_id: str, request: Request) -> dict[str, Any]:
        """asr (subtitles), voice (preset), stylize (style) on a video; the job runs in the background."""
        body = await _job_body(request)
        job = await run_in_threadpool(runtime.jobs.create, body.type, video_id, body.params)
        return job.to_dict()

    @router.post("/jobs", status_code=202)
    async def create_job(request: Request) -> dict[str, Any]:
        """Jobs that need no video: tts (text, speed)."""
        body = await _job_body(request)
        job = await run_in_threadpool(runtime.jobs.create, body.type, None, body.params)
        return job.to_dict()

    @router.get("/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        job = runtime.jobs.get(job_id)
        out = job.to_dict()
        out["output_urls"] = {name: runtime.blobs.url_for(key) for name, key in job.outputs.items()}
        return out

    @router.get("/search")
    def search(
        q: Annotated[str, Query(max_length=10_000)] = "",
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
        cursor: str | None = None,
        category: str | None = None,
        min_duration_s: Annotated[float | None, Query(ge=0)] = None,
        max_duration_s: Annotated[float | None, Query(ge=0)] = None,
        uploaded_after: float | None = None,
        uploaded_before: float | None = None,
    ) -> dict[str, Any]:
        """Text to video: semantic k-NN plus keywords (title, tags in English and Chinese, on-screen
        text, transcript); each result names the shot that matched best. Blocked videos never appear."""
        filters = Filters(category, min_duration_s, max_duration_s, uploaded_after, uploaded_before)
        found, next_cursor = runtime.search.search(q, limit=limit, cursor=cursor, filters=filters)
        return {"items": [f.to_dict() for f in found], "cursor": next_cursor}

    @router.get("/videos/{video_id}/similar")
    def similar(video_id: str, limit: Annotated[int, Query(ge=1, le=50)] = 10) -> dict[str, Any]:
        return {"items": [f.to_dict() for f in runtime.search.similar(video_id, limit=limit)]}

    @router.post("/search/image")
    async def search_image(
        request: Request, limit: Annotated[int, Query(ge=1, le=50)] = 10
    ) -> dict[str, Any]:
        """Element-level search: an image (or a crop: a product, a landmark) as a multipart `file` or the
        raw body; answers with the videos and the shot times where it appears."""
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise BadRequest("the form needs a 'file' field holding the image")
            data = await upload.read(MAX_IMAGE_BYTES + 1)
        else:
            data = await request.body()
        found = await run_in_threadpool(runtime.search.by_image, data, limit=limit)
        return {"items": [f.to_dict() for f in found]}

    @router.get("/review")
    def review_queue(
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Videos the safety verdict sent to a person, newest first, with the verdict's reasons."""
        items, next_cursor = runtime.catalog.review_queue(limit, cursor)
        return {"items": items, "cursor": next_cursor}

    @router.post("/review/{video_id}")
    async def review_decision(video_id: str, request: Request) -> dict[str, Any]:
        try:
            body = ReviewDecision.model_validate(await request.json())
        except ValueError as exc:
            raise BadRequest(f'expected JSON {{"decision": "allow" | "block"}}: {exc}') from None
        video = await run_in_threadpool(runtime.catalog.decide, video_id, body.decision)
        await run_in_threadpool(runtime.features.refresh, video_id)  # in or out of the feed at once
        return video

    @router.get("/users/{user_id}/feed")
    def feed(user_id: str, limit: Annotated[int, Query(ge=1, le=50)] = 20) -> dict[str, Any]:
        """The user's personal feed: videos they have not seen, each with its score and the reason it was
        picked (interest, fresh or popular), and a `request_id` to send back with the impressions."""
        return runtime.feed.feed(user_id, limit).to_dict()

    @router.post("/events")
    async def post_events(request: Request) -> dict[str, Any]:
        """A batch of feed interactions `{"events": [...]}`: each event is stored once (by `event_id`);
        a bad event is dropped and counted by reason. Answers `{accepted, duplicates, dropped}`."""
        raw = await _read_body(request, runtime.settings.events_max_bytes)
        batch = await run_in_threadpool(parse_batch, raw)
        report = await run_in_threadpool(runtime.interactions.ingest, batch)
        return report.to_dict()

    if runtime.local is not None:
        blob_root = runtime.local.blob_root

        @router.get("/blobs/{key:path}")
        def get_blob(key: str) -> FileResponse:
            validate_key(key)
            path = (blob_root / key).resolve()
            if not key.startswith(DERIVED_PREFIX) or not path.is_relative_to(blob_root) or not path.is_file():
                raise NotFound(f"no derived file {key!r}")
            return FileResponse(path)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__, "backend": runtime.settings.backend}

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(_: Request, __: _Unauthorized) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": "unauthorized", "message": "a valid API key is required"}},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    app.include_router(router)
    return app


class _Unauthorized(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with `TooLarge` as soon as it is known to exceed `limit` bytes: by its
    Content-Length before reading, or while streaming (a missing or understated length)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(f"the Content-Length header {declared!r} is not a byte count")
        if int(declared) > limit:
            raise TooLarge(f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def _accept_file(runtime: Runtime, upload: UploadFile) -> dict[str, Any]:
    """Store a local upload under a fresh key, run the pipeline, return the video."""
    key = runtime.catalog.new_upload(upload.filename or "video.mp4").key
    limit = runtime.settings.limits.max_bytes
    sha = hashlib.sha256()
    size = 0
    with tempfile.TemporaryDirectory(prefix="reelmind-upload-") as tmp:
        path = Path(tmp) / "upload"
        with path.open("wb") as fh:
            while chunk := await upload.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the upload is over the {limit}-byte limit")
                sha.update(chunk)
                fh.write(chunk)
        await run_in_threadpool(runtime.blobs.put_file, key, path)
    assert runtime.local is not None
    await run_in_threadpool(runtime.local.drain)
    return {"key": key, "video": runtime.catalog.video_for_upload(key, sha.hexdigest())}
