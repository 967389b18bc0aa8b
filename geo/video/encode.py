"""Writing MP4 files: archive segments and clips that browsers can play.

Checked on this machine (opencv-python-headless 4.14 and 5.0, their bundled FFmpeg): ``cv2.VideoWriter``
with fourcc ``avc1``/``H264`` fails (the wheel's FFmpeg has no software H.264 encoder, only
``h264_v4l2m2m`` which needs a device), ``mp4v`` (MPEG-4 Part 2) works but Chromium does not
play it. PyAV's wheel bundles libx264, so clips that leave the system are written as H.264
(``avc1``, ``yuv420p``, ``+faststart``) with PyAV; frames still come from and go through OpenCV.
The order of preference is :data:`CLIP_BACKENDS`; :func:`clip_backend` picks the first that works.
Archive segments of compressed cameras (H.264/H.265) are the camera's own packets remuxed into
MP4 by :class:`RemuxWriter` (no decoding, no encoding); sources that give raw frames are encoded
once, ``mp4v`` through OpenCV (cheapest to write, read back by OpenCV only).
"""

from __future__ import annotations

import functools
import os
import queue
import tempfile
import threading
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

CLIP_BACKENDS = ("av-h264", "cv2-avc1", "cv2-mp4v")
#: libx264 options of clips that are re-encoded (masks, face blur, raw sources). ``ultrafast``
#: at CRF 28 against the earlier ``veryfast`` at 26, on 200 frames of the camera clip
#: (2026-12-01): 0.49x the encoding CPU (200 vs 409 ms), PSNR 37.1 vs 36.1 dB, 2.3x the bytes
#: (544 vs 235 kB for 20 s at 480x360). Chromium plays it (tests/test_video_browser.py).
CLIP_X264_OPTIONS = {"preset": "ultrafast", "crf": "28"}

#: MP4 sample-entry codes of the codecs a camera's stream is stored in without re-encoding.
REMUX_CODECS = {"h264": "avc1", "hevc": "hvc1"}
#: ``av.open(..., stream_options=NO_PROBE_DECODE)`` for our own segments: FFmpeg's stream probe
#: would decode several H.264 frames to learn what the MP4 header already says (3.6 -> 0.9 ms of
#: CPU per open; the stream's own decoder is separate and unaffected).
NO_PROBE_DECODE: Any = [{"skip_frame": "all"}]  # (PyAV's stub says list[str])
#: Muxer options of a recorder's segment: a fragment per key frame (``moof`` + ``mdat``), each
#: written out when the next key frame comes. A recorder killed mid-segment leaves a file that
#: decodes up to its last whole fragment (a plain MP4 has no index until it is closed: nothing
#: decodes). About 0.3% more bytes and no measurable CPU (docs/benchmarks.md, 2026-12-01).
FRAGMENTED_MP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
#: ``av.open(..., options=SEGMENT_OPEN)`` for our segments: take a fragmented file's fragment
#: times from its ``mfra`` index (written on close) instead of reading every ``moof`` at open
#: (60 fragments: 2.5 -> 0.5 ms per open); no effect on a plain MP4.
SEGMENT_OPEN = {"use_mfra_for": "pts"}


