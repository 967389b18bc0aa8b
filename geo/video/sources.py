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
see :func:`demo_stream_url`. It is an AVI with B-frames and a key frame every 25 s, unlike a
camera; :func:`camera_stream_url` gives the same pictures as a camera sends them (H.264, a key
frame every second, no B-frames, MP4), made once from it.

Two readers: :class:`Source` (OpenCV) decodes every frame; :class:`PacketSource` (PyAV) gives the
camera's compressed packets (H.264/H.265) for the remux recorder and decodes only what motion
detection needs (key frames, straight to a small grey picture).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any
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


#: Key frame interval of :func:`camera_clip_path` (frames; 1 s at 10 fps), like a camera's GOP.
CAMERA_GOP_FRAMES = 10


def camera_clip_path() -> Path:
    """The bundled clip as a camera sends it: H.264, a key frame every second, no B-frames, MP4.

    Made once from :func:`demo_clip_path` with PyAV's libx264 (single thread, so the same bytes
    every time; about 1.5 s) and kept in the temp dir.
    """
    src = demo_clip_path()
    out = Path(tempfile.gettempdir()) / "goldentime" / f"{src.stem}_g{CAMERA_GOP_FRAMES}.mp4"
    if out.is_file() and out.stat().st_size > 0:
        return out
    import av

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format="mp4") as dst:
        st = dst.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = 480, 360, "yuv420p"
        g = str(CAMERA_GOP_FRAMES)
        st.options = {"preset": "veryfast", "crf": "26", "g": g, "keyint_min": g, "bf": "0"}
        st.options |= {"sc_threshold": "0", "threads": "1"}
        st.codec_context.thread_count = 1
        for i, f in enumerate(inp.decode(video=0)):
            f2 = f.reformat(width=480, height=360, format="yuv420p")
            f2.pts, f2.time_base = i, Fraction(1, 10)
            for pkt in st.encode(f2):
                dst.mux(pkt)
        for pkt in st.encode(None):
            dst.mux(pkt)
    os.replace(tmp, out)
    return out


def camera_stream_url() -> str:
    """``file://<camera clip>?loop=1``: :func:`camera_clip_path` as a looping live camera."""
    return f"file://{camera_clip_path()}?loop=1"


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


# --- compressed packets (the remux recorder) ---------------------------------------------------

#: A source whose key frames are further apart than this (seconds) is decoded fully for motion.
KEY_ONLY_MAX_GAP_S = 2.0
#: Decoded pixel formats whose first plane is the 8-bit luma (the grey picture).
_LUMA_FIRST = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "gray"}


@dataclass(frozen=True)
class _FileIndex:
    """Packets of a file: count, key frame positions, first ``pts`` and the loop length in pts."""

    count: int
    keys: tuple[int, ...]
    first_pts: int
    span_pts: int
    max_key_gap: int


@functools.cache
def _file_index(path: str, mtime_ns: int) -> _FileIndex:
    import av

    with av.open(path) as c:
        st = c.streams.video[0]
        keys, first, last, n, dur = [], None, 0, 0, 0
        for pkt in c.demux(st):
            if pkt.size == 0:
                continue
            if pkt.is_keyframe:
                keys.append(n)
            pts = pkt.pts if pkt.pts is not None else pkt.dts or 0
            first = pts if first is None else min(first, pts)
            last, dur = max(last, pts), max(dur, pkt.duration or 0)
            n += 1
    gaps = [b - a for a, b in zip(keys, [*keys[1:], n + (keys[0] if keys else 0)], strict=True)]
    first = first or 0
    return _FileIndex(n, tuple(keys), first, last - first + max(1, dur), max(gaps or [n]))


