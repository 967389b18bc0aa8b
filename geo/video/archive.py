"""The recording archive: segment index, frames at a time, clips cut across segments, retention.

Segments are MP4 files under ``settings.video_dir/<camera_id>/<YYYYMMDD>/`` indexed in
``video_segments`` (camera, ``[start_at, end_at)``, path, frames, bytes, fps, size). A frame's time
is ``start_at + index / fps``. Segments of compressed cameras hold the camera's own H.264/H.265
packets (remuxed, each starting with a key frame); clips of them that need no pixel change are
cut by remuxing too (:func:`cut_clip`), others are decoded and encoded once. Retention: a segment whose end is older than the camera's
``retention_days`` (default ``settings.video_retention_days``, 30 days as in Korean practice) is
deleted by :func:`purge`, unless an active share still covers it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import queue
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, NotFound, Unavailable
from geo.models.video import VideoSegment
from geo.settings import get_settings
from geo.times import aware
from geo.video.encode import (
    NO_PROBE_DECODE,
    REMUX_CODECS,
    SEGMENT_OPEN,
    BackgroundWriter,
    VideoFileWriter,
    clip_backend,
)

FrameFn = Callable[[np.ndarray], np.ndarray]
T = TypeVar("T")

#: Frames the decoding thread of a clip may run ahead of the filter (about 8 MB at 480x360).
CLIP_DECODE_AHEAD = 16


def _utc(t: dt.datetime, field: str) -> dt.datetime:
    """``t`` in UTC; a time without offset is KST, as everywhere (:func:`geo.times.aware`)."""
    out = aware(t, field=field)
    assert out is not None
    return out.astimezone(dt.UTC)


def add_segment(
    session: Session,
    *,
    camera_id: int,
    start_at: dt.datetime,
    end_at: dt.datetime,
    path: Path,
    frames: int,
    fps: float,
    width: int,
    height: int,
    codec: str,
) -> VideoSegment:
    """Index one finished segment file."""
    seg = VideoSegment(
        camera_id=camera_id,
        start_at=start_at,
        end_at=end_at,
        path=str(path),
        frames=frames,
        bytes=Path(path).stat().st_size,
        fps=fps,
        width=width,
        height=height,
        codec=codec,
    )
    session.add(seg)
    session.flush()
    return seg


def segments(
    session: Session, *, camera_id: int, start: dt.datetime, end: dt.datetime
) -> list[VideoSegment]:
    """Segments of ``camera_id`` overlapping ``[start, end)``, in time order."""
    q = (
        select(VideoSegment)
        .where(
            VideoSegment.camera_id == camera_id,
            VideoSegment.start_at < end,
            VideoSegment.end_at > start,
        )
        .order_by(VideoSegment.start_at)
    )
    return list(session.execute(q).scalars())


def archive_extent(session: Session, *, camera_id: int) -> tuple[dt.datetime, dt.datetime] | None:
    """First start and last end of the camera's archive, or ``None`` when it has none."""
    row = session.execute(
        text("select min(start_at), max(end_at) from video_segments where camera_id = :c"),
        {"c": camera_id},
    ).one()
    return (row[0], row[1]) if row[0] is not None else None


def _outside(session: Session, camera_id: int, what: str, field: str) -> NotFound:
    ext = archive_extent(session, camera_id=camera_id)
    span = (
        f"archive covers {ext[0].isoformat()} to {ext[1].isoformat()}"
        if ext
        else "camera has no recordings"
    )
    return NotFound(f"{what} is outside the archive of camera {camera_id} ({span})", field=field)


