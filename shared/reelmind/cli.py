"""The `reelmind` command: process files locally, show results, serve the API, make sample clips."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reelmind.domain import keys
from reelmind.errors import ReelMindError
from reelmind.files import sha256_file
from reelmind.runtime import Runtime, bootstrap
from reelmind.services.catalog import upload_key
from reelmind.settings import Settings


def _runtime() -> Runtime:
    settings = Settings.from_env()
    if settings.backend != "local":
        raise SystemExit("this command runs the local backend; unset REELMIND_BACKEND or set it to 'local'")
    return bootstrap(settings)


def _videos_in(paths: Sequence[str]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found += sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in keys.VIDEO_SUFFIXES
            )
        elif p.is_file():
            found.append(p)
        else:
            raise SystemExit(f"no such file or folder: {raw}")
    return found


def cmd_process(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    rt = _runtime()
    assert rt.local is not None
    files = _videos_in(args.paths)
    if not files:
        print("no video files found", file=sys.stderr)
        return 1
    rows = []
    with tqdm(files, unit="video", disable=args.quiet or None) as bar:
        for f in bar:
            bar.set_postfix_str(f.name[:40])
            try:
                key = upload_key(f.name)
            except ReelMindError as exc:  # a file name we refuse (say, a .txt): go through ingest anyway
                key = f"{keys.UPLOAD_PREFIX}{f.name}"
                logging.getLogger(__name__).debug("using raw key for %s: %s", f, exc)
            rt.blobs.put_file(key, f)
            rt.local.drain()
            rows.append((f, rt.catalog.video_for_upload(key, sha256_file(f))))
    failed = 0
    for f, video in rows:
        if video is None:
            print(f"{f}: no video recorded (see logs)")
            failed += 1
            continue
        print(_summary(rt, f, video))
        failed += video["status"] == "FAILED"
    dead = rt.local.queue.dead_letters()
    if dead:
        print(f"{len(dead)} event(s) failed repeatedly and were dead-lettered", file=sys.stderr)
    print(f"\ndata in {rt.settings.data_dir.resolve()}  (blobs under {rt.local.blob_root})")
    return 1 if failed and args.strict else 0


def _sound(ingest: dict[str, Any]) -> str:
    if ingest.get("audio"):
        return ", audio"
    refused = (ingest.get("media") or {}).get("audio_codec") if ingest.get("audio_refused") else None
    return f", sound left out ({refused} is not accepted)" if refused else ", no audio"


def _summary(rt: Runtime, f: Path, video: dict[str, Any]) -> str:
    assert rt.local is not None
    head = f"{f.name}: {video['video_id']} {video['status']}"
    if video["status"] == "FAILED":
        return f"{head}  [{video['error_code']}] {video['error']}"
    media = video.get("media") or {}
    res = video["results"]
    ingest = res.get("ingest", {})
    lines = [
        f"{head}  {media.get('width')}x{media.get('height')} {media.get('duration_s')} s "
        f"{len(ingest.get('shots', []))} shots, {len(ingest.get('keyframes', []))} keyframes"
        + _sound(ingest),
    ]
    thumb = res.get("thumbnail")
    if thumb:
        cover = thumb["cover"]
        lines.append(f"    cover at {cover['time_s']} s -> {rt.local.blob_root / cover['sizes'][0]['key']}")
        lines.append(f"    sprite -> {rt.local.blob_root / thumb['sprite']['key']}")
    lines += _understanding(res)
    return "\n".join(lines)


def _understanding(res: dict[str, Any]) -> list[str]:
    """One line per analyzer: what a person would want to see first."""
    lines = []
    for kind in ("tags", "ocr", "asr", "safety", "quality", "originality"):
        r = res.get(kind)
        if r is None:
            continue
        if r.get("status") == "failed":
            lines.append(f"    {kind}: failed [{r['error']['code']}] {r['error']['message']}")
        elif kind == "tags":
            cats = [
                f"{c['id']}/{ch['id'].split('/')[-1]} {ch['score']:.2f}"
                for c in r["categories"]
                for ch in c["children"]
            ]
            lines.append(
                f"    tags: {', '.join(cats) or 'no category'}; {', '.join(t['tag'] for t in r['tags'][:5])}"
            )
        elif kind == "ocr":
            text = " | ".join(line["text"] for line in r["lines"][:4])
            lines.append(f"    text: {text or '(none)'}")
        elif kind == "asr":
            words = r.get("text", "").split()
            lines.append(
                f"    speech: {' '.join(words[:12]) + (' ...' if len(words) > 12 else '') or '(none)'}"
            )
        elif kind == "safety":
            reasons = ", ".join(f"{x['kind']}:{x['label']}" for x in r["reasons"])
            lines.append(f"    safety: {r['action']}" + (f" ({reasons})" if reasons else ""))
        elif kind == "quality":
            lines.append(
                f"    quality: {r['score']:.0f}/100" + "".join(f"; {i['kind']}" for i in r["issues"][:3])
            )
        elif kind == "originality":
            dup = r.get("duplicate_of")
            lines.append("    originality: " + (f"duplicate of {dup['video_id']}" if dup else "original"))
    return lines


def cmd_show(args: argparse.Namespace) -> int:
    rt = _runtime()
    try:
        print(json.dumps(rt.catalog.video(args.video_id), indent=2, ensure_ascii=False))
    except ReelMindError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    rt = _runtime()
    for v in rt.results.list_videos(limit=args.limit).items:
        print(
            f"{v.video_id}  {v.status.value:<10}  {v.source_key}"
            + (f"  [{v.error_code}]" if v.error_code else "")
        )
    return 0


def cmd_reanalyze(args: argparse.Namespace) -> int:
    """Re-run analyzers whose stored results are missing or were made by another model version."""
    rt = _runtime()
    assert rt.local is not None
    kinds = args.kind or rt.analysis.kinds
    todo = (
        [(v, kinds) for v in args.video]
        if args.video and args.all
        else [(v, k) for v, k in rt.analysis.stale(kinds) if not args.video or v in args.video]
    )
    if not todo:
        print("every result is current")
        return 0
    for video_id, stale in todo:
        print(f"{video_id}: {', '.join(stale)}")
        if not args.dry_run:
            rt.analysis.request(video_id, stale, force=bool(args.video and args.all))
    if args.dry_run:
        return 0
    stats = rt.local.drain()
    print(
        f"{len(todo)} video(s) requeued; {stats.delivered} invocation(s), {stats.dead_letters} dead-lettered"
    )
    return 1 if stats.dead_letters else 0


def cmd_search(args: argparse.Namespace) -> int:
    """Text (or, with --image, a picture) to videos, best first, with the shot that matched."""
    rt = _runtime()
    if args.image:
        found = rt.search.by_image(Path(args.image).read_bytes(), limit=args.limit)
    else:
        found, _ = rt.search.search(" ".join(args.query), limit=args.limit)
    if not found:
        print("no match")
        return 0
    for f in found:
        video = rt.results.get_video(f.video_id)
        title = video.title if video and video.title else ""
        at = f" at {f.shot['time_s']} s" if f.shot else ""
        print(f"{f.score:.3f}  {f.video_id}  {title}{at}")
    return 0


def cmd_feed(args: argparse.Namespace) -> int:
    """The user's personal feed (a user with no history gets fresh and popular videos), best first."""
    rt = _runtime()
    page = rt.feed.feed(args.user, args.limit)
    print(f"feed for {page.user_id} (ranker {page.ranker}, request {page.request_id}):")
    if not page.items:
        print("  nothing to show yet: no analysed, allowed video the user has not seen")
    for i, item in enumerate(page.items, 1):
        video = rt.results.get_video(item.video_id)
        source = video.source_key if video else ""
        print(
            f"  {i:2}. {item.video_id}  {item.category or '-':<12} {item.reason:<8} {item.score:.3f}  {source}"
        )
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    rt = _runtime()
    bad = 0
    for name, state in rt.models.check().items():
        spec = rt.models.spec(name)
        print(f"{spec.ref:<36} {spec.license:<13} {state}")
        bad += state != "ok"
    return 1 if bad else 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from reelmind.api.app import create_app

    uvicorn.run(create_app(_runtime()), host=args.host, port=args.port, log_level="info")
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from reelmind import samples

    out = Path(args.folder)
    specs = [*samples.standard_specs(), *samples.text_specs()]
    for name, clip in samples.write_standard(out, specs).items():
        print(
            f"{clip.path}  {clip.frame_count} frames, cuts at {clip.cuts}"
            + (f", blends {clip.blends}" if clip.blends else "")
        )
        del name
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    """Export the interaction log, train the ranker, evaluate it and promote it when it is not worse."""
    import json

    rt = _runtime()
    hyperparameters = {"epochs": args.epochs} if args.epochs else None
    report = rt.retrain.run(hyperparameters=hyperparameters)
    print(json.dumps(report.to_dict(), indent=2, default=str))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reelmind", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each function does")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("process", help="ingest video files or folders through the local pipeline")
    p.add_argument("paths", nargs="+")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--strict", action="store_true", help="exit 1 when any video failed")
    p.set_defaults(func=cmd_process)
    p = sub.add_parser("show", help="print a video with every stored result as JSON")
    p.add_argument("video_id")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("list", help="list videos, newest first")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("reanalyze", help="re-run analyzers whose results are missing or out of date")
    p.add_argument("--kind", action="append", help="only this analyzer (repeatable)")
    p.add_argument("--video", action="append", help="only this video (repeatable)")
    p.add_argument("--all", action="store_true", help="with --video: re-run even if current")
    p.add_argument("--dry-run", action="store_true", help="list what is out of date, change nothing")
    p.set_defaults(func=cmd_reanalyze)
    p = sub.add_parser("search", help="find videos by text, or by an image with --image")
    p.add_argument("query", nargs="*")
    p.add_argument("--image", help="an image file (a frame, a crop of one) to look for")
    p.add_argument("--limit", type=int, default=10)
    p.set_defaults(func=cmd_search)
    p = sub.add_parser("feed", help="print a user's personal feed")
    p.add_argument("user", help="the user id (any new id gets the feed of a new user)")
    p.add_argument("--limit", type=int, default=10)
    p.set_defaults(func=cmd_feed)
    p = sub.add_parser("models", help="verify every model file against its checksum")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("serve", help="serve the HTTP API on this machine")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("retrain", help="train the ranker on the interaction log; promote it if not worse")
    p.add_argument("--epochs", type=int, help="training epochs (default: the retraining config's)")
    p.set_defaults(func=cmd_retrain)
    p = sub.add_parser("samples", help="write the generated sample clips into a folder")
    p.add_argument("folder")
    p.set_defaults(func=cmd_samples)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except ReelMindError as exc:
        print(f"error [{exc.code}]: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
