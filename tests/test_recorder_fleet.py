"""The recorder fleet and the remux recorder, as the failures they defend against.

* A recorder process dies (``kill -9``) while recording: another recorder of the fleet takes its
  cameras over within 15 s, no indexed segment is corrupt, and the gap is reported.
* Two recorders claim at once: no camera is recorded twice (``FOR UPDATE SKIP LOCKED``).
* A camera's compressed stream is stored as it came (remuxed, not re-encoded), cut at key frames.

Cameras are fed by a local HTTP test source: a tiny HTTP server that runs, per connection,
``ffmpeg -re -stream_loop -1 -i <camera clip> -c copy -f mpegts pipe:1`` (Debian ffmpeg): the
bundled clip as an IP camera sends it (H.264, a key frame every second, MPEG-TS over HTTP).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.db import session_scope
from geo.video import leases
from geo.video.remux import file_tag, segment_decodes
from geo.video.sources import PacketSource, camera_clip_path, camera_stream_url

TAKEOVER_DEADLINE_S = 15.0  # the functional deadline
PORTS = range(8100, 8200)


def _free_port() -> int:
    start = (os.getpid() * 7) % len(PORTS)
    for i in range(len(PORTS)):
        port = PORTS[(start + i) % len(PORTS)]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8100-8199")


class CameraServer:
    """``http://127.0.0.1:PORT/<name>.ts``: the camera clip as a live MPEG-TS stream, one ffmpeg
    (``-re -stream_loop -1 -c copy``) per connection, ended when the client goes away."""

    def __init__(self, clip: Path) -> None:
        self.clip = clip
        self.procs: set[subprocess.Popen[bytes]] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                p = subprocess.Popen(
                    [
                        *("ffmpeg", "-hide_banner", "-loglevel", "error", "-re"),
                        *("-stream_loop", "-1", "-i", str(server.clip)),
                        *("-c", "copy", "-f", "mpegts", "pipe:1"),
                    ],
                    stdout=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                )
                server.procs.add(p)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "video/mp2t")
                    self.end_headers()
                    assert p.stdout is not None
                    while chunk := p.stdout.read1(16384):
                        self.wfile.write(chunk)
                except OSError:
                    pass  # the recorder went away (or was killed)
                finally:
                    p.kill()
                    p.wait()
                    server.procs.discard(p)

        self.port = _free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.ts"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        for p in list(self.procs):
            p.kill()


@pytest.fixture
def camera_server() -> Iterator[CameraServer]:
    if not shutil.which("ffmpeg"):
        pytest.skip("Debian ffmpeg is not installed (scripts/bootstrap.sh)")
    srv = CameraServer(camera_clip_path())
    try:
        yield srv
    finally:
        srv.close()


def _cameras(n: int) -> list[int]:
    """``n`` fresh cameras (no sample data needed: the fleet only needs ids and stream URLs)."""
    with session_scope() as s:
        return [
            s.execute(
                text(
                    "insert into cameras (source, external_id, name, geom) values ('test-fleet', "
                    ":e, 'fleet test', st_setsrid(st_makepoint(127.36, 36.36), 4326)) returning id"
                ),
                {"e": f"fleet-{time.time_ns()}-{i}"},
            ).scalar_one()
            for i in range(n)
        ]


def _cleanup(ids: list[int]) -> None:
    with session_scope() as s:
        s.execute(text("delete from recorder_gaps where camera_id = any(:ids)"), {"ids": ids})
        s.execute(text("delete from cameras where id = any(:ids)"), {"ids": ids})


def _leases(ids: list[int]) -> dict[int, Any]:
    with session_scope() as s:
        rows = s.execute(
            text(
                "select camera_id, holder, pid, expires_at > now() as live "
                "from recorder_leases where camera_id = any(:ids)"
            ),
            {"ids": ids},
        ).all()
    return {r.camera_id: r for r in rows}


def _poll(cond: Any, timeout_s: float, every_s: float = 0.25) -> Any:
    end = time.monotonic() + timeout_s
    while True:
        out = cond()
        if out or time.monotonic() >= end:
            return out
        time.sleep(every_s)


@pytest.mark.slow
def test_kill_9_recorder_cameras_taken_over(
    engine: Any, camera_server: CameraServer, tmp_path: Path
) -> None:
    """Three recorder processes (``goldentime video record``) share 4 HTTP cameras, at most 2
    each. One holding cameras gets SIGKILL: within 15 s every camera of it records again under
    another process, every indexed segment decodes, and the gap is in ``recorder_gaps`` and
    ``goldentime video status``; a clean stop releases the leases."""
    ids = _cameras(4)
    with session_scope() as s:
        for i, c in enumerate(ids):
            s.execute(
                text("update cameras set stream_url = :u where id = :c"),
                {"u": camera_server.url(f"cam{i}"), "c": c},
            )
    exe = str(Path(sys.executable).parent / "goldentime")
    env = {**os.environ, "GOLDENTIME_VIDEO_DIR": str(tmp_path / "video")}
    cmd = [exe, "video", "record", "--capacity", "2", "--segment-s", "2", "--no-motion"]
    cmd += [a for c in ids for a in ("--camera", str(c))]
    procs = [
        subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / f"rec{i}.log", "wb"),  # noqa: SIM115
        )
        for i in range(3)
    ]
    try:
        # all four cameras claimed by live leases and each with a segment on disk
        def _all_recording() -> bool:
            ls = _leases(ids)
            if len(ls) < 4 or not all(r.live and r.holder for r in ls.values()):
                return False
            with session_scope() as s:
                n = s.execute(
                    text(
                        "select count(distinct camera_id) from video_segments where camera_id = any(:ids)"
                    ),
                    {"ids": ids},
                ).scalar_one()
            return n == 4

        assert _poll(_all_recording, 90), _logs(tmp_path)
        ls = _leases(ids)
        by_pid: dict[int, list[int]] = {}
        for c, r in ls.items():
            by_pid.setdefault(r.pid, []).append(c)
        assert all(len(v) <= 2 for v in by_pid.values()), by_pid  # capacity holds
        victim_pid = max(by_pid, key=lambda p: len(by_pid[p]))
        victim = next(p for p in procs if p.pid == victim_pid)
        lost = by_pid[victim_pid]
        victim_holder = ls[lost[0]].holder
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        # what it was writing: fragmented MP4s that nobody will close
        left = sorted((tmp_path / "video").glob(f"*/*/*_{file_tag(victim_holder)}.partial.mp4"))
        left_cams = {int(f.parent.parent.name) for f in left}
        assert left and left_cams <= set(lost), left  # (one per camera it was recording)

        def _taken_over() -> bool:
            now_ls = _leases(lost)
            if not all(
                r.live and r.holder != victim_holder and r.pid != victim_pid
                for r in now_ls.values()
            ):
                return False
            with session_scope() as s:
                st = s.execute(
                    text(
                        "select count(*) from recorder_status where camera_id = any(:ids) "
                        "and state = 'recording' and pid <> :p"
                    ),
                    {"ids": lost, "p": victim_pid},
                ).scalar_one()
            return st == len(lost)

        assert _poll(_taken_over, TAKEOVER_DEADLINE_S), (_leases(lost), _logs(tmp_path))

        # the new holders write segments, and the gap is closed by their first one
        def _gaps() -> list[Any]:
            with session_scope() as s:
                rows = s.execute(
                    text(
                        "select * from recorder_gaps where camera_id = any(:ids) "
                        "and from_holder = :h and gap_end is not null"
                    ),
                    {"ids": lost, "h": victim_holder},
                ).all()
            return rows if len(rows) == len(lost) else []

        gaps = _poll(_gaps, 30)
        assert gaps, _logs(tmp_path)
        for g in gaps:
            assert g.gap_start is not None and g.gap_end > g.gap_start
            assert g.to_holder != victim_holder

        # the new holders finalise the dead one's partial files: each is indexed up to its last
        # whole fragment (the gap then starts at its end) or, with nothing decodable, deleted
        # and named in the gap row; none is left unaccounted for
        def _accounted() -> dict[int, Any]:
            with session_scope() as s:
                rows = s.execute(
                    text(
                        "select * from recorder_gaps where camera_id = any(:ids) "
                        "and from_holder = :h and recovered + cardinality(discarded) > 0"
                    ),
                    {"ids": list(left_cams), "h": victim_holder},
                ).all()
            done = not any(f.exists() for f in left)
            return {r.camera_id: r for r in rows} if done and len(rows) == len(left_cams) else {}

        accounted = _poll(_accounted, 30)
        assert accounted, (left, _logs(tmp_path))
        with session_scope() as s:
            for f in left:
                cam = int(f.parent.parent.name)
                g = accounted[cam]
                final = str(f).removesuffix(".partial.mp4") + ".mp4"
                seg = s.execute(
                    text("select * from video_segments where path = :p"), {"p": final}
                ).one_or_none()
                discarded = [d.split(" ")[0] for d in g.discarded]
                assert (seg is not None) != (f.name in discarded), (f, seg, g.discarded)
                if seg is not None:
                    assert segment_decodes(final, seg.frames) and seg.end_at > seg.start_at
                    assert g.gap_start >= seg.end_at and g.recovered >= 1
                else:
                    assert not Path(final).exists()
        with session_scope() as s:
            status = {r["camera_id"]: r for r in leases.fleet_status(s)}
        for c in lost:
            assert status[c]["gap_from_holder"] == victim_holder and status[c]["gap_s"] > 0
            assert status[c]["holder"] != victim_holder and status[c]["lease_live"]
        out = subprocess.run(
            [exe, "video", "status"], env=env, capture_output=True, text=True, timeout=60
        ).stdout
        for c in lost:
            line = next(x for x in out.splitlines() if x.startswith(f"camera {c}:"))
            assert "recording" in line and f"from={victim_holder}" in line, line

        # a clean stop (Ctrl-C) releases the leases at once
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait(timeout=60)
        assert all(r.holder is None for r in _leases(ids).values())

        # every indexed segment opens and decodes completely; no partial file is left anywhere
        assert not list((tmp_path / "video").glob("*/*/*.partial.mp4"))
        with session_scope() as s:
            segs = s.execute(
                text("select path, frames, codec from video_segments where camera_id = any(:ids)"),
                {"ids": ids},
            ).all()
        assert segs
        for seg in segs:
            assert not seg.path.endswith(".partial.mp4") and seg.codec == "avc1"
            assert segment_decodes(seg.path, seg.frames), seg
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        _cleanup(ids)


def _logs(tmp_path: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:]
        for p in sorted(tmp_path.glob("rec*.log"))
    )


def test_concurrent_claims_never_share_a_camera(engine: Any) -> None:
    """Two recorders claim at the same moment in two transactions: SKIP LOCKED gives each
    different cameras, and an expired lease is taken over with a gap row."""
    ids = _cameras(5)
    a, b = "host:1:a", "host:2:b"
    try:
        with session_scope() as s:
            leases.register(s, pool=ids)
        s1, s2 = Session(engine), Session(engine)
        try:
            got_a = leases.claim(s1, holder=a, capacity=3, pool=ids)
            got_b = leases.claim(s2, holder=b, capacity=3, pool=ids)  # a's rows are locked
            s1.commit()
            s2.commit()
        finally:
            s1.close()
            s2.close()
        ca, cb = {c.camera_id for c in got_a}, {c.camera_id for c in got_b}
        assert len(ca) == 3 and len(cb) == 2 and not ca & cb and ca | cb == set(ids)
        with session_scope() as s:
            assert leases.claim(s, holder=b, capacity=3, pool=ids) == []  # nothing free
            s.execute(
                text(
                    "update recorder_leases set expires_at = now() - interval '1 s' "
                    "where holder = :a"
                ),
                {"a": a},
            )
            taken = leases.claim(s, holder=b, capacity=5, pool=ids)
            assert {c.camera_id for c in taken} == ca and all(c.took_over_from == a for c in taken)
            assert leases.renew(s, holder=a, camera_ids=list(ca)) == set()  # a lost them
            gaps = s.execute(
                text("select count(*) from recorder_gaps where from_holder = :a"), {"a": a}
            ).scalar_one()
            assert gaps == 3
            assert leases.release(s, holder=b) == 5
    finally:
        _cleanup(ids)


def test_remux_recorder_stores_the_camera_stream(engine: Any, tmp_path: Path) -> None:
    """A compressed camera is remuxed: the segments hold the camera's own H.264 packets (same
    bytes, no re-encode), each starts with a key frame, and boundaries follow key frames."""
    from geo.settings import get_settings
    from geo.video.recorder import record

    (cam,) = _cameras(1)
    old = get_settings().video_dir
    get_settings().video_dir = tmp_path / "video"
    with session_scope() as s:
        s.execute(
            text("update cameras set stream_url = :u where id = :c"),
            {"u": camera_stream_url(), "c": cam},
        )
    try:
        out = record([cam], segment_s=2, duration_s=6.5, motion=True, stop=threading.Event())
        assert out[cam]["mode"] == "remux" and not out[cam]["errors"], out
        with session_scope() as s:
            segs = s.execute(
                text("select * from video_segments where camera_id = :c order by start_at"),
                {"c": cam},
            ).all()
        assert len(segs) >= 3
        # the camera's packets, byte for byte
        with PacketSource(camera_stream_url().replace("loop=1", "loop=0&pace=0")) as src:
            camera_packets = {bytes(src.read()[1]) for _ in range(795)}
        import av

        for seg in segs:
            assert seg.codec == "avc1" and (seg.width, seg.height, seg.fps) == (480, 360, 10.0)
            with av.open(seg.path) as c:
                pk = [p for p in c.demux(c.streams.video[0]) if p.size]
            assert len(pk) == seg.frames and pk[0].is_keyframe
            assert sum(bytes(p) in camera_packets for p in pk) == len(pk)
            assert segment_decodes(seg.path, seg.frames)
            # cut at the first key frame after a 2 s boundary: at most one GOP (1 s) late
            late = seg.start_at.timestamp() % 2
            assert seg is segs[0] or late < 1.0 + 1e-6, late
        # a clip without masks is remuxed: starts at the first key frame at or after `start`
        # (never a frame before the window), same packets; with a mask it is re-encoded
        from geo.video import archive

        # segs[1] is a whole segment (>= 2 s, key frames at most 1 s apart): the clip starts in it
        start = segs[1].start_at + dt.timedelta(seconds=0.45)
        end = segs[2].start_at + dt.timedelta(seconds=0.5)
        with session_scope() as s:
            clip = archive.cut_clip(s, camera_id=cam, start=start, end=end, out_dir=tmp_path)
            masked = archive.cut_clip(
                s,
                camera_id=cam,
                start=start,
                end=end,
                out_dir=tmp_path,
                transform=lambda f: f,
            )
        assert start <= clip.start < start + dt.timedelta(seconds=1) and clip.end <= end
        assert clip.codec == "avc1" and clip.segments == 2
        with av.open(str(clip.path)) as c:
            pk = [p for p in c.demux(c.streams.video[0]) if p.size]
        assert pk[0].is_keyframe and all(bytes(p) in camera_packets for p in pk)
        assert len(pk) == clip.frames and segment_decodes(str(clip.path), clip.frames)
        assert masked.start <= clip.start and masked.frames >= clip.frames  # frame-exact cut
        assert masked.start < start + dt.timedelta(seconds=0.1)
        with av.open(str(masked.path)) as c:
            pk = [p for p in c.demux(c.streams.video[0]) if p.size]
        assert sum(bytes(p) in camera_packets for p in pk) == 0  # encoded anew
    finally:
        get_settings().video_dir = old
        _cleanup([cam])


def test_status_lists_holder_and_state(engine: Any) -> None:
    ids = _cameras(1)
    try:
        with session_scope() as s:
            leases.claim(s, holder="h:9:x", capacity=1, pool=ids)
        with session_scope() as s:
            row = next(r for r in leases.fleet_status(s) if r["camera_id"] == ids[0])
        assert row["holder"] == "h:9:x" and row["lease_live"] and row["lease_age_s"] >= 0
        assert isinstance(row["since"], dt.datetime)
    finally:
        _cleanup(ids)


# --- what a killed recorder leaves: partial segments ---------------------------------------------


def _partial(root: Path, cam: int, start: dt.datetime, packets: int, holder: str) -> Path:
    """The ``*.partial.mp4`` a recorder killed after ``packets`` packets of a segment leaves: the
    bytes its fragmented writer has put on disk so far (the writer is still open)."""
    from geo.video.encode import RemuxWriter

    day = root / str(cam) / start.strftime("%Y%m%d")
    day.mkdir(parents=True, exist_ok=True)
    stem = f"{cam}_{start.strftime('%Y%m%dT%H%M%S_%fZ')}_{file_tag(holder)}"
    out = day / f"{stem}.partial.mp4"
    with PacketSource(camera_stream_url().replace("loop=1", "loop=0&pace=0")) as src:
        w = RemuxWriter(root / f"{stem}.writing", template=src.stream, fps=src.fps, fragmented=True)
        for _ in range(packets):
            _, pkt, pts, dts = src.read()
            w.write(pkt, pts=pts, dts=dts)
        shutil.copyfile(w.path, out)  # what kill -9 leaves behind
        w.close()
        w.path.unlink()
    return out


def test_partial_segments_are_recovered_or_discarded(engine: Any, tmp_path: Path) -> None:
    """A killed recorder's fragmented partial segment decodes up to its last whole fragment: it
    is indexed with its true end (a torn last fragment cut off); one with nothing decodable (killed
    in its first fragment; a plain MP4 without index; damaged bytes) is deleted, never indexed.
    The new holder reports both in its gap row, and the gap starts where the recovery ends."""
    from geo.video.remux import recover_partial

    (cam,) = _cameras(1)
    dead, new = "deadhost:11:aa", "newhost:22:bb"
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=60)
    root = tmp_path / "video"
    try:
        with session_scope() as s:
            leases.claim(s, holder=dead, capacity=1, pool=[cam])
            s.execute(
                text("update recorder_leases set expires_at = now() where camera_id = :c"),
                {"c": cam},
            )
        with session_scope() as s:
            (took,) = leases.claim(s, holder=new, capacity=1, pool=[cam])
        assert took.took_over_from == dead
        whole = _partial(root, cam, t0, 35, dead)  # 3 whole fragments of 10 frames + 5 in memory
        torn = _partial(root, cam, t0 + dt.timedelta(seconds=10), 35, dead)
        os.truncate(torn, torn.stat().st_size - 1000)  # the 3rd fragment only half written
        empty = _partial(root, cam, t0 + dt.timedelta(seconds=20), 5, dead)  # header only
        bad = _partial(root, cam, t0 + dt.timedelta(seconds=30), 35, dead)
        with bad.open("r+b") as f:  # damaged bytes inside a whole fragment
            f.seek(bad.stat().st_size // 2)
            f.write(bytes(64))
        out = leases.recover_partials(camera_id=cam, holder=new, video_dir=root, idle_s=0)
        assert out == {
            "recovered": [whole.name, torn.name],
            "discarded": [empty.name, bad.name],
        }
        assert not list(root.glob("*/*/*.partial.mp4"))
        with session_scope() as s:
            segs = s.execute(
                text("select * from video_segments where camera_id = :c order by start_at"),
                {"c": cam},
            ).all()
            gap = s.execute(
                text("select * from recorder_gaps where camera_id = :c"), {"c": cam}
            ).one()
        assert [(g.frames, g.start_at) for g in segs] == [
            (30, t0),
            (20, t0 + dt.timedelta(seconds=10)),
        ]
        for g in segs:
            assert g.end_at == g.start_at + dt.timedelta(seconds=g.frames / 10)
            assert g.path.endswith(f"_{file_tag(dead)}.mp4") and segment_decodes(g.path, g.frames)
        assert gap.from_holder == dead and gap.to_holder == new and gap.recovered == 2
        assert [d.split(" ")[0] for d in gap.discarded] == [empty.name, bad.name]
        assert gap.gap_start == segs[-1].end_at
        # a recorder outside the fleet (encoding mp4v, a plain MP4) killed: no index, no frame
        import cv2
        import numpy as np

        plain = root / str(cam) / "x" / f"{cam}_20261201T000000_000000Z.partial.mp4"
        plain.parent.mkdir()
        w = cv2.VideoWriter(str(plain), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))  # type: ignore[attr-defined]
        for _ in range(30):
            w.write(np.zeros((48, 64, 3), np.uint8))
        snapshot = plain.read_bytes()
        w.release()
        plain.write_bytes(snapshot)
        with session_scope() as s:
            assert recover_partial(s, path=plain) is None
        assert not plain.exists()
    finally:
        _cleanup([cam])


# --- retention across recorders ------------------------------------------------------------------


@pytest.fixture
def fleet_camera(engine: Any, tmp_path: Path) -> Iterator[int]:
    """One camera (the looping camera clip) and a temporary video folder; removed after the test
    (list it before ``session``: a share in the test's transaction holds the camera row)."""
    from geo.settings import get_settings

    (cam,) = _cameras(1)
    with session_scope() as s:
        s.execute(
            text("update cameras set stream_url = :u where id = :c"),
            {"u": camera_stream_url(), "c": cam},
        )
    old = get_settings().video_dir
    get_settings().video_dir = tmp_path / "video"
    try:
        yield cam
    finally:
        get_settings().video_dir = old
        _cleanup([cam])


@pytest.mark.slow
def test_retention_and_shares_across_recorders(
    fleet_camera: int, session: Session, make_user: Any, tmp_path: Path
) -> None:
    """Recorder A records a camera and dies mid-segment; recorder B takes it over (and finalises
    A's partial segment). 40 days later retention deletes the segments of both, whoever recorded
    them, except those an active case share covers: its window spans the take-over, so it keeps
    A's last segment and B's first; a revoked share protects nothing."""
    from geo.access.shares import create_share
    from geo.video import archive
    from geo.video.recorder import INDEXER, CameraRecorder

    cam, root = fleet_camera, tmp_path / "video"
    a, b = "rec-a:101:aa", "rec-b:202:bb"
    with session_scope() as s:
        leases.claim(s, holder=a, capacity=1, pool=[cam])
    rec_a = CameraRecorder(
        camera_id=cam,
        url=camera_stream_url(),
        segment_s=2,
        video_dir=root,
        stop=threading.Event(),
        deadline=time.monotonic() + 4.5,
        motion=False,
        holder=a,
    )
    rec_a.run()
    assert INDEXER.flush() and rec_a.segments >= 2, rec_a.errors
    assert rec_a.last_at is not None
    # A dies 1.5 s into its next segment (one whole fragment on disk); its lease expires
    part = _partial(root, cam, rec_a.last_at + dt.timedelta(seconds=0.1), 15, a)
    os.utime(part, (time.time() - 30, time.time() - 30))  # untouched since
    time.sleep(1.5)
    with session_scope() as s:
        s.execute(
            text("update recorder_leases set expires_at = now() where camera_id = :c"), {"c": cam}
        )
    out = leases.run_fleet(
        capacity=1, pool=[cam], segment_s=2, duration_s=6, motion=False, holder=b, renew_s=0.5
    )
    assert out[cam]["segments"] >= 2 and not out[cam]["errors"], out
    assert not list(root.glob("*/*/*.partial.mp4"))  # A's was finalised by B
    # 40 days later (the camera's retention is the default 30 days)
    with session_scope() as s:
        s.execute(
            text(
                "update video_segments set start_at = start_at - interval '40 days', "
                "end_at = end_at - interval '40 days' where camera_id = :c"
            ),
            {"c": cam},
        )
    segs = session.execute(
        text("select * from video_segments where camera_id = :c order by start_at"), {"c": cam}
    ).all()
    by_a = [g for g in segs if g.path.endswith(f"_{file_tag(a)}.mp4")]
    by_b = [g for g in segs if g.path.endswith(f"_{file_tag(b)}.mp4")]
    assert len(by_a) >= 3 and len(by_b) >= 2 and len(by_a) + len(by_b) == len(segs)
    assert by_a[-1].end_at <= by_b[0].start_at  # A's, including the one B recovered, then B's
    op = make_user("fleet-purge-op", role="operator", agency="Daejeon CCTV Centre")
    officer = make_user("fleet-purge-officer")
    create_share(  # a case window across the take-over
        session,
        kind="push",
        granted_by=op,
        to_user=officer,
        camera_ids=[cam],
        reason="case 2026-91",
        past_start=by_a[-1].end_at - dt.timedelta(seconds=0.5),
        past_end=by_b[0].start_at + dt.timedelta(seconds=0.5),
    )
    revoked = create_share(  # would cover every segment, but is revoked
        session,
        kind="push",
        granted_by=op,
        to_user=officer,
        camera_ids=[cam],
        reason="case 2026-92",
        past_start=segs[0].start_at,
        past_end=segs[-1].end_at,
    )
    revoked.revoked_at = dt.datetime.now(dt.UTC)
    session.flush()

    # and a recorder outside the fleet was killed 2 h ago: purge finalises what it left
    stray = _partial(root, cam, dt.datetime.now(dt.UTC) - dt.timedelta(hours=2), 25, "x")
    stray = stray.rename(stray.with_name(stray.name.replace("_x.partial", ".partial")))
    os.utime(stray, (time.time() - 7200, time.time() - 7200))

    res = archive.purge(session)
    kept = {by_a[-1].id, by_b[0].id}
    assert set(res["kept_ids"]) == kept and res["deleted"] == len(segs) - 2
    assert res["partials_recovered"] == [stray.name] and res["partials_discarded"] == []
    left = session.execute(
        text("select id, path, frames from video_segments where camera_id = :c"), {"c": cam}
    ).all()
    assert {g.id for g in left} - kept == {g.id for g in left if g.path.endswith("Z.mp4")}
    assert [g.frames for g in left if g.id not in kept] == [20]  # recovered, not yet expired
    for g in segs:
        assert Path(g.path).exists() == (g.id in kept), g.path
