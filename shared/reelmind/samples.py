"""Sample clips made by code, with known ground truth: where the cuts are, where the blends are.

Scenes are real photographs that scikit-image ships (astronaut, chelsea the cat, coffee, rocket, ...)
filmed with a slow pan or zoom and a little sensor noise; audio is a tone or real read speech from
Debian's pocketsphinx-testdata (LibriVox). Used by `make demo`, the tests and the benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from reelmind.media import orient

PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "cat",
)
SPEECH_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
#: A CJK font from Debian's fonts-wqy-microhei, for on-screen text in Chinese and English.
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


@dataclass(frozen=True, slots=True)
class Segment:
    photo: str
    frames: int
    motion: str = "pan"  # pan | zoom | still
    enter: str = "cut"  # cut | dissolve | fade (how this segment begins)
    enter_frames: int = 0  # length of the dissolve, or of each half of the fade
    text: tuple[str, ...] = ()  # lines shown on screen for the whole segment (a caption or a title card)


@dataclass(frozen=True, slots=True)
class ClipSpec:
    name: str
    segments: tuple[Segment, ...]
    width: int = 320
    height: int = 180
    fps: int = 25
    audio: str | None = "tone"  # tone | speech | None
    crf: int = 23
    faststart: bool = False
    codec: str = "libx264"  # or libx265 (HEVC), libsvtav1 (AV1)
    # Stored on its side with a display matrix that turns it upright, as phones record portrait video
    # (270: a quarter turn clockwise to show; see reelmind.media.orient). width and height are as shown.
    rotation: int = 0
    # Extra encoder settings (`key=value:...`), e.g. to put cuts where no key frame starts.
    encoder_params: str = ""
    # The YUV matrix the pictures are coded in and tagged with ("bt709", "bt2020"; "" writes them
    # untagged in FFmpeg's default, BT.601), and full range (0-255) rather than limited, as many phones.
    matrix: str = ""
    full_range: bool = False


@dataclass(frozen=True, slots=True)
class ClipTruth:
    path: Path
    spec: ClipSpec
    frame_count: int
    cuts: list[int]  # frames that start a new shot after a hard cut
    blends: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of dissolves and fades

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.spec.fps


@cache
def photo(name: str) -> np.ndarray:
    """An RGB photograph bundled with scikit-image (or "black", an empty frame)."""
    import skimage.data

    if name == "black":
        return np.zeros((360, 640, 3), np.uint8)
    if name == "slate":
        return np.full((360, 640, 3), (34, 52, 88), np.uint8)
    if name == "bars":  # the seven 75% colour bars of a broadcast test pattern
        colours = [
            (191, 191, 191),
            (191, 191, 0),
            (0, 191, 191),
            (0, 191, 0),
            (191, 0, 191),
            (191, 0, 0),
            (0, 0, 191),
        ]
        return np.repeat(np.array(colours, np.uint8)[None, :, :], 360, axis=0).repeat(92, axis=1)[:, :640]
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[:, :, :3])


def _view(img: np.ndarray, motion: str, progress: float, w: int, h: int) -> np.ndarray:
    """The camera's view of `img` at `progress` (0..1) through the shot, resized to w x h."""
    ih, iw = img.shape[:2]
    aspect = w / h
    # Largest crop of the target aspect that fits, then shrink it for room to move.
    cw, ch = (iw, round(iw / aspect)) if iw / ih < aspect else (round(ih * aspect), ih)
    scale = 0.8 if motion == "pan" else (1.0 - 0.25 * progress if motion == "zoom" else 0.85)
    cw, ch = max(8, round(cw * scale)), max(8, round(ch * scale))
    if motion == "pan":
        x = round((iw - cw) * progress)
        y = round((ih - ch) * (0.5 + 0.3 * math.sin(progress * math.pi)) / 1.0 * 0.5 + (ih - ch) * 0.25)
    else:
        x, y = (iw - cw) // 2, (ih - ch) // 2
    y = min(max(0, y), ih - ch)
    crop = img[y : y + ch, x : x + cw]
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)


