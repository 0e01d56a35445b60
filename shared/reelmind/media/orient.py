"""Pictures the right way up. Phones store a portrait video as landscape pictures plus a display
matrix (FFmpeg's DISPLAYMATRIX side data) that turns them upright when played; every picture ingest
keeps, and every model sees, is turned the same way.

`rotation` is the matrix's angle as FFmpeg reports it, counterclockwise in degrees, reduced to one of
0, 90, 180 or 270; a phone held upright records 270 (-90: a quarter turn clockwise to show).
A matrix may also mirror the picture (some front-camera recordings): `mirror` says the turned
picture is then flipped left to right, read the way FFmpeg's own tools read the matrix.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import SupportsBytes, cast

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


def display_matrix(frame: av.VideoFrame) -> list[int] | None:
    """The frame's display matrix, FFmpeg's nine 32-bit entries (a b u c d v x y w), or None."""
    side = cast("Mapping[str, SupportsBytes]", frame.side_data)  # PyAV's stub knows only motion vectors
    data = side.get("DISPLAYMATRIX")
    return None if data is None else list(struct.unpack("<9i", bytes(data)))


def orientation_of(frame: av.VideoFrame) -> tuple[int, bool]:
    """(rotation, mirror) of a decoded frame: its turn as `rotation_of` gives it, and whether the turned
    picture is then flipped left to right. The cases are those of FFmpeg's autorotate (fftools), by
    the angle it shows the picture turned clockwise: 90, a transpose where the matrix's c entry is
    positive; 270, an anti-transpose where it is negative; 180, a left-right and a top-bottom flip by
    the signs of a and d; 0, a top-bottom flip where d is negative."""
    turn = rotation_of(frame)
    matrix = display_matrix(frame)
    if matrix is None:
        return turn, False
    a, _, _, c, d, *_ = matrix
    if turn == 270:
        return 270, c > 0
    if turn == 90:
        return 90, c < 0
    if turn == 180:
        across, down = a < 0, d < 0
        return (180, False) if across and down else (0, True) if across else (180, down)
    return (180, True) if d < 0 else (0, False)


def upright(picture: np.ndarray, rotation: int, mirror: bool = False) -> np.ndarray:
    """`picture` (H x W or H x W x C) turned as the display matrix says, then mirrored where it says so;
    itself when nothing is needed."""
    turn = _TURNS.get(rotation % 360)
    turned = picture if turn is None else cv2.rotate(picture, turn)
    return cv2.flip(turned, 1) if mirror else turned


def display_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    """(width, height) of the picture as shown."""
    return (height, width) if rotation % 180 == 90 else (width, height)
