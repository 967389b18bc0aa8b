"""Remuxing stored video: clips and imports that copy a camera's compressed packets.

A remuxed segment (:class:`geo.video.encode.RemuxWriter`, codec ``avc1``/``hvc1``) holds the
camera's own H.264/H.265 packets and starts with a key frame. A clip that needs no pixel changed
(no masks, no face blur) is cut from such segments by copying their packets: from the first key
frame **at or after** the window's start (a frame before the window the access gate allowed never
leaves; the clip may start up to one GOP late) to its end, no decoding, no encoding. A file to
import (an NVR export) that is H.264/H.265 is split into segments at key frames the same way.
:mod:`geo.video.archive` calls these and falls back to decoding and encoding when they say no.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import struct
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from geo.errors import Unavailable
from geo.models.video import VideoSegment
from geo.settings import get_settings
from geo.video.encode import NO_PROBE_DECODE, REMUX_CODECS, SEGMENT_OPEN, RemuxWriter

log = logging.getLogger("goldentime.archive")

#: A recorder's unfinished segment: ``<camera>_<YYYYmmddTHHMMSS_ffffff>Z[_<holder>].partial.mp4``
#: (:meth:`geo.video.recorder.CameraRecorder._open_segment`); ``holder`` is the recorder's
#: :func:`file_tag`.
PARTIAL_RE = re.compile(
    r"^(?P<camera>\d+)_(?P<start>\d{8}T\d{6}_\d{6})Z(?:_(?P<holder>[A-Za-z0-9-]+))?"
    r"\.partial\.mp4$"
)


class CannotRemux(Exception):
    """The window cannot be cut by remuxing (then it is decoded and encoded)."""


class _ClipMuxer:
    """Copies the packets of ``[start, end)`` of consecutive segments into one MP4."""

    def __init__(self, path: Path, start: dt.datetime, end: dt.datetime) -> None:
        self.path, self.start, self.end = path, start, end
        self.writer: RemuxWriter | None = None
        self.first: dt.datetime | None = None
        self.last: dt.datetime | None = None
        self.extradata: bytes | None = None
        self.used: set[int] = set()

    def add(self, seg: VideoSegment) -> None:
        import av

        if not os.path.exists(seg.path):
            raise Unavailable(f"segment file missing: {seg.path}", field="archive")
        with av.open(seg.path, options=SEGMENT_OPEN, stream_options=NO_PROBE_DECODE) as c:
            st = c.streams.video[0]
            w = self.writer
            if w is not None and (
                st.codec_context.extradata != self.extradata
                or (seg.width, seg.height) != (w.width, w.height)
            ):
                raise CannotRemux  # the camera changed its stream parameters in the window
            i, base = 0, None
            for pkt in c.demux(st):
                if not pkt.size:
                    continue
                ts = seg.start_at + dt.timedelta(seconds=i / seg.fps)
                i += 1
                if base is None:
                    base = pkt.dts if pkt.dts is not None else (pkt.pts or 0)
                if ts >= self.end:
                    break
                if ts >= self.start and (self.last is None or ts > self.last):
                    self._write(seg, st, pkt, ts, base)

    def _write(self, seg: VideoSegment, st: Any, pkt: Any, ts: dt.datetime, base: int) -> None:
        if self.writer is None:
            if not pkt.is_keyframe:
                return  # the clip starts on a key frame: it must decode on its own
            self.writer = RemuxWriter(self.path, template=st, fps=seg.fps, faststart=True)
            self.extradata, self.first = st.codec_context.extradata, ts
        assert self.first is not None
        # times continue across segments: offset of this segment from the clip's first frame
        off = round((seg.start_at - self.first).total_seconds() / pkt.time_base)
        pts = None if pkt.pts is None else off + pkt.pts - base
        dts = None if pkt.dts is None else off + pkt.dts - base
        self.writer.write(pkt, pts=pts, dts=dts)
        self.last = ts
        self.used.add(seg.id)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def remux_clip(
    session: Session,
    *,
    camera_id: int,
    start: dt.datetime,
    end: dt.datetime,
    out_dir: Path | None,
) -> Any:
    """``[start, end)`` of the camera's remuxed segments as an :class:`geo.video.archive.Clip`,
    or None when it cannot be remuxed (a segment encoded by us, stream parameters change, no key
    frame in the window)."""
    from geo.video.archive import Clip, segments

    segs = segments(session, camera_id=camera_id, start=start, end=end)
    if not segs or any(sg.codec not in REMUX_CODECS.values() for sg in segs):
        return None
    fd, name = tempfile.mkstemp(prefix=f"clip_{camera_id}_", suffix=".mp4", dir=out_dir)
    os.close(fd)
    m = _ClipMuxer(Path(name), start, end)
    try:
        for seg in segs:
            m.add(seg)
        if m.writer is None:
            raise CannotRemux
        m.close()
    except CannotRemux:
        m.close()
        m.path.unlink(missing_ok=True)
        return None
    except BaseException:
        m.close()
        m.path.unlink(missing_ok=True)
        raise
    assert m.first is not None and m.last is not None and m.writer is not None
    fps = segs[0].fps
    return Clip(
        path=m.path,
        start=m.first,
        end=m.last + dt.timedelta(seconds=1 / fps),
        frames=m.writer.frames,
        fps=fps,
        codec=m.writer.codec,
        segments=len(m.used),
    )


def import_remux(
    session: Session,
    *,
    camera_id: int,
    path: Path,
    start_at: dt.datetime,
    segment_s: float,
    max_frames: int | None,
    video_dir: Path | None,
) -> list[VideoSegment] | None:
    """:func:`geo.video.archive.import_video` by remuxing: segments of about ``segment_s``
    seconds cut at key frames; None when the file is not a stream the recorder remuxes."""
    from geo.video.sources import PacketSource

    try:
        src = PacketSource(f"file://{Path(path).resolve()}?pace=0")
    except Unavailable:
        return None
    with src:
        if not src.remuxable:
            return None
        return _split(session, src, camera_id, start_at, segment_s, max_frames, video_dir)


def _split(
    session: Session,
    src: Any,
    camera_id: int,
    start_at: dt.datetime,
    segment_s: float,
    max_frames: int | None,
    video_dir: Path | None,
) -> list[VideoSegment]:
    from geo.video.archive import add_segment

    root = Path(video_dir or get_settings().video_dir) / str(camera_id)
    per_seg = max(1, round(segment_s * src.fps))
    out: list[VideoSegment] = []
    writer: RemuxWriter | None = None
    seg_start, n = start_at, 0

    def _close(w: RemuxWriter, t0: dt.datetime) -> None:
        w.close()
        end_at = t0 + dt.timedelta(seconds=w.frames / src.fps)
        seg = add_segment(
            session,
            camera_id=camera_id,
            start_at=t0,
            end_at=end_at,
            path=w.path,
            frames=w.frames,
            fps=src.fps,
            width=w.width,
            height=w.height,
            codec=w.codec,
        )
        out.append(seg)

    while max_frames is None or n < max_frames:
        try:
            _, pkt, pts, dts = src.read()
        except EOFError:
            break
        if pkt.is_keyframe and (writer is None or writer.frames >= per_seg):
            if writer is not None:
                _close(writer, seg_start)
            seg_start = start_at + dt.timedelta(seconds=n / src.fps)
            day = root / seg_start.strftime("%Y%m%d")
            day.mkdir(parents=True, exist_ok=True)
            name = day / f"{camera_id}_{seg_start.strftime('%Y%m%dT%H%M%S_%fZ')}.mp4"
            writer = RemuxWriter(name, template=src.stream, fps=src.fps)
        if writer is not None:
            writer.write(pkt, pts=pts, dts=dts)
        n += 1
    if writer is not None and writer.frames:
        _close(writer, seg_start)
    return out


# --- checking and recovering segments ----------------------------------------------------------


def file_tag(holder: str) -> str:
    """``holder`` as it appears in segment file names (anything not alphanumeric becomes ``-``)."""
    return "".join(ch if ch.isalnum() else "-" for ch in holder)


def _decoded_frames(path: str | Path) -> int | None:
    """Frames of the first video stream of ``path`` decoded one by one with FFmpeg's error
    detection set to abort (``err_detect=explode``: a damaged packet is an error, not a silently
    concealed picture); None when the file does not open or a packet does not decode."""
    import av

    n = 0
    try:
        with av.open(str(path), options=SEGMENT_OPEN) as c:
            if not c.streams.video:
                return None
            st = c.streams.video[0]
            st.thread_type = "NONE"
            st.codec_context.options = {"err_detect": "explode"}
            for pkt in c.demux(st):  # the last (empty) packet flushes the decoder
                n += len(st.codec_context.decode(pkt))
    except Exception:  # whatever FFmpeg or PyAV raise: not a segment to index
        return None
    return n


def segment_decodes(path: str | Path, frames: int | None = None) -> bool:
    """Whether every frame of the segment at ``path`` decodes without error (at least one), and
    when ``frames`` is given, exactly that many: what may be indexed, and what the tests and the
    benchmark check of indexed segments."""
    n = _decoded_frames(path)
    return bool(n) and (frames is None or n == frames)


def _whole_prefix(path: Path) -> int:
    """Bytes of ``path`` up to the end of its last whole top-level MP4 box, a ``moof`` counting
    only once its ``mdat`` is whole too: what a recorder killed mid-write left that is complete."""
    size = path.stat().st_size
    end = whole = 0
    with path.open("rb") as f:
        while end + 8 <= size:
            f.seek(end)
            head = f.read(16)
            n, kind = struct.unpack(">I4s", head[:8])
            if n == 1 and len(head) == 16:
                n = struct.unpack(">Q", head[8:16])[0]
            elif n == 0:
                n = size - end  # "to the end of the file": a plain MP4's mdat still open
            if n < 8 or end + n > size:
                break
            end += n
            if kind != b"moof":
                whole = end
    return whole


def recover_partial(session: Session, *, path: Path) -> VideoSegment | None:
    """Finalise a segment a recorder left unfinished (``*.partial.mp4``, it was killed): cut it
    after its last whole fragment, check that every frame decodes, rename it to its final name
    and index it from its start (in the name) to its true end (``start + frames / fps``).
    A file with nothing decodable (a plain MP4 has no index until closed; a fragmented one
    killed in its first fragment) is deleted: returns None. Never indexes a corrupt file."""
    m = PARTIAL_RE.match(path.name)
    if m is None:
        raise ValueError(f"not a partial segment name: {path.name}")
    start_at = dt.datetime.strptime(m["start"], "%Y%m%dT%H%M%S_%f").replace(tzinfo=dt.UTC)
    final = path.with_name(path.name.removesuffix(".partial.mp4") + ".mp4")
    if final.exists():  # its writer closed it after all (it was only stalled): a stale copy
        path.unlink(missing_ok=True)
        return None
    whole = _whole_prefix(path)
    if whole < path.stat().st_size:
        os.truncate(path, whole)  # the torn last fragment never decodes whole: drop it
    frames = _decoded_frames(path) if whole else None
    if not frames:
        path.unlink(missing_ok=True)
        return None
    import av

    with av.open(str(path), options=SEGMENT_OPEN) as c:
        cc = c.streams.video[0].codec_context
        rate = c.streams.video[0].average_rate or c.streams.video[0].guessed_rate
        fps = float(rate) if rate and 0.5 <= float(rate) <= 120 else 10.0
        width, height, codec = int(cc.width), int(cc.height), REMUX_CODECS.get(cc.name, cc.name)
    os.replace(path, final)
    from geo.video.archive import add_segment

    try:
        return add_segment(
            session,
            camera_id=int(m["camera"]),
            start_at=start_at,
            end_at=start_at + dt.timedelta(seconds=frames / fps),
            path=final,
            frames=frames,
            fps=fps,
            width=width,
            height=height,
            codec=codec,
        )
    except BaseException:
        os.replace(final, path)  # not indexed: stays a partial file, for the next attempt
        raise


def sweep_partials(
    session: Session, *, video_dir: Path, now: dt.datetime, idle_s: float, days: int = 2
) -> dict[str, list[str]]:
    """Finalise every ``*.partial.mp4`` in the day folders of the last ``days`` days (and today)
    untouched for ``idle_s`` (:func:`recover_partial`): what a recorder outside the fleet, or a
    fleet nobody restarted, left behind. Run by retention (:func:`geo.video.archive.purge`)."""
    out: dict[str, list[str]] = {"recovered": [], "discarded": []}
    names = {(now - dt.timedelta(days=d)).strftime("%Y%m%d") for d in range(days + 1)}
    root = Path(video_dir)
    if not root.is_dir():
        return out
    for cam in root.iterdir():
        for day in names:
            for p in sorted((cam / day).glob("*.partial.mp4")):
                try:
                    if not PARTIAL_RE.match(p.name) or now.timestamp() - p.stat().st_mtime < idle_s:
                        continue
                    with session.begin_nested():  # one that fails leaves the others alone
                        seg = recover_partial(session, path=p)
                except FileNotFoundError:
                    continue
                except Exception as e:  # e.g. its camera was deleted meanwhile
                    log.error("cannot finalise %s: %s", p, e)
                    continue
                out["recovered" if seg is not None else "discarded"].append(p.name)
    return out
