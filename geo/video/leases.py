"""Recorder fleet: recorder processes (one machine or many) share the cameras through leases.

No coordinator of our own: PostgreSQL is the only shared state. ``recorder_leases`` has one row
per camera; ``holder`` (null = free) records it until ``expires_at``. Every ``renew_s`` seconds
(2) a recorder renews its leases (``expires_at = now() + ttl_s``, 10 s, on the database clock, so
machines need no synchronised clocks), stops the cameras whose lease it lost, and claims free or
expired cameras up to its ``capacity`` with ``SELECT ... FOR UPDATE SKIP LOCKED`` (two recorders
claiming at once never wait for, nor take, the same rows). A recorder that dies (``kill -9``, a
machine gone) stops renewing; at most ``ttl_s + renew_s`` later another one claims its cameras
and writes a ``recorder_gaps`` row: the camera was not recorded from the end of its last indexed
segment to the start of the new holder's first one. A clean stop releases the leases at once.
The dead recorder's unfinished segment (``*.partial.mp4``, a fragmented MP4) is finalised by the
new holder in a background thread (:func:`recover_partials`): indexed up to its last whole
fragment, or deleted when nothing in it decodes; the gap row says which (``recovered``,
``discarded``) and starts at the end of what was recovered.

Storage stays per camera (``video_dir/<camera>/<day>/``) wherever the camera is recorded; segment
files carry the holder in their name, so two holders (say, one that stalled past its expiry and
one that took over) never write the same file. Retention (:func:`geo.video.archive.purge`) works
on the shared index, whichever recorder wrote a segment.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.db import session_scope
from geo.settings import get_settings
from geo.video.remux import PARTIAL_RE, file_tag, recover_partial

log = logging.getLogger("goldentime.fleet")

#: A lease lasts this long after its last renewal (seconds).
LEASE_TTL_S = 10.0
#: Recorders renew (and claim free cameras) this often (seconds).
RENEW_S = 2.0
#: Another recorder's ``*.partial.mp4`` untouched this long is abandoned (a live writer flushes a
#: fragment at every key frame, 1-2 s apart): the new holder of the camera finalises it.
PARTIAL_IDLE_S = 5.0


def holder_id() -> str:
    """A name for this recorder process, unique across machines: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Claim:
    """A camera claimed by a recorder; ``took_over_from`` is the expired holder, if any."""

    camera_id: int
    stream_url: str | None
    took_over_from: str | None


def _pool_sql(pool: list[int] | None) -> str:
    return "c.id = any(:pool)" if pool is not None else "c.stream_url is not null"


def register(session: Session, *, pool: list[int] | None = None) -> None:
    """Give every camera of ``pool`` (default: those with a ``stream_url``) a (free) lease row."""
    session.execute(
        text(
            f"insert into recorder_leases (camera_id) select c.id from cameras c "
            f"where {_pool_sql(pool)} "
            "and not exists (select 1 from recorder_leases l where l.camera_id = c.id) "
            "on conflict do nothing"
        ),
        {"pool": pool},
    )


def claim(
    session: Session,
    *,
    holder: str,
    capacity: int,
    pool: list[int] | None = None,
    ttl_s: float = LEASE_TTL_S,
) -> list[Claim]:
    """Claim free or expired cameras of ``pool`` (default: every camera with a ``stream_url``)
    until ``holder`` holds ``capacity``; records a gap for each expired lease taken over."""
    held = session.execute(
        text("select count(*) from recorder_leases where holder = :h and expires_at > now()"),
        {"h": holder},
    ).scalar_one()
    want = capacity - int(held)
    if want <= 0:
        return []
    where = _pool_sql(pool)
    params: dict[str, Any] = {"pool": pool, "h": holder, "n": want, "ttl": ttl_s}
    register(session, pool=pool)
    rows = session.execute(
        text(
            f"""
            select l.camera_id, l.holder as prev, l.renewed_at, c.stream_url
            from recorder_leases l join cameras c on c.id = l.camera_id
            where {where} and (l.holder is null or l.expires_at <= now()) and l.holder
                  is distinct from :h
            order by l.camera_id limit :n
            for update of l skip locked
            """
        ),
        params,
    ).all()
    if not rows:
        return []
    ids = [r.camera_id for r in rows]
    session.execute(
        text(
            """
            update recorder_leases set holder = :h, host = :host, pid = :pid,
                expires_at = now() + make_interval(secs => :ttl), renewed_at = now(), since = now()
            where camera_id = any(:ids)
            """
        ),
        {"h": holder, "host": socket.gethostname(), "pid": os.getpid(), "ttl": ttl_s, "ids": ids},
    )
    for r in rows:
        if r.prev is not None:
            session.execute(
                text(
                    """
                    insert into recorder_gaps (camera_id, from_holder, to_holder, gap_start)
                    values (:c, :prev, :h, coalesce(
                        (select max(end_at) from video_segments where camera_id = :c), :renewed))
                    """
                ),
                {"c": r.camera_id, "prev": r.prev, "h": holder, "renewed": r.renewed_at},
            )
    return [Claim(r.camera_id, r.stream_url, r.prev) for r in rows]