class VideoFileWriter:
    """Write BGR frames of one size to an MP4 file with one of :data:`CLIP_BACKENDS`."""

    def __init__(self, path: Path, *, fps: float, width: int, height: int, backend: str) -> None:
        self.path = Path(path)
        self.backend = backend
        self.fps = fps
        self.width, self.height = width, height
        self.frames = 0
        self._cv: cv2.VideoWriter | None = None
        self._av: Any = None
        self._stream: Any = None
        if backend == "av-h264":
            import av

            rate = Fraction(fps).limit_denominator(1000)
            self._av = av.open(str(self.path), mode="w", options={"movflags": "+faststart"})
            st = self._av.add_stream("libx264", rate=rate)
            st.width, st.height = width - width % 2, height - height % 2
            st.pix_fmt = "yuv420p"
            st.options = dict(CLIP_X264_OPTIONS)
            self._stream = st
            self._time_base = Fraction(1) / rate
        elif backend in ("cv2-avc1", "cv2-mp4v"):
            fourcc = cv2.VideoWriter_fourcc(*backend.split("-")[1])  # type: ignore[attr-defined]
            self._cv = cv2.VideoWriter(str(self.path), fourcc, fps, (width, height))
            if not self._cv.isOpened():
                raise RuntimeError(f"OpenCV cannot write {backend} here")
        else:
            raise ValueError(f"unknown video backend {backend!r}")

    @property
    def codec(self) -> str:
        """The fourcc of what is written: ``avc1`` (H.264) or ``mp4v``."""
        return "mp4v" if self.backend == "cv2-mp4v" else "avc1"

    def write(self, frame: np.ndarray) -> None:
        if frame.shape[1] != self.width or frame.shape[0] != self.height:
            frame = cv2.resize(frame, (self.width, self.height))
        if self._cv is not None:
            self._cv.write(frame)
        else:
            import av

            st = self._stream
            # BGR -> I420 through OpenCV (BT.601, limited range, as swscale's default and as
            # archive._bgr decodes): about half the CPU of PyAV's reformat at 480x360
            yuv: Any = cv2.cvtColor(frame[: st.height, : st.width], cv2.COLOR_BGR2YUV_I420)
            vf = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            vf.pts = self.frames
            vf.time_base = self._time_base
            for pkt in st.encode(vf):
                self._av.mux(pkt)
        self.frames += 1

    def close(self) -> None:
        if self._cv is not None:
            self._cv.release()
            self._cv = None
        if self._av is not None:
            for pkt in self._stream.encode(None):
                self._av.mux(pkt)
            self._av.close()
            self._av = None

    def __enter__(self) -> VideoFileWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class BackgroundWriter:
    """A :class:`VideoFileWriter` fed through a bounded queue by a thread of its own, so that
    encoding (libx264 and OpenCV release the GIL) overlaps decoding and filtering (clips).

    :meth:`write` hands the frame over (the caller must not change it afterwards); :meth:`close`
    waits for every frame to be written and raises what the encoder raised, if anything. After
    an encoder error the thread keeps draining the queue, so a writer never blocks for ever.
    """

    def __init__(self, writer: VideoFileWriter, *, depth: int = 16) -> None:
        self.writer = writer
        self._q: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="clip-encode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (frame := self._q.get()) is not None:
            if self._error is None:
                try:
                    self.writer.write(frame)
                except BaseException as e:  # raised in the caller's thread by write/close
                    self._error = e
        try:
            self.writer.close()
        except BaseException as e:
            self._error = self._error or e

    @property
    def frames(self) -> int:
        return self.writer.frames

    @property
    def codec(self) -> str:
        return self.writer.codec

    def write(self, frame: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._q.put(frame)

    def close(self) -> None:
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class RemuxWriter:
    """Write a camera's compressed packets (H.264/H.265) unchanged into an MP4 file.

    ``template`` is the input stream (PyAV); the first packet written must be a key frame. Packet
    times are taken relative to the first packet's ``dts``, so every file starts at 0.
    ``faststart`` moves the index to the front (clips that browsers stream); segments skip it
    (it rewrites the whole file once more on close). ``fragmented`` (the recorder's segments,
    :data:`FRAGMENTED_MP4`): what is on disk decodes even if the process dies before closing.
    """

    def __init__(
        self,
        path: Path,
        *,
        template: Any,
        fps: float,
        faststart: bool = False,
        fragmented: bool = False,
    ) -> None:
        import av

        self.path = Path(path)
        self.fps = fps
        cc = template.codec_context
        self.width, self.height = int(cc.width), int(cc.height)
        self.codec = REMUX_CODECS.get(cc.name, cc.name)
        opts = dict(FRAGMENTED_MP4) if fragmented else {}
        if faststart:
            opts["movflags"] = "+faststart"
        self._out: Any = av.open(str(self.path), mode="w", format="mp4", options=opts)
        self._stream = self._out.add_stream_from_template(template)
        if self.codec == "hvc1":
            self._stream.codec_tag = "hvc1"  # what browsers and Apple players expect
        self._base: int | None = None
        self.frames = 0

    def write(self, packet: Any, *, pts: int | None, dts: int | None) -> None:
        """Mux one packet; ``pts``/``dts`` in the packet's time base (continuous over loops)."""
        if dts is None:
            dts = pts
        if self._base is None:
            self._base = dts if dts is not None else 0
        packet.stream = self._stream
        packet.pts = None if pts is None else pts - self._base
        packet.dts = None if dts is None else dts - self._base
        self._out.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def __enter__(self) -> RemuxWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@functools.cache
def backend_works(backend: str) -> bool:
    """Whether ``backend`` can write a tiny file on this machine (checked once per process)."""
    fd, name = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        with VideoFileWriter(Path(name), fps=10, width=64, height=48, backend=backend) as w:
            for _ in range(3):
                w.write(np.zeros((48, 64, 3), np.uint8))
        return os.path.getsize(name) > 0
    except Exception:
        return False
    finally:
        os.unlink(name)


def clip_backend() -> str:
    """The best clip backend here: H.264 (PyAV, then OpenCV ``avc1``), else ``mp4v``."""
    for b in CLIP_BACKENDS:
        if backend_works(b):
            return b
    raise RuntimeError("no MP4 writer works on this machine")  # pragma: no cover
