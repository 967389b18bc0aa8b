"""The recorder: one thread per camera writes time segments to the archive and finds motion.

Each camera's thread opens its ``stream_url`` (see :mod:`geo.video.sources`). A compressed
camera (H.264/H.265 from RTSP, HTTP or a file) is **remuxed**: its own packets go unchanged into
MP4 segments (:class:`~geo.video.encode.RemuxWriter`), cut at the first key frame at or after each
wall-clock multiple of ``segment_s``, and only key frames are decoded, straight to a small grey
picture, for the :class:`~geo.video.motion.MotionDetector`. A source that gives raw frames
(MJPEG, an AVI with B-frames) is decoded and encoded once (``mp4v`` through OpenCV), with segment
boundaries exactly on the multiples. Each finished segment is indexed in ``video_segments`` and
motion events go to ``motion_events``. A source that
cannot be opened or stops delivering is retried with exponential backoff (1 s doubling to 30 s);
one camera's failure never stops the others (every error is caught inside its own thread). The
state of each camera (``connecting``, ``recording``, ``retrying``, ``stopped``) and its last error
are kept in ``recorder_status`` and logged.

A segment is written as ``*.partial.mp4`` and renamed when closed, so a reader never opens a file
without its index (MP4 needs its trailer). Remuxed segments are fragmented MP4 (a fragment per key
frame, flushed as it is written): what a recorder killed mid-segment leaves decodes up to its last
whole fragment, and the recorder that takes the camera over finalises and indexes it
(:func:`geo.video.remux.recover_partial`). Under a lease (:mod:`geo.video.leases`) the file name
carries the holder, so two recorders never write one file, even while a lease changes hands.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo.db import session_scope
from geo.errors import GoldentimeError, NotFound
from geo.models import Camera
from geo.settings import get_settings
from geo.video import archive
from geo.video.encode import RemuxWriter, VideoFileWriter
from geo.video.motion import Motion, MotionDetector, store_events
from geo.video.remux import file_tag
from geo.video.sources import PacketSource, open_source

log = logging.getLogger("goldentime.recorder")

SEGMENT_BACKEND = "cv2-mp4v"


class _Indexer:
    """One thread per process writes finished segments and status rows to the database, in
    batches (one transaction for whatever is waiting), in the order they came. Recording threads
    only queue: a slow or busy database (hundreds of cameras closing segments at the same
    boundary) never holds up recording. A failed batch is retried job by job (3 attempts)."""

    def __init__(self) -> None:
        self._q: queue.Queue[tuple[Callable[[Session], None], Callable[[str], None] | None]]
        self._q = queue.Queue()
        self._cv = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None

    def submit(
        self, job: Callable[[Session], None], on_error: Callable[[str], None] | None = None
    ) -> None:
        with self._cv:
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="indexer", daemon=True)
                self._thread.start()
        self._q.put((job, on_error))

    def flush(self, timeout_s: float = 60.0) -> bool:
        """Wait until everything queued is written (or failed); False on timeout."""
        with self._cv:
            return self._cv.wait_for(lambda: self._pending == 0, timeout=timeout_s)

    def _run(self) -> None:
        while True:
            batch = [self._q.get()]
            while len(batch) < 500:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            try:
                with session_scope() as s:
                    for job, _ in batch:
                        job(s)
            except Exception:
                for job, on_error in batch:
                    self._one(job, on_error)
            with self._cv:
                self._pending -= len(batch)
                self._cv.notify_all()

    @staticmethod
    def _one(job: Callable[[Session], None], on_error: Callable[[str], None] | None) -> None:
        for attempt in range(3):
            try:
                with session_scope() as s:
                    job(s)
                return
            except Exception as e:
                if attempt == 2:
                    log.error("cannot write to the archive index: %s", e)
                    if on_error is not None:
                        on_error(str(e))
                else:
                    time.sleep(0.5 * 2**attempt)


INDEXER = _Indexer()


def write_status(
    session: Session, camera_id: int, state: str, *, holder: str | None = None, **fields: Any
) -> None:
    """Upsert the camera's row in ``recorder_status`` in ``session``. With a ``holder``, a
    recorder that lost the camera's lease to another one leaves the row alone."""
    values = {
        "camera_id": camera_id,
        "state": state,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "attempts": fields.get("attempts", 0),
        "last_frame_at": fields.get("last_frame_at"),
        "last_error": fields.get("last_error"),
        "segments": fields.get("segments", 0),
        "holder": holder,
    }
    guard = (
        "where not exists (select 1 from recorder_leases l where l.camera_id = :camera_id "
        "and l.holder is distinct from :holder and l.expires_at > now())"
        if holder
        else ""
    )
    session.execute(
        text(
            """
            insert into recorder_status (camera_id, state, host, pid, attempts,
                last_frame_at, last_error, segments, updated_at)
            values (:camera_id, :state, :host, :pid, :attempts, :last_frame_at,
                :last_error, :segments, now())
            on conflict (camera_id) do update set state = excluded.state,
                host = excluded.host, pid = excluded.pid, attempts = excluded.attempts,
                last_frame_at = coalesce(excluded.last_frame_at, recorder_status.last_frame_at),
                last_error = excluded.last_error, segments = excluded.segments,
                updated_at = now()
            """
            + guard
        ),
        values,
    )