def renew(
    session: Session, *, holder: str, camera_ids: list[int], ttl_s: float = LEASE_TTL_S
) -> set[int]:
    """Extend ``holder``'s leases of ``camera_ids``; returns those it still holds."""
    if not camera_ids:
        return set()
    rows = session.execute(
        text(
            """
            update recorder_leases set expires_at = now() + make_interval(secs => :ttl),
                renewed_at = now()
            where holder = :h and camera_id = any(:ids) returning camera_id
            """
        ),
        {"h": holder, "ids": camera_ids, "ttl": ttl_s},
    )
    return {r[0] for r in rows}


def release(session: Session, *, holder: str, camera_ids: list[int] | None = None) -> int:
    """Free ``holder``'s leases (all, or ``camera_ids``) so another recorder claims them now."""
    rows = session.execute(
        text(
            """
            update recorder_leases set holder = null, host = null, pid = null,
                expires_at = '-infinity', renewed_at = now(), since = null
            where holder = :h and (cast(:ids as int[]) is null or camera_id = any(:ids))
            returning camera_id
            """
        ),
        {"h": holder, "ids": camera_ids},
    )
    return len(rows.all())


def close_gap(session: Session, *, camera_id: int, holder: str, at: dt.datetime) -> None:
    """The new holder's first segment starts at ``at``: the open gap of the camera ends there."""
    session.execute(
        text(
            "update recorder_gaps set gap_end = :at "
            "where camera_id = :c and to_holder = :h and gap_end is null"
        ),
        {"at": at, "c": camera_id, "h": holder},
    )


def fleet_status(session: Session) -> list[dict[str, Any]]:
    """Per camera: who records it (holder, host, pid, since, lease age, live lease), the
    recorder's state and last frame, and the last gap a take-over left."""
    rows = session.execute(
        text(
            """
            select coalesce(l.camera_id, s.camera_id) as camera_id, l.holder,
                coalesce(l.host, s.host) as host, coalesce(l.pid, s.pid) as pid, l.since,
                extract(epoch from now() - l.renewed_at) as lease_age_s,
                coalesce(l.expires_at > now(), false) as lease_live,
                s.state, s.segments, s.last_frame_at, s.last_error, s.attempts,
                g.from_holder as gap_from_holder, g.gap_start, g.gap_end,
                extract(epoch from g.gap_end - g.gap_start) as gap_s,
                g.recovered as gap_recovered, g.discarded as gap_discarded
            from recorder_leases l
            full join recorder_status s on s.camera_id = l.camera_id
            left join lateral (
                select * from recorder_gaps g where g.camera_id = coalesce(l.camera_id,
                    s.camera_id) order by g.detected_at desc limit 1) g on true
            order by 1
            """
        )
    )
    return [dict(r) for r in rows.mappings()]


# --- what a dead recorder left --------------------------------------------------------------------