class PacketSource:
    """A camera's compressed video packets, stamped with wall-clock time, for remuxing.

    :meth:`read` gives ``(time, packet, pts, dts)``: ``pts``/``dts`` in the stream's time base,
    continuous across the loops of a looping file. Files are paced and stamped like
    :class:`Source` (a looping file starts at its first key frame at or after the clock's
    position). :meth:`motion_frame` decodes what motion detection needs: key frames only when
    they come at least every :data:`KEY_ONLY_MAX_GAP_S` seconds (``skip_frame = NONKEY``),
    otherwise every packet (decoding needs the references) converting only the wanted ones.
    Both to a small grey picture (``width_px`` wide): the luma plane, area-resized.

    Raises :class:`Unavailable` like :class:`Source`; ``remuxable`` is False for sources the
    recorder must decode and encode instead (MJPEG, raw video, an AVI with B-frames).
    """

    def __init__(self, url: str, *, clock: float | None = None, width_px: int = 160) -> None:
        import av

        self.spec = parse_stream_url(url)
        if self.spec.is_file and not Path(self.spec.target).is_file():
            raise Unavailable(
                f"video source file not found: {self.spec.target}", field="stream_url"
            )
        opts = {"rtsp_transport": "tcp"} if self.spec.target.startswith("rtsp") else {}
        try:
            self.container: Any = av.open(
                self.spec.target,
                options=opts,
                timeout=(OPEN_TIMEOUT_MS / 1000, READ_TIMEOUT_MS / 1000),
            )
        except Exception as e:
            raise Unavailable(
                f"cannot open video source {_safe(self.spec.url)}: {type(e).__name__}",
                field="stream_url",
            ) from None
        if not self.container.streams.video:
            self.container.close()
            raise Unavailable(f"no video in {_safe(self.spec.url)}", field="stream_url")
        self.stream = st = self.container.streams.video[0]
        cc = st.codec_context
        self.codec = cc.name
        self.width, self.height = int(cc.width or 0), int(cc.height or 0)
        rate = st.average_rate or st.guessed_rate or 10
        self.fps = float(rate) if 0.5 <= float(rate) <= 120 else 10.0
        self.time_base: Fraction = st.time_base or Fraction(1, 90000)
        fmt = self.container.format.name
        self.remuxable = self.codec in ("h264", "hevc") and not ("avi" in fmt and cc.has_b_frames)
        st.thread_type = "NONE"  # many cameras share the cores: no threads inside one decoder
        cc.thread_count = 1
        # pictures only for motion detection: no deblocking (about 8% of a key frame's decoding)
        cc.options = {"skip_loop_filter": "all"}
        self.width_px = min(width_px, self.width or width_px)
        self.small = (
            self.width_px,
            max(2, round(self.height * self.width_px / max(1, self.width))),
        )
        self.key_only = True
        self._since_key: int | None = None
        self._idx: _FileIndex | None = None
        self._t0 = time.time() if clock is None else clock
        self._n = 0  # packets delivered
        self._pos = 0  # position in the file (packets)
        self._cycle = 0
        self._wall0: float | None = None
        self._dts0: int | None = None
        self._packets: Any = None
        if self.spec.is_file and self.remuxable:
            self._start_file()
        if self.remuxable:
            cc.skip_frame = "NONKEY"
            if self._idx is not None and self._idx.max_key_gap > KEY_ONLY_MAX_GAP_S * self.fps:
                self._full_decode()
        self._packets = self.container.demux(st)

    def _start_file(self) -> None:
        path = self.spec.target
        idx = self._idx = _file_index(path, os.stat(path).st_mtime_ns)
        if not idx.keys:
            raise Unavailable(f"no key frame in {path}", field="stream_url")
        if not self.spec.loop:
            return
        tick = int(self._t0 * self.fps)
        self._cycle, pos = divmod(tick, idx.count)
        nxt = next((k for k in idx.keys if k >= pos), None)
        if nxt is None:
            self._cycle, nxt = self._cycle + 1, idx.keys[0]
        self._pos = nxt
        self._t0 = (self._cycle * idx.count + nxt) / self.fps
        if nxt:
            ts = idx.first_pts + round(nxt / self.fps / self.time_base)
            self.container.seek(ts, stream=self.stream, backward=True, any_frame=False)

    def _full_decode(self) -> None:
        self.key_only = False
        self.stream.codec_context.skip_frame = "DEFAULT"

    def _next_packet(self) -> Any:
        for pkt in self._packets:
            if pkt.size:
                return pkt
        if not (self.spec.is_file and self.spec.loop):
            if self.spec.is_file:
                raise EOFError(self.spec.target)
            raise Unavailable(
                f"video source stopped delivering frames: {_safe(self.spec.url)}",
                field="stream_url",
            )
        self.container.seek(0, stream=self.stream, backward=True, any_frame=False)
        self._packets = self.container.demux(self.stream)
        self._cycle, self._pos = self._cycle + 1, 0
        for pkt in self._packets:
            if pkt.size:
                return pkt
        raise Unavailable(f"video source has no frames: {self.spec.target}", field="stream_url")

    def read(self) -> tuple[dt.datetime, Any, int | None, int | None]:
        """The next packet: its wall-clock time, the packet, and its continuous ``pts``/``dts``."""
        try:
            pkt = self._next_packet()
        except (EOFError, Unavailable):
            raise
        except Exception as e:  # av errors: a network source that broke
            raise Unavailable(
                f"video source failed: {_safe(self.spec.url)}: {type(e).__name__}",
                field="stream_url",
            ) from None
        pts, dts = pkt.pts, pkt.dts
        if self._idx is not None and self._cycle:
            off = self._cycle * self._idx.span_pts
            pts = None if pts is None else pts + off
            dts = None if dts is None else dts + off
        if self.spec.is_file:
            due = self._t0 + self._n / self.fps
            if self.spec.pace and (delay := due - time.time()) > 0:
                time.sleep(delay)
            ts = dt.datetime.fromtimestamp(due, dt.UTC)
        else:
            d = dts if dts is not None else pts
            if self._wall0 is None or d is None or self._dts0 is None:
                self._wall0, self._dts0 = time.time(), d
            ts = dt.datetime.fromtimestamp(
                self._wall0 + float(((d or 0) - (self._dts0 or 0)) * self.time_base), dt.UTC
            )
        self._n += 1
        self._pos += 1
        self._watch_keys(pkt.is_keyframe)
        return ts, pkt, pts, dts

    def _watch_keys(self, key: bool) -> None:
        """Network sources: switch to full decoding once key frames come too rarely."""
        if self._since_key is not None:
            self._since_key += 1
        if key:
            if (
                self.key_only
                and self._idx is None
                and self._since_key is not None
                and self._since_key > KEY_ONLY_MAX_GAP_S * self.fps
            ):
                self._full_decode()
            self._since_key = 0

    def motion_frame(self, pkt: Any, *, want: bool = True) -> np.ndarray | None:
        """A small grey picture of ``pkt`` for motion detection, or None (not decoded/wanted).
        Call it before the packet is muxed."""
        if self.key_only and (not pkt.is_keyframe or not want):
            return None  # only key frames are decoded, and only those wanted
        cc = self.stream.codec_context
        out = None
        try:
            for f in cc.decode(pkt):
                if want:
                    out = self._small_grey(f)
        except Exception:  # a broken packet: no motion for it, the recording goes on
            return None
        return out

    def _small_grey(self, f: Any) -> np.ndarray:
        """The luma plane of a decoded YUV frame is its grey picture: no colour conversion, just
        an area resize (PyAV's ``reformat`` builds a new scaler per call: 10x the cost)."""
        if f.format.name in _LUMA_FIRST:
            y = f.planes[0]
            grey = np.frombuffer(y, np.uint8).reshape(y.height, y.line_size)[:, : y.width]
        else:
            grey = f.to_ndarray(format="gray")
        return cv2.resize(grey, self.small, interpolation=cv2.INTER_AREA)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> PacketSource:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _safe(url: str) -> str:
    """``url`` without credentials (``rtsp://user:pw@host`` -> ``rtsp://***@host``)."""
    p = urlsplit(url)
    if p.username or p.password:
        host = (p.hostname or "") + (f":{p.port}" if p.port else "")
        return p._replace(netloc="***@" + host).geturl()
    return url


def open_source(url: str | None) -> Source:
    """Open a camera's ``stream_url`` (see the module doc); :class:`Unavailable` if it fails."""
    if url is None:
        raise Unavailable("camera has no stream_url", field="stream_url")
    return Source(url)


def live_frame(url: str | None) -> tuple[dt.datetime, np.ndarray]:
    """One current frame of a camera (opens, reads, closes); :class:`Unavailable` if it fails."""
    with open_source(url) as src:
        return src.read_now()
