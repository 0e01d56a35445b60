"""What ingest keeps of every frame it decoded, for analyzers that need the whole timeline (quality,
originality, OCR) without decoding the video again: frame number, time, change score and a 64x36
luma thumbnail. The decoded frames are a dense sample of the video (the frames other frames are
predicted from; every frame of a stream without B-frames), so consumers go by the times, not by
assuming one entry per frame. About 0.5 MB for a 30 s clip at 30 fps, compressed."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np

from reelmind.errors import CorruptMedia

FILENAME = "signals.npz"


@dataclass(frozen=True, slots=True)
class Signals:
    times: np.ndarray  # (n,) float64 seconds
    scores: np.ndarray  # (n,) float32 difference from the previous frame
    features: np.ndarray  # (n, 36, 64) uint8 luma
    frames: np.ndarray  # (n,) int64 frame number in presentation order

    def to_bytes(self) -> bytes:
        """An `.npz` file (what `np.savez_compressed` writes), deflated at the fastest level: the luma
        thumbnails are mostly noise to zlib, so a higher level costs twice the time for 2 % less."""
        buf = io.BytesIO()
        arrays = {
            "times": self.times.astype(np.float64),
            "scores": self.scores.astype(np.float32),
            "features": self.features.astype(np.uint8),
            "frames": self.frames.astype(np.int64),
        }
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, arr in arrays.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.ascontiguousarray(arr), allow_pickle=False)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signals:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                n = len(npz["times"])
                frames = npz["frames"] if "frames" in npz.files else np.arange(n, dtype=np.int64)
                signals = cls(npz["times"], npz["scores"], npz["features"], frames)
        except (ValueError, KeyError, OSError) as exc:
            raise CorruptMedia(f"the stored frame signals could not be read: {exc}") from None
        n = len(signals.times)
        if (
            signals.scores.shape != (n,)
            or signals.frames.shape != (n,)
            or signals.features.ndim != 3
            or len(signals.features) != n
        ):
            raise CorruptMedia("the stored frame signals are inconsistent")
        return signals