def set_status(camera_id: int, state: str, *, holder: str | None = None, **fields: Any) -> None:
    """Queue the camera's ``recorder_status`` row (:func:`write_status`) for the process's
    indexer thread: best effort, never raises, written in order after the segments before it."""
    INDEXER.submit(lambda s: write_status(s, camera_id, state, holder=holder, **fields))


def recorder_status(session: Session | None = None) -> list[dict[str, Any]]:
    """Every camera's recorder state and, under the fleet, its lease (``holder``,
    ``lease_since``, ``lease_age_s``, ``lease_live``), for the API's ``/api/video/status``."""
    if session is not None:
        rows = session.execute(
            text(
                """
                select s.*, l.holder, l.since as lease_since,
                    cast(extract(epoch from now() - l.renewed_at) as float) as lease_age_s,
                    coalesce(l.holder is not null and l.expires_at > now(), false) as lease_live
                from recorder_status s left join recorder_leases l using (camera_id)
                order by s.camera_id
                """
            )
        )
        return [dict(r) for r in rows.mappings()]
    with session_scope() as s:
        return recorder_status(s)


@dataclass
class _Segment:
    writer: VideoFileWriter | RemuxWriter
    tmp: Path
    final: Path
    start_at: dt.datetime
    boundary: dt.datetime
    last_at: dt.datetime
    fps: float