@cache
def text_layer(lines: tuple[str, ...], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """White text with a dark outline, centred in the lower two thirds: (RGB, alpha 0..1) layers."""
    from PIL import Image, ImageDraw, ImageFont

    size = max(12, height // 12)
    font = ImageFont.truetype(str(CJK_FONT), size)
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    y = height // 3
    for line in lines:
        box = draw.textbbox((0, 0), line, font=font, stroke_width=2)
        x = (width - (box[2] - box[0])) // 2
        draw.text(
            (x, y), line, font=font, fill=(255, 255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0, 255)
        )
        y += int(size * 1.6)
    rgba = np.asarray(layer, np.float32)
    return rgba[:, :, :3], rgba[:, :, 3:] / 255.0


def frames(spec: ClipSpec, seed: int = 7) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    segs = spec.segments

    def shot(i: int, j: int) -> np.ndarray:
        seg = segs[i]
        length = seg.frames + (
            segs[i + 1].enter_frames if i + 1 < len(segs) and segs[i + 1].enter == "dissolve" else 0
        )
        return _view(photo(seg.photo), seg.motion, j / max(1, length - 1), spec.width, spec.height)

    for i, seg in enumerate(segs):
        start_j = seg.enter_frames if seg.enter == "dissolve" else 0
        nxt = segs[i + 1] if i + 1 < len(segs) else None
        for j in range(start_j, start_j + seg.frames):
            img = shot(i, j).astype(np.float32)
            local = j - start_j
            if seg.enter == "fade" and local < seg.enter_frames:
                img *= (local + 1) / (seg.enter_frames + 1)
            if nxt is not None and nxt.enter == "fade" and local >= seg.frames - nxt.enter_frames:
                img *= 1.0 - (local - (seg.frames - nxt.enter_frames) + 1) / (nxt.enter_frames + 1)
            if nxt is not None and nxt.enter == "dissolve" and local >= seg.frames - nxt.enter_frames:
                k = local - (seg.frames - nxt.enter_frames)
                alpha = (k + 1) / (nxt.enter_frames + 1)
                img = (1 - alpha) * img + alpha * shot(i + 1, k).astype(np.float32)
            if seg.text:
                rgb, cover = text_layer(seg.text, spec.width, spec.height)
                img = (img * (1.0 - cover) + rgb * cover).astype(np.float32)
            img += rng.normal(0.0, 2.0, img.shape).astype(np.float32)
            yield np.clip(img, 0, 255).astype(np.uint8)


def truth(spec: ClipSpec, path: Path) -> ClipTruth:
    cuts, blends, t = [], [], 0
    for i, seg in enumerate(spec.segments):
        if i > 0 and seg.enter == "cut":
            cuts.append(t)
        if i > 0 and seg.enter == "dissolve":
            blends.append((t - seg.enter_frames, t))
        if i > 0 and seg.enter == "fade":
            blends.append((t - seg.enter_frames, t + seg.enter_frames))
        t += seg.frames
    return ClipTruth(path=path, spec=spec, frame_count=t, cuts=cuts, blends=blends)


def speech(rate: int) -> np.ndarray:
    """Real read speech (LibriVox) from Debian's pocketsphinx-testdata, as float32 mono at `rate`."""
    import soundfile as sf

    files = sorted(SPEECH_DIR.glob("*.wav"))
    if not files:
        raise FileNotFoundError(
            f"no speech recordings in {SPEECH_DIR}: install Debian's pocketsphinx-testdata"
        )
    parts = []
    for f in files:
        data, sr = sf.read(f, dtype="float32")
        if sr != rate:
            n = round(len(data) * rate / sr)
            data = np.interp(np.linspace(0, len(data) - 1, n), np.arange(len(data)), data).astype(np.float32)
        parts.append(data)
    return np.concatenate(parts)


def _audio(kind: str, seconds: float, rate: int) -> np.ndarray:
    n = round(seconds * rate)
    if kind == "speech":
        s = speech(rate)
        reps = -(-n // len(s))
        return np.tile(s, reps)[:n]
    t = np.arange(n) / rate
    return (0.2 * np.sin(2 * np.pi * 440.0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))).astype(
        np.float32
    )


def write_clip(spec: ClipSpec, path: Path) -> ClipTruth:
    gt = truth(spec, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "+faststart"} if spec.faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as out:
        vs = out.add_stream(spec.codec, rate=spec.fps)
        assert isinstance(vs, av.VideoStream), spec.codec
        vs.width, vs.height = orient.display_size(spec.width, spec.height, spec.rotation)  # as stored
        vs.pix_fmt = "yuv420p"
        coding = _coding(spec)
        if coding:
            vs.codec_context.colorspace = coding["dst_colorspace"]
            vs.codec_context.color_range = coding["dst_color_range"]
        if spec.rotation:
            vs.set_display_rotation(spec.rotation)
        vs.options = _encoder_options(spec)
        astream = None
        if spec.audio:
            rate = 16_000 if spec.audio == "speech" else 44_100
            astream = out.add_stream("aac", rate=rate)
            astream.layout = "mono"
        stored_turn = (360 - spec.rotation) % 360  # undoes the display matrix's turn
        for img in frames(spec):
            stored = np.ascontiguousarray(orient.upright(img, stored_turn))
            picture = av.VideoFrame.from_ndarray(stored, format="rgb24")
            if coding:
                picture = picture.reformat(format="yuv420p", **coding)
            for packet in vs.encode(picture):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if astream is not None:
            samples = _audio(spec.audio or "tone", gt.duration_s, astream.rate)
            for start in range(0, len(samples), 1024):
                chunk = samples[start : start + 1024].reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                frame.sample_rate = astream.rate
                frame.pts = start
                for packet in astream.encode(frame):
                    out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
    return gt


def _coding(spec: ClipSpec) -> dict[str, int]:
    """swscale's arguments for the spec's YUV matrix and range (also the stream's tags); none for the
    default, untagged BT.601 limited range."""
    if not (spec.matrix or spec.full_range):
        return {}
    matrices = {
        "": Colorspace.ITU601,
        "bt601": Colorspace.ITU601,
        "bt709": Colorspace.ITU709,
        "bt2020": Colorspace.BT2020,
    }
    levels = ColorRange.JPEG if spec.full_range else ColorRange.MPEG
    return {"dst_colorspace": int(matrices[spec.matrix]), "dst_color_range": int(levels)}


def _encoder_options(spec: ClipSpec) -> dict[str, object]:
    if spec.codec == "libsvtav1":
        options: dict[str, object] = {"preset": "10", "crf": str(spec.crf + 12)}
        params = spec.encoder_params
    else:  # x264 and x265 take the same presets and quality scale
        options = {"preset": "veryfast", "crf": str(spec.crf)}
        params = ":".join(
            p for p in ("log-level=error" if spec.codec == "libx265" else "", spec.encoder_params) if p
        )
    if params:
        options[f"{spec.codec.removeprefix('lib')}-params"] = params
    return options


def standard_specs() -> list[ClipSpec]:
    return [
        ClipSpec(
            "cuts",
            (
                Segment("astronaut", 40),
                Segment("coffee", 35, "zoom"),
                Segment("chelsea", 45),
                Segment("rocket", 40, "zoom"),
            ),
        ),
        ClipSpec(
            "transitions",
            (
                Segment("coffee", 40),
                Segment("chelsea", 50, "pan", "fade", 10),
                Segment("rocket", 45, "zoom", "dissolve", 15),
                Segment("astronaut", 30),
            ),
        ),
        ClipSpec("silent", (Segment("rocket", 30), Segment("astronaut", 30, "zoom")), audio=None),
        ClipSpec("vertical", (Segment("chelsea", 35), Segment("coffee", 35, "zoom")), width=180, height=320),
        # A phone's portrait video: landscape pictures stored with a display matrix that turns them upright,
        # coded full range in BT.709, as Android phones record.
        ClipSpec(
            "phone",
            (Segment("astronaut", 35, "zoom"), Segment("coffee", 35)),
            width=180,
            height=320,
            rotation=270,
            matrix="bt709",
            full_range=True,
        ),
        ClipSpec("speech", (Segment("astronaut", 60, "zoom"), Segment("retina", 60, "pan")), audio="speech"),
    ]


#: On-screen text of the text clip, with the time each segment starts (25 fps, 50 frames a segment).
TEXT_LINES = (
    ("欢迎来到短视频平台", "Welcome to ReelMind"),
    ("今天的咖啡特别香", "Fresh coffee every morning"),
    ("周末一起去看海", "See you at the beach"),
)
BANNED_LINE = ("网络赌博 充值就送", "Join now")


def text_specs() -> list[ClipSpec]:
    """Clips with rendered on-screen text: a benign one, and one where a banned term appears at 4 s."""
    return [
        ClipSpec(
            "text",
            (
                Segment("slate", 50, "still", text=TEXT_LINES[0]),
                Segment("coffee", 50, "zoom", text=TEXT_LINES[1]),
                Segment("slate", 50, "still", text=TEXT_LINES[2]),
            ),
            width=640,
            height=360,
        ),
        ClipSpec(
            "banned_text",
            (
                Segment("chelsea", 50, "pan"),
                Segment("slate", 50, "still", text=TEXT_LINES[0]),
                Segment("slate", 50, "still", text=BANNED_LINE),
            ),
            width=640,
            height=360,
        ),
    ]


def photo_specs(
    names: Sequence[str] = ("astronaut", "chelsea", "coffee", "rocket", "bars"),
) -> list[ClipSpec]:
    """One photograph (or test pattern) per clip, for checking what the analyzers see in each."""
    return [ClipSpec(f"photo_{name}", (Segment(name, 40, "zoom"),), audio=None) for name in names]


def originality_specs() -> list[ClipSpec]:
    """Clips beside the standard ones for originality: the same photos in another order and with other
    motion, still shots of them, and photos no other clip uses. Distinct videos that must never match."""
    return [
        ClipSpec(
            "reordered",
            (
                Segment("rocket", 40),
                Segment("chelsea", 40, "zoom"),
                Segment("coffee", 35),
                Segment("astronaut", 35, "zoom"),
            ),
        ),
        ClipSpec(
            "stills",
            (
                Segment("astronaut", 45, "still"),
                Segment("chelsea", 45, "still"),
                Segment("coffee", 40, "zoom", "dissolve", 10),
            ),
            audio=None,
        ),
        ClipSpec(
            "others",
            (
                Segment("hubble_deep_field", 40),
                Segment("immunohistochemistry", 40, "zoom"),
                Segment("cat", 40, "pan", "fade", 8),
            ),
        ),
    ]


@dataclass(frozen=True, slots=True)
class RetrievalItem:
    """A clip with one subject, and the queries (English and Chinese) that name it."""

    spec: ClipSpec
    queries_en: tuple[str, ...]
    queries_zh: tuple[str, ...]


def retrieval_set() -> list[RetrievalItem]:
    """Single-subject clips with generic names, some with on-screen words, plus clips of other scenes.
    What a search can know comes from the pictures and the words on screen, never from file names."""

    def clip(name: str, photo_name: str, motion: str, text: tuple[str, ...] = ()) -> ClipSpec:
        return ClipSpec(
            name, (Segment(photo_name, 50, motion, text=text),), width=480, height=270, audio=None
        )

    return [
        RetrievalItem(clip("r01", "chelsea", "pan"), ("cat", "a tabby cat"), ("猫",)),
        RetrievalItem(clip("r02", "coffee", "zoom"), ("coffee", "a cup of espresso"), ("咖啡",)),
        RetrievalItem(clip("r03", "rocket", "zoom", ("发射日", "Launch day")), ("rocket launch",), ("发射",)),
        RetrievalItem(
            clip("r04", "astronaut", "pan", ("宇航员训练", "Astronaut training")), ("astronaut",), ("宇航员",)
        ),
        RetrievalItem(clip("r05", "camera", "zoom"), ("camera on a tripod",), ("三脚架",)),
        RetrievalItem(
            clip("r06", "hubble_deep_field", "pan", ("深空星系", "Deep space galaxies")),
            ("galaxies in space",),
            ("星系",),
        ),
        RetrievalItem(clip("r07", "coins", "zoom", ("古代钱币", "Ancient coins")), ("old coins",), ("钱币",)),
        RetrievalItem(clip("r08", "immunohistochemistry", "pan"), (), ()),
        RetrievalItem(clip("r09", "retina", "zoom"), (), ()),
        RetrievalItem(clip("r10", "bars", "still"), (), ()),
    ]


def bench_spec(seconds: int = 30) -> ClipSpec:
    """A 720p clip with a shot every 2.5 s, like a typical short video."""
    names = PHOTOS
    fps = 30
    per = round(2.5 * fps)
    segs = tuple(
        Segment(names[i % len(names)], per, "zoom" if i % 2 else "pan") for i in range(seconds * fps // per)
    )
    return ClipSpec("bench720", segs, width=1280, height=720, fps=fps, audio="speech", crf=21)


def write_standard(folder: Path, specs: Sequence[ClipSpec] | None = None) -> dict[str, ClipTruth]:
    return {spec.name: write_clip(spec, folder / f"{spec.name}.mp4") for spec in (specs or standard_specs())}
