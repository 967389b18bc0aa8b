"""Shared helpers for tests that look at the frames of a video file (clips cut from the archive,
exports, the bundled PETS clip): one decode loop instead of one per test file.

Import with ``from tests.video_helpers import decode_frames`` (like ``tests.browser``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def decode_frames(
    path: Path | str, *, every: int = 1, limit: int | None = None
) -> list[np.ndarray]:
    """The decoded BGR frames of the video at ``path``, in order, as OpenCV reads them.

    ``every=n`` keeps every n-th frame (the 0th, n-th, 2n-th, ...); ``limit`` stops after that many
    frames have been read (kept or not). An unreadable file gives an empty list, so tests assert
    the frame count they expect.
    """
    if every < 1:
        raise ValueError("every must be >= 1")
    cap = cv2.VideoCapture(str(path))
    out: list[np.ndarray] = []
    i = 0
    try:
        while limit is None or i < limit:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                out.append(frame)
            i += 1
    finally:
        cap.release()
    return out
