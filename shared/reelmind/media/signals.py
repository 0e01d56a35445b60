"""What ingest keeps of every decoded frame, for analyzers that need the whole timeline (quality,
originality) without decoding the video again: time, change score and a 64x36 luma thumbnail.
About 1 MB for a 30 s clip at 30 fps, compressed."""

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

    def to_bytes(self) -> bytes:
        """An `.npz` file (what `np.savez_compressed` writes), deflated at the fastest level: the luma
        thumbnails are mostly noise to zlib, so a higher level costs twice the time for 2 % less."""
        buf = io.BytesIO()
        arrays = {
            "times": self.times.astype(np.float64),
            "scores": self.scores.astype(np.float32),
            "features": self.features.astype(np.uint8),
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
                signals = cls(npz["times"], npz["scores"], npz["features"])
        except (ValueError, KeyError, OSError) as exc:
            raise CorruptMedia(f"the stored frame signals could not be read: {exc}") from None
        n = len(signals.times)
        if signals.scores.shape != (n,) or signals.features.ndim != 3 or len(signals.features) != n:
            raise CorruptMedia("the stored frame signals are inconsistent")
        return signals