@dataclass
class CameraRecorder:
    """Records one camera until ``stop`` is set or ``deadline`` (``time.monotonic``) passes."""

    camera_id: int
    url: str | None
    segment_s: float
    video_dir: Path
    stop: threading.Event
    deadline: float | None = None
    motion: bool = True
    #: Key frames decoded for motion at most this often (s): 1 = every key frame of a 1 s GOP.
    motion_interval_s: float = 1.0
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    remux: bool = True
    holder: str | None = None
    on_segment: Callable[[Session, int, dt.datetime], None] | None = None
    segments: int = 0
    frames: int = 0
    events: int = 0
    mode: str = ""
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None
    stopped_at: float | None = None
    errors: list[str] = field(default_factory=list)
    _seg: _Segment | None = None
    _detector: MotionDetector | None = None

    def _status(self, state: str, **fields: Any) -> None:
        set_status(self.camera_id, state, holder=self.holder, **fields)

    def _done(self) -> bool:
        return self.stop.is_set() or (
            self.deadline is not None and time.monotonic() >= self.deadline
        )

    def _wait(self, seconds: float) -> None:
        if self.deadline is not None:
            seconds = min(seconds, max(0.0, self.deadline - time.monotonic()))
        self.stop.wait(seconds)

    def run(self) -> None:
        """Record with retries until stopped; never raises."""
        attempts = 0
        while not self._done():
            self._status("connecting", attempts=attempts, segments=self.segments)
            try:
                ended = self._open_and_record()
                attempts = 0
                if ended:
                    break
            except Exception as e:
                attempts += 1
                msg = e.message if isinstance(e, GoldentimeError) else f"{type(e).__name__}: {e}"
                self.errors.append(msg)
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempts - 1))
                log.warning(
                    "camera %s: %s; retry %d in %.0f s", self.camera_id, msg, attempts, delay
                )
                self._status(
                    "retrying",
                    attempts=attempts,
                    last_error=msg,
                    segments=self.segments,
                )
                self._wait(delay)
            finally:
                self._close_segment()
        self._close_segment()
        self.stopped_at = time.time()
        self._status(
            "stopped",
            segments=self.segments,
            last_error=self.errors[-1] if self.errors else None,
        )

    def _open_and_record(self) -> bool:
        """Record the source remuxing when it can, else decoding; True when a file ended."""
        if self.remux and self.url is not None:
            psrc = PacketSource(self.url)
            with psrc:
                if psrc.remuxable:
                    self._started(psrc.spec.url, "remux")
                    return self._record_packets(psrc)
        with open_source(self.url) as src:
            self._started(src.spec.url, "encode")
            return self._record(src)

    def _started(self, url: str, mode: str) -> None:
        self.mode = mode
        self._status("recording", segments=self.segments)
        log.info("camera %s: recording (%s) %s", self.camera_id, mode, url)

    def _record_packets(self, src: PacketSource) -> bool:
        """Remux packets until stopped (False) or a non-looping file ends (True); motion on the
        decoded key frames, at most one per ``motion_interval_s`` (or every 2nd frame when key
        frames are rare)."""
        if self.motion and self._detector is None:
            self._detector = MotionDetector(stride=1 if src.key_only else 2, history=100)
        det = self._detector
        next_at: dt.datetime | None = None
        gap = dt.timedelta(seconds=max(0.0, self.motion_interval_s - 0.5 / src.fps))
        while not self._done():
            try:
                ts, pkt, pts, dts = src.read()
            except EOFError:
                return True
            if det is not None:
                det.stride = 1 if src.key_only else 2
                want = det.wants()
                if src.key_only and pkt.is_keyframe:
                    want = next_at is None or ts >= next_at
                    next_at = ts + gap if want else next_at
                small = src.motion_frame(pkt, want=want)
                ev = det.feed(ts, small, native_width=src.width)
                if ev is not None:
                    self._store([ev])
            self._write_packet(ts, pkt, pts, dts, src)
        return False

    def _write_packet(
        self, ts: dt.datetime, pkt: Any, pts: int | None, dts: int | None, src: PacketSource
    ) -> None:
        seg = self._seg
        key = bool(pkt.is_keyframe)
        if seg is not None and key and ts >= seg.boundary:
            self._close_segment()
            seg = None
        if seg is None:
            if not key:
                return  # a segment starts on a key frame: it must decode on its own
            seg = self._open_segment(
                ts,
                src.fps,
                lambda p: RemuxWriter(p, template=src.stream, fps=src.fps, fragmented=True),
            )
        seg.writer.write(pkt, pts=pts, dts=dts)  # type: ignore[call-arg]
        seg.last_at = self.last_at = ts
        self.first_at = self.first_at or ts
        self.frames += 1

    def _record(self, src: Any) -> bool:
        """Write frames until stopped (False) or a non-looping file ends (True)."""
        if self.motion and self._detector is None:
            self._detector = MotionDetector()
        while not self._done():
            try:
                ts, frame = src.read()
            except EOFError:
                return True
            self._write(ts, frame, src.fps)
            if self._detector is not None:
                ev = self._detector.feed(ts, frame)
                if ev is not None:
                    self._store([ev])
        return False

    def _write(self, ts: dt.datetime, frame: np.ndarray, fps: float) -> None:
        seg = self._seg
        if seg is not None and ts >= seg.boundary:
            self._close_segment()
            seg = None
        if seg is None:
            h, w = frame.shape[:2]
            seg = self._open_segment(
                ts,
                fps,
                lambda p: VideoFileWriter(p, fps=fps, width=w, height=h, backend=SEGMENT_BACKEND),
            )
        seg.writer.write(frame)  # type: ignore[call-arg]
        seg.last_at = self.last_at = ts
        self.first_at = self.first_at or ts
        self.frames += 1

    def _open_segment(
        self, ts: dt.datetime, fps: float, make: Callable[[Path], VideoFileWriter | RemuxWriter]
    ) -> _Segment:
        epoch = ts.timestamp()
        boundary = dt.datetime.fromtimestamp((epoch // self.segment_s + 1) * self.segment_s, dt.UTC)
        day = self.video_dir / str(self.camera_id) / ts.strftime("%Y%m%d")
        day.mkdir(parents=True, exist_ok=True)
        stem = f"{self.camera_id}_{ts.strftime('%Y%m%dT%H%M%S_%fZ')}"
        if self.holder:
            stem += "_" + file_tag(self.holder)
        tmp, final = day / f"{stem}.partial.mp4", day / f"{stem}.mp4"
        writer = make(tmp)
        self._seg = _Segment(
            writer=writer, tmp=tmp, final=final, start_at=ts, boundary=boundary, last_at=ts, fps=fps
        )
        return self._seg

    def _close_segment(self) -> None:
        seg, self._seg = self._seg, None
        if seg is None:
            return
        try:
            seg.writer.close()
            if seg.writer.frames == 0:
                seg.tmp.unlink(missing_ok=True)
                return
            os.replace(seg.tmp, seg.final)
            # the segment's time span is its frames at the source fps
            end_at = seg.start_at + dt.timedelta(seconds=seg.writer.frames / seg.fps)
            self.segments += 1
            INDEXER.submit(
                self._index_job(seg, end_at, self.segments),
                lambda e: self.errors.append(f"segment {seg.final.name}: {e}"),
            )
            log.info(
                "camera %s: segment %s (%d frames)",
                self.camera_id,
                seg.final.name,
                seg.writer.frames,
            )
        except Exception as e:
            self.errors.append(f"segment {seg.final.name}: {e}")
            log.error("camera %s: cannot finish segment %s: %s", self.camera_id, seg.final, e)

    def _index_job(
        self, seg: _Segment, end_at: dt.datetime, count: int
    ) -> Callable[[Session], None]:
        """What the indexer writes for a finished segment: its row, the end of a take-over gap,
        the camera's status."""

        def job(s: Session) -> None:
            archive.add_segment(
                s,
                camera_id=self.camera_id,
                start_at=seg.start_at,
                end_at=end_at,
                path=seg.final,
                frames=seg.writer.frames,
                fps=seg.fps,
                width=seg.writer.width,
                height=seg.writer.height,
                codec=seg.writer.codec,
            )
            if self.on_segment is not None:
                self.on_segment(s, self.camera_id, seg.start_at)
            write_status(
                s,
                self.camera_id,
                "recording",
                holder=self.holder,
                last_frame_at=seg.last_at,
                segments=count,
            )

        return job

    def _store(self, events: list[Motion]) -> None:
        try:
            with session_scope() as s:
                self.events += store_events(s, camera_id=self.camera_id, events=events)
        except Exception as e:
            log.error("camera %s: cannot store motion events: %s", self.camera_id, e)

    def finish(self) -> None:
        """Flush the motion window still open at the end of the recording."""
        if self._detector is not None:
            ev = self._detector.flush()
            if ev is not None:
                self._store([ev])


def _camera_urls(camera_ids: list[int]) -> dict[int, str | None]:
    """``stream_url`` by camera id; :class:`NotFound` (field ``camera``) for unknown ids."""
    if not camera_ids:
        raise NotFound("no camera given", field="camera")
    with session_scope() as sess:
        q = select(Camera.id, Camera.stream_url).where(Camera.id.in_(camera_ids))
        rows: dict[int, str | None] = {r[0]: r[1] for r in sess.execute(q)}
    missing = [c for c in camera_ids if c not in rows]
    if missing:
        raise NotFound(f"unknown camera(s): {', '.join(map(str, missing))}", field="camera")
    return rows


def record(
    camera_ids: list[int],
    *,
    segment_s: float | None = None,
    duration_s: float | None = None,
    motion: bool = True,
    stop: threading.Event | None = None,
    backoff_s: float = 1.0,
    remux: bool = True,
    motion_interval_s: float = 1.0,
) -> dict[int, dict[str, Any]]:
    """Record ``camera_ids`` (one thread each) for ``duration_s`` seconds or until ``stop`` is set
    (Ctrl-C sets it); returns per camera the segments, frames, motion events and errors."""
    s = get_settings()
    rows = _camera_urls(camera_ids)
    stop = stop or threading.Event()
    deadline = time.monotonic() + duration_s if duration_s else None
    recs = [
        CameraRecorder(
            camera_id=c,
            url=rows[c],
            segment_s=segment_s or s.video_segment_s,
            video_dir=Path(s.video_dir),
            stop=stop,
            deadline=deadline,
            motion=motion,
            backoff_s=backoff_s,
            remux=remux,
            motion_interval_s=motion_interval_s,
        )
        for c in dict.fromkeys(camera_ids)
    ]

    def _run(r: CameraRecorder) -> None:
        try:
            r.run()
            r.finish()
        except Exception as e:  # pragma: no cover - run() catches everything already
            log.exception("camera %s: recorder crashed: %s", r.camera_id, e)

    threads = [
        threading.Thread(target=_run, args=(r,), name=f"rec-{r.camera_id}", daemon=True)
        for r in recs
    ]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.5)
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    INDEXER.flush()
    return {
        r.camera_id: {
            "segments": r.segments,
            "frames": r.frames,
            "motion_events": r.events,
            "errors": r.errors,
            "mode": r.mode,
            "first_at": r.first_at,
            "last_at": r.last_at,
            "stopped_at": r.stopped_at,
        }
        for r in recs
    }


def _record_child(camera_ids: list[int], kwargs: dict[str, Any]) -> dict[int, dict[str, Any]]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return record(camera_ids, **kwargs)


def record_processes(
    camera_ids: list[int], *, processes: int, **kwargs: Any
) -> dict[int, dict[str, Any]]:
    """:func:`record` with the cameras split over ``processes`` OS processes (round robin), to use
    more than one core for the Python part of the per-frame work; Ctrl-C stops them all."""
    import multiprocessing as mp

    ids = list(dict.fromkeys(camera_ids))
    _camera_urls(ids)  # unknown cameras fail here, not in a child
    processes = max(1, min(processes, len(ids)))
    if processes == 1:
        return record(ids, **kwargs)
    chunks = [ids[i::processes] for i in range(processes)]
    with mp.get_context("spawn").Pool(processes) as pool:
        parts = pool.starmap(_record_child, [(c, kwargs) for c in chunks])
    out: dict[int, dict[str, Any]] = {}
    for p in parts:
        out.update(p)
    return out
