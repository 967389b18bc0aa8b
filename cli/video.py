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
        "record them with: goldentime record " + " ".join(f"--camera {r['id']}" for r in rows)
    )


@video_app.command()
def status() -> None:
    """Each camera's recorder state, last frame and last error."""
    from geo.video.recorder import recorder_status

    rows = recorder_status()
    if not rows:
        typer.echo("no recorder has run yet")
    for r in rows:
        typer.echo(
            f"camera {r['camera_id']}: {r['state']} segments={r['segments']} "
            f"last_frame={r['last_frame_at']} attempts={r['attempts']} "
            f"error={r['last_error'] or '-'}"
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