def _open(seg: VideoSegment) -> cv2.VideoCapture:
    if not os.path.exists(seg.path):
        raise Unavailable(f"segment file missing: {seg.path}", field="archive")
    cap = cv2.VideoCapture(seg.path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise Unavailable(f"segment file unreadable: {seg.path}", field="archive")
    return cap


def frame_at(
    session: Session, *, camera_id: int, at: dt.datetime
) -> tuple[dt.datetime, np.ndarray]:
    """The recorded frame showing time ``at``; :class:`NotFound` (field ``at``) outside the archive."""
    at = _utc(at, "at")
    seg = session.execute(
        select(VideoSegment)
        .where(
            VideoSegment.camera_id == camera_id,
            VideoSegment.start_at <= at,
            VideoSegment.end_at > at,
        )
        .order_by(VideoSegment.start_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if seg is None:
        raise _outside(session, camera_id, f"at={at.isoformat()}", "at")
    idx = min(seg.frames - 1, int((at - seg.start_at).total_seconds() * seg.fps))
    gen = _segment_frames(seg, idx, threads=False)
    try:
        frame = next(gen, None)
    finally:
        gen.close()
    if frame is None:
        raise Unavailable(f"cannot decode frame {idx} of {seg.path}", field="archive")
    return seg.start_at + dt.timedelta(seconds=idx / seg.fps), frame


def _segment_frames(
    seg: VideoSegment, first: int, *, threads: bool
) -> Generator[np.ndarray, None, None]:
    """BGR frames ``first, first + 1, ...`` of one segment. The camera's own H.264/H.265
    (remuxed) through PyAV: seek to the key frame before ``first`` and decode from there (about
    2x faster than OpenCV's frame seek); ``mp4v`` segments through OpenCV. ``threads``: let the
    decoder use threads (clips), or not (a snapshot: one key frame and a few more)."""
    if seg.codec not in REMUX_CODECS.values():
        cap = _open(seg)
        try:
            if first:
                cap.set(cv2.CAP_PROP_POS_FRAMES, first)
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield frame
        finally:
            cap.release()
    import av

    if not os.path.exists(seg.path):
        raise Unavailable(f"segment file missing: {seg.path}", field="archive")
    try:
        c = av.open(seg.path, options=SEGMENT_OPEN, stream_options=NO_PROBE_DECODE)
    except Exception:
        raise Unavailable(f"segment file unreadable: {seg.path}", field="archive") from None
    with c:
        st = c.streams.video[0]
        st.thread_type = "AUTO" if threads else "NONE"
        tb, t0 = st.time_base or Fraction(1, 90000), st.start_time or 0
        if first:
            c.seek(t0 + round(first / seg.fps / tb), stream=st, backward=True, any_frame=False)
        for f in c.decode(st):
            i = round(float((f.pts - t0) * tb) * seg.fps) if f.pts is not None else first
            if i >= first:
                yield _bgr(f)


def _bgr(f: Any) -> np.ndarray:
    """A decoded PyAV frame as BGR. 4:2:0 through OpenCV (about 0.3 ms at 480x360); PyAV's own
    conversion builds a new swscale context per frame (several ms each)."""
    if f.format.name in ("yuv420p", "yuvj420p"):
        return cv2.cvtColor(f.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
    return f.to_ndarray(format="bgr24")


def iter_frames(
    session: Session, *, camera_id: int, start: dt.datetime, end: dt.datetime
) -> Iterator[tuple[dt.datetime, np.ndarray, VideoSegment]]:
    """Recorded frames with ``start <= t < end`` across segment boundaries, in time order (the
    segments are looked up now, the frames decoded as they are taken)."""
    return _frames_in(segments(session, camera_id=camera_id, start=start, end=end), start, end)


def _frames_in(
    segs: list[VideoSegment], start: dt.datetime, end: dt.datetime
) -> Generator[tuple[dt.datetime, np.ndarray, VideoSegment], None, None]:
    """:func:`iter_frames` over segments already looked up (no session: runs in any thread)."""
    last: dt.datetime | None = None
    for seg in segs:
        first = max(0, int(np.ceil((start - seg.start_at).total_seconds() * seg.fps - 1e-6)))
        frames = _segment_frames(seg, first, threads=True)
        try:
            i = first
            for frame in frames:
                ts = seg.start_at + dt.timedelta(seconds=i / seg.fps)
                if i >= seg.frames or ts >= end:
                    break
                i += 1
                if last is not None and ts <= last:  # overlapping segments: keep time monotonic
                    continue
                last = ts
                yield ts, frame, seg
        finally:
            frames.close()


def _prefetch(items: Iterator[T], depth: int) -> Generator[T, None, None]:
    """``items`` taken by a thread of its own, up to ``depth`` ahead of the caller (decoding
    overlaps filtering and encoding: PyAV and OpenCV release the GIL). Errors come out where the
    item would have; closing this generator stops the thread and closes ``items``."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(msg: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(msg, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for x in items:
                if not put(("item", x)):
                    return
            put(("end", None))
        except BaseException as e:
            put(("error", e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    th = threading.Thread(target=run, name="clip-decode", daemon=True)
    th.start()
    try:
        while True:
            kind, x = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise x
            yield x
    finally:
        stop.set()
        th.join()


@dataclass
class Clip:
    """A clip file cut from the archive (delete ``path`` when sent)."""

    path: Path
    start: dt.datetime
    end: dt.datetime
    frames: int
    fps: float
    codec: str
    segments: int


def check_clip_window(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Validate a clip request: tz-aware, ``start < end``, no longer than ``settings.max_clip_s``."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        raise InvalidInput("end must be after start", field="end")
    max_s = get_settings().max_clip_s
    if (end - start).total_seconds() > max_s:
        raise InvalidInput(
            f"clip of {(end - start).total_seconds():.0f} s is longer than the maximum {max_s} s",
            field="end",
        )
    return start, end


def cut_clip(
    session: Session,
    *,
    camera_id: int,
    start: dt.datetime,
    end: dt.datetime,
    transform: FrameFn | None = None,
    out_dir: Path | None = None,
    backend: str | None = None,
) -> Clip:
    """Cut ``[start, end)`` of the camera's archive into one MP4, passing every frame through
    ``transform`` (masks, face blur); :class:`NotFound` (field ``start``) if no frame is recorded
    in the window, :class:`InvalidInput` (field ``end``) if it is too long.

    Without a transform that changes pixels (none, or a filter without masks and face blur) and
    with ``backend`` unset, a window of remuxed (H.264/H.265) segments is cut by remuxing: the
    camera's packets from the first key frame at or after ``start`` (never a frame before the
    window asked for), no decoding, no re-encoding. Otherwise the frames are decoded and encoded
    once (H.264 through PyAV when available), decoding, filtering and encoding overlapping in
    threads (:func:`_prefetch`, :func:`_encode_clip`): a blurred 20 s clip is about the cost of
    its face detection spread over the cores (docs/benchmarks.md)."""
    start, end = check_clip_window(start, end)
    if backend is None and _no_pixel_change(transform):
        from geo.video.remux import remux_clip

        clip = remux_clip(session, camera_id=camera_id, start=start, end=end, out_dir=out_dir)
        if clip is not None:
            return clip
    backend = backend or clip_backend()
    fd, name = tempfile.mkstemp(prefix=f"clip_{camera_id}_", suffix=".mp4", dir=out_dir)
    os.close(fd)
    path = Path(name)
    segs = segments(session, camera_id=camera_id, start=start, end=end)
    items = _prefetch(_frames_in(segs, start, end), CLIP_DECODE_AHEAD)
    try:
        clip = _encode_clip(items, transform, path, backend)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        items.close()
    if clip is None:
        path.unlink(missing_ok=True)
        raise _outside(
            session, camera_id, f"window {start.isoformat()}..{end.isoformat()}", "start"
        )
    return clip


def _encode_clip(
    items: Iterator[tuple[dt.datetime, np.ndarray, VideoSegment]],
    transform: FrameFn | None,
    path: Path,
    backend: str,
) -> Clip | None:
    """Filter decoded frames and encode them into ``path``; ``None`` if there was no frame.

    A filter that can look ahead (``stream``, as :meth:`geo.video.privacy.FrameFilter.stream`:
    face detection on some frames, in pool threads) gets the frames as an iterator; any other
    callable gets one frame at a time. The encoder runs in a thread of its own
    (:class:`~geo.video.encode.BackgroundWriter`)."""
    meta: deque[tuple[dt.datetime, VideoSegment]] = deque()

    def frames() -> Iterator[np.ndarray]:
        for ts, frame, seg in items:
            meta.append((ts, seg))
            yield frame

    stream = getattr(transform, "stream", None)
    out: Iterator[np.ndarray] = (
        stream(frames())
        if stream is not None
        else (map(transform, frames()) if transform is not None else frames())
    )
    writer: BackgroundWriter | None = None
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    fps = 10.0
    seg_ids: set[int] = set()
    try:
        for frame in out:
            ts, seg = meta.popleft()  # the filter yields every frame, in order
            if writer is None:
                fps = seg.fps
                h, w = frame.shape[:2]
                writer = BackgroundWriter(
                    VideoFileWriter(path, fps=fps, width=w, height=h, backend=backend)
                )
            writer.write(frame)
            seg_ids.add(seg.id)
            first = first or ts
            last = ts
    except BaseException:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        raise
    if writer is None or first is None or last is None:
        return None
    writer.close()
    return Clip(
        path=path,
        start=first,
        end=last + dt.timedelta(seconds=1 / fps),
        frames=writer.frames,
        fps=fps,
        codec=writer.codec,
        segments=len(seg_ids),
    )


def _no_pixel_change(transform: FrameFn | None) -> bool:
    """Whether ``transform`` leaves every pixel as it is (none, or no masks and no face blur)."""
    if transform is None:
        return True
    return getattr(transform, "face_blur", True) is False and not getattr(
        transform, "polygons", [None]
    )


# --- retention ---------------------------------------------------------------------------------


def _shares_sql(session: Session) -> str | None:
    """SQL giving ``(camera_id, past_start, past_end)`` of active shares, from the auth schema.

    The shares tables belong to the access module (another migration branch); this reads them by
    their column names and returns ``None`` when they do not exist yet (then no share can exist).
    """
    cols = {
        (r[0], r[1])
        for r in session.execute(
            text(
                "select table_name, column_name from information_schema.columns "
                "where table_schema = current_schema() and table_name in ('shares', 'share_cameras')"
            )
        )
    }
    if not cols:
        return None
    have = {c for _, c in cols}
    start = next(
        (c for c in ("past_start", "window_start", "start_at", "starts_at") if c in have), None
    )
    end = next((c for c in ("past_end", "window_end", "end_at", "ends_at") if c in have), None)
    if start is None or end is None:
        return None
    revoked = (
        "s.revoked_at is null"
        if "revoked_at" in have
        else ("not coalesce(s.revoked, false)" if "revoked" in have else "true")
    )
    active = f"s.expires_at > now() and {revoked}"
    if ("share_cameras", "camera_id") in cols:
        return (
            f"select sc.camera_id, s.{start} as past_start, s.{end} as past_end from shares s "
            f"join share_cameras sc on sc.share_id = s.id where {active}"
        )
    if ("shares", "camera_ids") in cols:
        return (
            f"select unnest(s.camera_ids) as camera_id, s.{start} as past_start, "
            f"s.{end} as past_end from shares s where {active}"
        )
    if ("shares", "camera_id") in cols:
        return (
            f"select s.camera_id, s.{start} as past_start, s.{end} as past_end from shares s "
            f"where {active}"
        )
    return None


def purge(
    session: Session, *, now: dt.datetime | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Delete segments past their camera's retention (files and rows), keeping every segment an
    active share (not expired, not revoked) still covers, whichever recorder wrote it; first
    finalises the unfinished segments killed recorders left (``partials_recovered``: indexed,
    ``partials_discarded``: nothing decodable, deleted). Returns counts and bytes."""
    from geo.video.remux import sweep_partials

    now = now or dt.datetime.now(dt.UTC)
    st = get_settings()
    default_days = st.video_retention_days
    partials: dict[str, list[str]] = {"recovered": [], "discarded": []}
    if not dry_run:
        idle_s = max(3600.0, 3 * st.video_segment_s)
        partials = sweep_partials(session, video_dir=Path(st.video_dir), now=now, idle_s=idle_s)
    shares_sql = _shares_sql(session)
    protected = (
        f"exists (select 1 from ({shares_sql}) a where a.camera_id = v.camera_id "
        f"and a.past_start < v.end_at and a.past_end > v.start_at)"
        if shares_sql
        else "false"
    )
    rows = session.execute(
        text(
            f"""
            select v.id, v.path, v.bytes, {protected} as protected
            from video_segments v join cameras c on c.id = v.camera_id
            where v.end_at < cast(:now as timestamptz)
                  - make_interval(days => coalesce(c.retention_days, :days))
            """
        ),
        {"now": now, "days": default_days},
    ).all()
    expired = [r for r in rows if not r.protected]
    kept = [r for r in rows if r.protected]
    freed = 0
    if not dry_run and expired:
        session.execute(delete(VideoSegment).where(VideoSegment.id.in_([r.id for r in expired])))
        session.flush()
        for r in expired:
            try:
                freed += os.path.getsize(r.path)
                os.unlink(r.path)
            except FileNotFoundError:
                pass
    return {
        "expired": len(rows),
        "deleted": 0 if dry_run else len(expired),
        "kept_for_shares": len(kept),
        "kept_ids": [r.id for r in kept],
        "bytes_freed": freed,
        "dry_run": dry_run,
        "partials_recovered": partials["recovered"],
        "partials_discarded": partials["discarded"],
    }


def import_video(
    session: Session,
    *,
    camera_id: int,
    path: Path,
    start_at: dt.datetime,
    segment_s: float = 60.0,
    max_frames: int | None = None,
    video_dir: Path | None = None,
) -> list[VideoSegment]:
    """Import a video file (e.g. footage exported from an NVR) into the archive as segments of
    ``segment_s`` seconds, its first frame at ``start_at``; returns the indexed segments. An
    H.264/H.265 file the remux recorder can store is remuxed (segments cut at key frames),
    anything else decoded and encoded once."""
    from geo.video.recorder import SEGMENT_BACKEND

    start_at = _utc(start_at, "start_at")
    from geo.video.remux import import_remux

    remuxed = import_remux(
        session,
        camera_id=camera_id,
        path=path,
        start_at=start_at,
        segment_s=segment_s,
        max_frames=max_frames,
        video_dir=video_dir,
    )
    if remuxed is not None:
        return remuxed
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise InvalidInput(f"cannot read video file {path}", field="path")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) or 10.0
    per_seg = max(1, round(segment_s * fps))
    root = Path(video_dir or get_settings().video_dir) / str(camera_id)
    out: list[VideoSegment] = []
    writer: VideoFileWriter | None = None
    seg_start = start_at
    n = 0

    def _close() -> None:
        assert writer is not None
        writer.close()
        out.append(
            add_segment(
                session,
                camera_id=camera_id,
                start_at=seg_start,
                end_at=seg_start + dt.timedelta(seconds=writer.frames / fps),
                path=writer.path,
                frames=writer.frames,
                fps=fps,
                width=writer.width,
                height=writer.height,
                codec=writer.codec,
            )
        )

    try:
        while max_frames is None or n < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            if writer is not None and writer.frames >= per_seg:
                _close()
                writer = None
            if writer is None:
                seg_start = start_at + dt.timedelta(seconds=n / fps)
                day = root / seg_start.strftime("%Y%m%d")
                day.mkdir(parents=True, exist_ok=True)
                name = day / f"{camera_id}_{seg_start.strftime('%Y%m%dT%H%M%S_%fZ')}.mp4"
                writer = VideoFileWriter(
                    name,
                    fps=fps,
                    width=frame.shape[1],
                    height=frame.shape[0],
                    backend=SEGMENT_BACKEND,
                )
            writer.write(frame)
            n += 1
        if writer is not None and writer.frames:
            _close()
    finally:
        cap.release()
    return out
