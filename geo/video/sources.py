"""Video sources: anything OpenCV opens (RTSP, HTTP, a file), plus looping files as demo cameras.

URL convention (``cameras.stream_url``):

* ``rtsp://...``, ``http(s)://...``: a real camera, opened with OpenCV's FFmpeg backend; frames get
  the wall-clock time at which they were read.
* ``file:///abs/path.avi?loop=1``: a file played as a **live** camera. Frames are paced at the
  file's fps and stamped with real wall-clock time. The position in the file is a function of the
  clock (frame ``floor(unix_time * fps) mod frame_count``), so every reader of the same URL (the
  recorder, a snapshot, a live view) sees the same frame at the same moment, like a real camera.
* ``file:///abs/path.avi`` (or a bare path): the file played once, paced in real time
  (add ``pace=0`` to read as fast as possible, e.g. for benchmarks).

The bundled clip (PETS 2009 / OpenCV ``vtest.avi``) stands in for cameras in the demo and tests:
see :func:`demo_stream_url`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

import cv2
import numpy as np

from geo.errors import InvalidInput, Unavailable
from geo.settings import get_settings

#: How long to wait for a network source to open or deliver a frame.
OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 5000


def demo_clip_path() -> Path:
    """The bundled surveillance clip used as stand-in camera (480x360, 10 fps, 795 frames)."""
    return (get_settings().data_dir / "video" / "vtest_480x360.avi").resolve()


def demo_stream_url(path: Path | None = None) -> str:
    """``file://<abs path>?loop=1``: the clip as a looping live camera."""
    p = (path or demo_clip_path()).resolve()
    return f"file://{p}?loop=1"


@dataclass(frozen=True)
class SourceSpec:
    """A parsed stream URL: what OpenCV opens and how frames are paced and stamped."""

    url: str
    target: str
    is_file: bool
    loop: bool
    pace: bool


def parse_stream_url(url: str | None) -> SourceSpec:
    """Parse a camera's ``stream_url``; :class:`InvalidInput` (field ``stream_url``) if unusable."""
    if not url or not url.strip():
        raise InvalidInput("camera has no stream_url", field="stream_url")
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        path = unquote(parts.path) if scheme == "file" else url.split("?", 1)[0]
        q = parse_qs(parts.query)
        loop = q.get("loop", ["0"])[0] in ("1", "true", "yes")
        pace = q.get("pace", ["1"])[0] not in ("0", "false", "no")
        return SourceSpec(url=url, target=path, is_file=True, loop=loop, pace=pace)
    if scheme in ("rtsp", "rtsps", "http", "https", "rtmp", "udp", "tcp", "srt"):
        return SourceSpec(url=url, target=url, is_file=False, loop=False, pace=False)
    raise InvalidInput(f"unsupported stream scheme {scheme!r}", field="stream_url")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Source:
    """An open video source yielding ``(timestamp, BGR frame)``; see the module doc for pacing.

    Raises :class:`Unavailable` naming the cause when the source cannot be opened or stops
    delivering frames (a file that ended without ``loop=1`` raises ``EOFError`` instead).
    """

    def __init__(self, url: str, *, clock: float | None = None) -> None:
        self.spec = parse_stream_url(url)
        if self.spec.is_file and not Path(self.spec.target).is_file():
            raise Unavailable(
                f"video source file not found: {self.spec.target}", field="stream_url"
            )
        if self.spec.is_file:
            cap = cv2.VideoCapture(self.spec.target, cv2.CAP_FFMPEG)
        else:
            cap = cv2.VideoCapture(
                self.spec.target,
                cv2.CAP_FFMPEG,
                [
                    cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                    OPEN_TIMEOUT_MS,
                    cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                    READ_TIMEOUT_MS,
                ],
            )
        if not cap.isOpened():
            cap.release()
            raise Unavailable(f"cannot open video source {self._safe_url()}", field="stream_url")
        self.cap = cap
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.5 <= fps <= 120 else 10.0
        self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        self._index = 0  # frames delivered since open
        self._t0 = time.time() if clock is None else clock
        self._pos = 0
        if self.spec.loop and self.frame_count > 0:
            # position follows the wall clock so that every reader sees the same frame
            self._pos = int(self._t0 * self.fps) % self.frame_count
            if self._pos:
                self.cap.set(cv2.CAP_PROP_POS_FRAMES, self._pos)
            self._t0 = (int(self._t0 * self.fps)) / self.fps

    def _safe_url(self) -> str:
        """The URL without credentials (``rtsp://user:pw@host`` -> ``rtsp://***@host``)."""
        p = urlsplit(self.spec.url)
        if p.username or p.password:
            host = (p.hostname or "") + (f":{p.port}" if p.port else "")
            return p._replace(netloc="***@" + host).geturl()
        return self.spec.url

    def read(self) -> tuple[dt.datetime, np.ndarray]:
        """The next frame and its wall-clock time, sleeping until it is due for paced sources."""
        ok, frame = self.cap.read()
        if not ok and self.spec.loop:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.cap.read()
        if not ok or frame is None:
            if self.spec.is_file and not self.spec.loop:
                raise EOFError(self.spec.target)
            raise Unavailable(
                f"video source stopped delivering frames: {self._safe_url()}", field="stream_url"
            )
        if self.spec.is_file and self.spec.pace:
            due = self._t0 + self._index / self.fps
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            ts = dt.datetime.fromtimestamp(due, dt.UTC)
        elif self.spec.is_file:
            ts = dt.datetime.fromtimestamp(self._t0 + self._index / self.fps, dt.UTC)
        else:
            ts = _now()
        self._index += 1
        return ts, frame

    def read_now(self) -> tuple[dt.datetime, np.ndarray]:
        """The current frame without waiting (a snapshot): no pacing sleep for file sources."""
        pace = self.spec.pace
        object.__setattr__(self.spec, "pace", False)
        try:
            return self.read()
        except EOFError:
            raise Unavailable("video source has no frames", field="stream_url") from None
        finally:
            object.__setattr__(self.spec, "pace", pace)

    def frames(self) -> Iterator[tuple[dt.datetime, np.ndarray]]:
        """Iterate frames until the end of a non-looping file."""
        while True:
            try:
                yield self.read()
            except EOFError:
                return

    def close(self) -> None:
        self.cap.release()

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_source(url: str | None) -> Source:
    """Open a camera's ``stream_url`` (see the module doc); :class:`Unavailable` if it fails."""
    if url is None:
        raise Unavailable("camera has no stream_url", field="stream_url")
    return Source(url)


def live_frame(url: str | None) -> tuple[dt.datetime, np.ndarray]:
    """One current frame of a camera (opens, reads, closes); :class:`Unavailable` if it fails."""
    with open_source(url) as src:
        return src.read_now()