def _report(
    session: Session, *, camera_id: int, holder: str, path: Path, seg: Any, size: int
) -> None:
    """Put a finalised partial segment in the gap row of ``holder``'s take-over of the camera
    (a new row when it claimed a free camera): recovered (the gap now starts at the end of the
    camera's last segment not recorded by ``holder``) or discarded (file name and bytes)."""
    args = {"c": camera_id, "h": holder, "mine": f"_{file_tag(holder)}.mp4"}
    theirs = (
        "(select max(end_at) from video_segments where camera_id = :c "
        "and right(path, length(:mine)) <> :mine)"
    )
    gap = session.execute(
        text(
            "select id from recorder_gaps where camera_id = :c and to_holder = :h and detected_at "
            ">= (select since from recorder_leases where camera_id = :c and holder = :h) "
            "order by detected_at desc limit 1"
        ),
        args,
    ).scalar_one_or_none()
    if gap is None:
        m = PARTIAL_RE.match(path.name)
        gap = session.execute(
            text(
                f"""
                insert into recorder_gaps (camera_id, from_holder, to_holder, gap_start, gap_end)
                values (:c, :f, :h, {theirs}, (select min(start_at) from video_segments
                    where camera_id = :c and right(path, length(:mine)) = :mine))
                returning id
                """
            ),
            {**args, "f": m and m["holder"]},
        ).scalar_one()
    if seg is not None:
        session.execute(
            text(
                f"update recorder_gaps set recovered = recovered + 1, "
                f"gap_start = coalesce({theirs}, gap_start) where id = :g"
            ),
            {**args, "g": gap},
        )
    else:
        session.execute(
            text("update recorder_gaps set discarded = discarded || :d where id = :g"),
            {"g": gap, "d": [f"{path.name} ({size} bytes)"]},
        )


def recover_partials(
    *,
    camera_id: int,
    holder: str,
    video_dir: Path,
    idle_s: float = PARTIAL_IDLE_S,
    now: float | None = None,
) -> dict[str, list[str]]:
    """Finalise the ``*.partial.mp4`` other recorders left in the camera's folders of today and
    yesterday (:func:`geo.video.remux.recover_partial`) once untouched for ``idle_s``, as the
    camera's new ``holder``; each is reported in its gap row. Returns the file names
    ``recovered`` (indexed) and ``discarded`` (deleted: nothing decodable)."""
    out: dict[str, list[str]] = {"recovered": [], "discarded": []}
    mine = file_tag(holder)
    now = time.time() if now is None else now
    days = {dt.datetime.fromtimestamp(now - d * 86400, dt.UTC).strftime("%Y%m%d") for d in (0, 1)}
    root = Path(video_dir) / str(camera_id)
    for p in sorted(f for day in days for f in (root / day).glob("*.partial.mp4")):
        m = PARTIAL_RE.match(p.name)
        if m is None or m["holder"] == mine or int(m["camera"]) != camera_id:
            continue
        try:
            wait = idle_s - (time.time() - p.stat().st_mtime)
            if wait > 0:  # written lately: give a writer that is only slow its chance to close
                time.sleep(wait)
                if time.time() - p.stat().st_mtime < idle_s:
                    continue
            size = p.stat().st_size
            with session_scope() as s:
                seg = recover_partial(s, path=p)
                _report(s, camera_id=camera_id, holder=holder, path=p, seg=seg, size=size)
        except FileNotFoundError:
            continue  # its writer closed it meanwhile
        except Exception as e:
            log.error("camera %s: cannot finalise %s: %s", camera_id, p.name, e)
            continue
        out["recovered" if seg is not None else "discarded"].append(p.name)
        log.info(
            "camera %s: %s %s", camera_id, "recovered" if seg is not None else "discarded", p.name
        )
    return out


# --- the fleet member --------------------------------------------------------------------------


@dataclass
class _Running:
    rec: Any  # geo.video.recorder.CameraRecorder
    thread: threading.Thread


