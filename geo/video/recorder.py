"""The recorder: one thread per camera writes time segments to the archive and finds motion.

Each camera's thread opens its ``stream_url`` (see :mod:`geo.video.sources`), writes frames into
MP4 segments (``mp4v`` through OpenCV) whose boundaries fall on wall-clock multiples of
``segment_s``, indexes each finished segment in ``video_segments`` and feeds a
:class:`~geo.video.motion.MotionDetector` whose events go to ``motion_events``. A source that
cannot be opened or stops delivering is retried with exponential backoff (1 s doubling to 30 s);
one camera's failure never stops the others (every error is caught inside its own thread). The
state of each camera (``connecting``, ``recording``, ``retrying``, ``stopped``) and its last error
are kept in ``recorder_status`` and logged.

A segment is written as ``*.partial.mp4`` and renamed when closed, so a reader never opens a file
without its index (MP4 needs its trailer).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
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
from geo.video.encode import VideoFileWriter
from geo.video.motion import Motion, MotionDetector, store_events
from geo.video.sources import open_source

log = logging.getLogger("goldentime.recorder")

SEGMENT_BACKEND = "cv2-mp4v"


def set_status(camera_id: int, state: str, **fields: Any) -> None:
    """Upsert the camera's row in ``recorder_status`` (errors are logged, never raised)."""
    values = {
        "camera_id": camera_id,
        "state": state,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "attempts": fields.get("attempts", 0),
        "last_frame_at": fields.get("last_frame_at"),
        "last_error": fields.get("last_error"),
        "segments": fields.get("segments", 0),
    }
    try:
        with session_scope() as s:
            s.execute(
                text(
                    """
                    insert into recorder_status (camera_id, state, host, pid, attempts,
                        last_frame_at, last_error, segments, updated_at)
                    values (:camera_id, :state, :host, :pid, :attempts, :last_frame_at,
                        :last_error, :segments, now())
                    on conflict (camera_id) do update set state = excluded.state,
                        host = excluded.host, pid = excluded.pid, attempts = excluded.attempts,
                        last_frame_at = coalesce(excluded.last_frame_at,
                                                 recorder_status.last_frame_at),
                        last_error = excluded.last_error, segments = excluded.segments,
                        updated_at = now()
                    """
                ),
                values,
            )
    except Exception as e:  # status is best effort: never stop recording for it
        log.warning("camera %s: cannot write recorder_status: %s", camera_id, e)


def recorder_status(session: Session | None = None) -> list[dict[str, Any]]:
    """Every camera's recorder state, for ``goldentime video status`` and the API."""
    if session is not None:
        rows = session.execute(text("select * from recorder_status order by camera_id"))
        return [dict(r) for r in rows.mappings()]
    with session_scope() as s:
        return recorder_status(s)


@dataclass
class _Segment:
    writer: VideoFileWriter
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
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    segments: int = 0
    frames: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)
    _seg: _Segment | None = None
    _detector: MotionDetector | None = None

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
            set_status(self.camera_id, "connecting", attempts=attempts, segments=self.segments)
            try:
                with open_source(self.url) as src:
                    attempts = 0
                    set_status(self.camera_id, "recording", segments=self.segments)
                    log.info("camera %s: recording %s", self.camera_id, src.spec.url)
                    ended = self._record(src)
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
                set_status(
                    self.camera_id,
                    "retrying",
                    attempts=attempts,
                    last_error=msg,
                    segments=self.segments,
                )
                self._wait(delay)
            finally:
                self._close_segment()
        self._close_segment()
        set_status(
            self.camera_id,
            "stopped",
            segments=self.segments,
            last_error=self.errors[-1] if self.errors else None,
        )

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
            seg = self._open_segment(ts, frame, fps)
        seg.writer.write(frame)
        seg.last_at = ts
        self.frames += 1

    def _open_segment(self, ts: dt.datetime, frame: np.ndarray, fps: float) -> _Segment:
        epoch = ts.timestamp()
        boundary = dt.datetime.fromtimestamp((epoch // self.segment_s + 1) * self.segment_s, dt.UTC)
        day = self.video_dir / str(self.camera_id) / ts.strftime("%Y%m%d")
        day.mkdir(parents=True, exist_ok=True)
        stem = f"{self.camera_id}_{ts.strftime('%Y%m%dT%H%M%S_%fZ')}"
        tmp, final = day / f"{stem}.partial.mp4", day / f"{stem}.mp4"
        writer = VideoFileWriter(
            tmp, fps=fps, width=frame.shape[1], height=frame.shape[0], backend=SEGMENT_BACKEND
        )
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
            with session_scope() as s:
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
            self.segments += 1
            log.info(
                "camera %s: segment %s (%d frames)",
                self.camera_id,
                seg.final.name,
                seg.writer.frames,
            )
            set_status(
                self.camera_id, "recording", last_frame_at=seg.last_at, segments=self.segments
            )
        except Exception as e:
            self.errors.append(f"segment {seg.final.name}: {e}")
            log.error("camera %s: cannot finish segment %s: %s", self.camera_id, seg.final, e)

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
    return {
        r.camera_id: {
            "segments": r.segments,
            "frames": r.frames,
            "motion_events": r.events,
            "errors": r.errors,
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
