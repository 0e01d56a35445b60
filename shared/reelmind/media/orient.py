"""Pictures the right way up. Phones store a portrait video as landscape pictures plus a display
matrix (FFmpeg's DISPLAYMATRIX side data) that turns them upright when played; every picture ingest
keeps, and every model sees, is turned the same way.

`rotation` is the matrix's angle as FFmpeg reports it, counterclockwise in degrees, reduced to one of
0, 90, 180 or 270; a phone held upright records 270 (-90: a quarter turn clockwise to show).
"""

from __future__ import annotations

import math

import av
import cv2
import numpy as np

_TURNS = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


def rotation_of(frame: av.VideoFrame) -> int:
    """The display rotation of a decoded frame: 0, 90, 180 or 270 (counterclockwise)."""
    angle = float(frame.rotation or 0.0)
    if not math.isfinite(angle):
        return 0
    return round(angle / 90.0) % 4 * 90


def upright(picture: np.ndarray, rotation: int) -> np.ndarray:
    """`picture` (H x W or H x W x C) turned as the display matrix says; itself when no turn is needed."""
    turn = _TURNS.get(rotation % 360)
    return picture if turn is None else cv2.rotate(picture, turn)


def display_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    """(width, height) of the picture as shown."""
    return (height, width) if rotation % 180 == 90 else (width, height)