def run_fleet(
    *,
    capacity: int,
    pool: list[int] | None = None,
    segment_s: float | None = None,
    duration_s: float | None = None,
    motion: bool = True,
    stop: threading.Event | None = None,
    ttl_s: float = LEASE_TTL_S,
    renew_s: float = RENEW_S,
    holder: str | None = None,
    backoff_s: float = 1.0,
    motion_interval_s: float = 1.0,
) -> dict[int, dict[str, Any]]:
    """Be one recorder of the fleet until ``stop`` (or ``duration_s``): renew, drop lost cameras,
    claim up to ``capacity``; one thread per camera; release every lease on the way out."""
    holder = holder or holder_id()
    stop = stop or threading.Event()
    deadline = time.monotonic() + duration_s if duration_s else None
    running: dict[int, _Running] = {}
    done: dict[int, dict[str, Any]] = {}
    last_ok = time.monotonic()
    recovery = ThreadPoolExecutor(1, thread_name_prefix="recover")  # off the recording path
    video_dir = Path(get_settings().video_dir)
    log.info("recorder %s: up to %d cameras", holder, capacity)
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            try:
                with session_scope() as s:
                    held = renew(s, holder=holder, camera_ids=list(running), ttl_s=ttl_s)
                last_ok = time.monotonic()
            except Exception as e:  # database away: keep recording until our leases expire
                log.warning("recorder %s: cannot renew leases: %s", holder, e)
                held = set(running) if time.monotonic() - last_ok < ttl_s else set()
            for cid in [c for c in running if c not in held or not running[c].thread.is_alive()]:
                r = running.pop(cid)
                r.rec.stop.set()
                if cid not in held:
                    log.warning("recorder %s: lost the lease of camera %s", holder, cid)
                done[cid] = _summary(r.rec)
            try:
                with session_scope() as s:
                    new = claim(s, holder=holder, capacity=capacity, pool=pool, ttl_s=ttl_s)
            except Exception as e:
                log.warning("recorder %s: cannot claim cameras: %s", holder, e)
                new = []
            for c in new:
                running[c.camera_id] = _start(
                    c, holder, segment_s, motion, backoff_s, motion_interval_s
                )
                recovery.submit(
                    recover_partials, camera_id=c.camera_id, holder=holder, video_dir=video_dir
                )
                log.info(
                    "recorder %s: camera %s%s",
                    holder,
                    c.camera_id,
                    f" (taken over from {c.took_over_from})" if c.took_over_from else "",
                )
            wait = renew_s if deadline is None else min(renew_s, deadline - time.monotonic())
            stop.wait(max(0.0, wait))
    except KeyboardInterrupt:
        pass
    finally:
        for r in running.values():
            r.rec.stop.set()
        for cid, r in running.items():
            r.thread.join(timeout=15)
            done[cid] = _summary(r.rec)
        recovery.shutdown(wait=True)
        from geo.video.recorder import INDEXER

        INDEXER.flush()  # the last segments and states, before the leases go
        try:
            with session_scope() as s:
                release(s, holder=holder)
        except Exception as e:  # pragma: no cover - the leases then simply expire
            log.warning("recorder %s: cannot release leases: %s", holder, e)
    return done


def _start(
    c: Claim,
    holder: str,
    segment_s: float | None,
    motion: bool,
    backoff_s: float,
    motion_interval_s: float,
) -> _Running:
    from geo.video.recorder import CameraRecorder

    def _on_segment(s: Session, camera_id: int, start_at: dt.datetime) -> None:
        close_gap(s, camera_id=camera_id, holder=holder, at=start_at)

    st = get_settings()
    rec = CameraRecorder(
        camera_id=c.camera_id,
        url=c.stream_url,
        segment_s=segment_s or st.video_segment_s,
        video_dir=Path(st.video_dir),
        stop=threading.Event(),
        motion=motion,
        backoff_s=backoff_s,
        holder=holder,
        on_segment=_on_segment,
        motion_interval_s=motion_interval_s,
    )

    def _run() -> None:
        try:
            rec.run()
            rec.finish()
        except Exception as e:  # pragma: no cover - run() catches everything already
            log.exception("camera %s: recorder crashed: %s", rec.camera_id, e)

    t = threading.Thread(target=_run, name=f"rec-{c.camera_id}", daemon=True)
    t.start()
    return _Running(rec, t)


def _summary(rec: Any) -> dict[str, Any]:
    return {
        "segments": rec.segments,
        "frames": rec.frames,
        "motion_events": rec.events,
        "errors": rec.errors,
        "mode": rec.mode,
    }
