"""``goldentime record`` and ``goldentime video demo|status|purge``: cameras' video on this machine."""

from __future__ import annotations

import json
import logging
from typing import Any

import typer

from cli.common import domain_errors

video_app = typer.Typer(
    help="Demo video sources, recorder status and archive retention.", no_args_is_help=True
)


@video_app.command()
@domain_errors
def demo(
    camera: list[int] = typer.Option(None, "--camera", "-c", help="Camera id (repeatable)."),
    n: int = typer.Option(2, "--n", min=1, max=50, help="How many cameras when none is given."),
) -> None:
    """Point cameras at the bundled clip as looping live sources (``file://...?loop=1``).

    Without ``--camera``: the Daejeon crime-prevention cameras with the most recorded (Yuseong-gu)
    traffic accidents within 100 m, and the 5 cameras a video request at the README's demo
    accident (``geo.video.demo.DEMO_SCENE``) chooses.
    """
    from geo.db import session_scope
    from geo.video.demo import choose_demo_cameras, demo_scene_cameras, set_demo_sources

    with session_scope() as s:
        if camera:
            ids = list(camera)
        else:
            hot = [c["id"] for c in choose_demo_cameras(s, n=n)]
            ids = list(dict.fromkeys([*hot, *demo_scene_cameras(s)]))
        rows = set_demo_sources(s, camera_ids=ids)
    for r in rows:
        typer.echo(
            f"camera {r['id']}: {r['name'] or ''} ({r['address'] or ''}) -> {r['stream_url']}"
        )
    typer.echo(
        "record them with: goldentime video record " + " ".join(f"--camera {r['id']}" for r in rows)
    )


@video_app.command()
def status() -> None:
    """Who records what: each camera's lease (holder, host, pid, since, lease age), recorder
    state, last frame, last error and the last gap a take-over left."""
    from geo.db import session_scope
    from geo.video.leases import fleet_status

    with session_scope() as s:
        rows = fleet_status(s)
    if not rows:
        typer.echo("no recorder has run yet")
    for r in rows:
        lease = (
            f"holder={r['holder']} host={r['host']} pid={r['pid']} since={r['since']} "
            f"lease_age={r['lease_age_s']:.1f}s{'' if r['lease_live'] else ' (expired)'}"
            if r["holder"]
            else f"holder=- host={r['host'] or '-'} pid={r['pid'] or '-'}"
        )
        gap = (
            f" gap={r['gap_start']}..{r['gap_end'] or 'open'} from={r['gap_from_holder']}"
            f" recovered={r['gap_recovered']} discarded={len(r['gap_discarded'] or [])}"
            if r["gap_start"] is not None or r["gap_from_holder"]
            else ""
        )
        typer.echo(
            f"camera {r['camera_id']}: {r['state'] or 'claimed'} {lease} "
            f"segments={r['segments'] or 0} last_frame={r['last_frame_at']} "
            f"attempts={r['attempts'] or 0} error={r['last_error'] or '-'}{gap}"
        )


@video_app.command("record")
@domain_errors
def fleet_record(
    camera: list[int] = typer.Option(
        None, "--camera", "-c", help="Cameras to share (default: every camera with a stream_url)."
    ),
    capacity: int = typer.Option(
        200, "--capacity", min=1, max=5000, help="Most cameras this recorder takes."
    ),
    segment_s: float = typer.Option(None, "--segment-s", min=1, help="Segment length (s)."),
    duration_s: float = typer.Option(
        None, "--duration-s", min=0.1, help="Stop after this many seconds (default: until Ctrl-C)."
    ),
    motion: bool = typer.Option(True, "--motion/--no-motion", help="Detect motion events."),
    lease_ttl_s: float = typer.Option(10.0, "--lease-ttl-s", min=2, help="Lease expiry (s)."),
    motion_interval_s: float = typer.Option(
        1.0, "--motion-interval-s", min=0.1, max=60, help="Key frames for motion, every N s."
    ),
) -> None:
    """Join the recorder fleet: claim cameras through leases in PostgreSQL (up to --capacity),
    renew them, take over those of a recorder that died; run one per machine or several."""
    from geo.video.leases import run_fleet

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = run_fleet(
        capacity=capacity,
        pool=list(camera) if camera else None,
        segment_s=segment_s,
        duration_s=duration_s,
        motion=motion,
        ttl_s=lease_ttl_s,
        renew_s=max(0.5, lease_ttl_s / 5),
        motion_interval_s=motion_interval_s,
    )
    for cid, r in sorted(out.items()):
        typer.echo(
            f"camera {cid}: {r['mode'] or '-'} {r['segments']} segments, {r['frames']} frames, "
            f"{r['motion_events']} motion events, {len(r['errors'])} errors"
        )


@video_app.command()
@domain_errors
def purge(dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would go.")) -> None:
    """Delete segments past their camera's retention, except those an active share covers."""
    from geo.db import session_scope
    from geo.video.archive import purge as _purge

    with session_scope() as s:
        out = _purge(s, dry_run=dry_run)
    typer.echo(json.dumps(out))


@domain_errors
def record_cmd(
    camera: list[int] = typer.Option(..., "--camera", "-c", help="Camera id (repeatable)."),
    segment_s: float = typer.Option(None, "--segment-s", min=1, help="Segment length (s)."),
    duration_s: float = typer.Option(
        None, "--duration-s", min=0.1, help="Stop after this many seconds (default: until Ctrl-C)."
    ),
    motion: bool = typer.Option(True, "--motion/--no-motion", help="Detect motion events."),
    processes: int = typer.Option(
        1, "--processes", "-p", min=1, max=64, help="Spread the cameras over N processes."
    ),
) -> None:
    """Record cameras into time segments under GOLDENTIME_VIDEO_DIR, one thread per camera
    (spread over ``--processes`` processes)."""
    from geo.video.recorder import record_processes

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out: dict[int, dict[str, Any]] = record_processes(
        list(camera), processes=processes, segment_s=segment_s, duration_s=duration_s, motion=motion
    )
    for cid, r in out.items():
        errs = f" errors={len(r['errors'])} last={r['errors'][-1]!r}" if r["errors"] else ""
        typer.echo(
            f"camera {cid}: {r['segments']} segments, {r['frames']} frames, "
            f"{r['motion_events']} motion events{errs}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(video_app, name="video")
    app.command("record")(record_cmd)
