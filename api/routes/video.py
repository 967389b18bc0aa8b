"""Video egress: snapshots, live MJPEG, archive clips, privacy masks and motion alerts.

Every video route asks THE access gate (:func:`geo.access.gate.authorize_video`) first; the gate writes
the ``view`` (or ``denied``) audit record, and the route commits it before the first byte leaves.
Every frame that leaves goes through :func:`geo.video.privacy.egress_filter` (masks, face blur).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import cv2
import numpy as np
from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Claims, ClientIP, CurrentUser, MediaClaims, SessionDep, media_route
from api.validation import FiniteFloat, Int32Id, SafeStr, SaneDatetime
from geo.access import gate as access
from geo.access import streams
from geo.access.audit import engine_of
from geo.cameras import get_camera
from geo.errors import Unavailable
from geo.settings import get_settings
from geo.times import aware
from geo.video import archive, privacy
from geo.video.motion import rank_alerts
from geo.video.recorder import recorder_status
from geo.video.sources import Source, open_source

router = APIRouter(tags=["video"])

BOUNDARY = "frame"
JPEG_QUALITY = 85


def _jpeg(frame: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover
        raise Unavailable("cannot encode JPEG", field="frame")
    return buf.tobytes()


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@router.get(
    "/api/cameras/{camera_id:int}/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
@media_route("snapshot")
def snapshot(
    camera_id: Int32Id,
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
    media: MediaClaims,
    at: SaneDatetime | None = Query(
        None, description="time of the frame (ISO 8601; no offset = KST); omitted: the live frame"
    ),
) -> Response:
    """One JPEG frame, live or from the archive at ``at``, masked (and faces blurred per share)."""
    at = aware(at, field="at")
    share = access.authorize_video(  # no time: the live frame; else the archive's at ``at``
        session,
        user=user,
        client_ip=ip,
        camera_id=camera_id,
        action="snapshot",
        live=at is None,
        start=at,
        end=at,
        media=media,
    )
    session.commit()  # the view record is durable before any byte leaves
    filt = privacy.egress_filter(session, camera_id=camera_id, share=share)
    if at is None:
        with open_source(get_camera(session, camera_id)["stream_url"]) as src:
            src_ts, frame = src.read_now()
    else:
        src_ts, frame = archive.frame_at(session, camera_id=camera_id, at=at)
    return Response(
        _jpeg(filt(frame)),
        media_type="image/jpeg",
        headers={"Cache-Control": "no-store", "X-Frame-Time": _iso(src_ts)},
    )


def _mjpeg(
    src: Source,
    filt: privacy.FrameFilter,
    *,
    until: float,
    max_fps: float,
    still_ok: Callable[[], bool] | None = None,
    recheck_s: float = 2.0,
) -> Iterator[bytes]:
    """Multipart JPEG parts at most ``max_fps`` per second until ``until`` (``time.time()``);
    every ``recheck_s`` asks ``still_ok`` (the gate: share, user, address) and ends when it says
    no, so a revoke, an expiry or a disabled user stops the stream within seconds."""
    min_gap = 1.0 / max_fps
    last = 0.0
    next_check = time.monotonic() + recheck_s
    try:
        while time.time() < until:
            if still_ok is not None and time.monotonic() >= next_check:
                if not still_ok():
                    return
                next_check = time.monotonic() + recheck_s
            try:
                _ts, frame = src.read()
            except (EOFError, Unavailable):
                return
            now = time.time()
            if now - last < min_gap:
                continue
            last = now
            jpg = _jpeg(filt(frame))
            yield (
                (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n"
                ).encode()
                + jpg
                + b"\r\n"
            )
    finally:
        src.close()


@router.get("/api/cameras/{camera_id:int}/live.mjpg", response_class=StreamingResponse)
@media_route("live")
def live(
    camera_id: Int32Id,
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
    media: MediaClaims,
    claims: Claims,
    fps: float | None = Query(
        None, gt=0, le=30, description="frame-rate cap (default GOLDENTIME_LIVE_MAX_FPS)"
    ),
    max_s: float | None = Query(None, gt=0, le=86_400, description="stop after this many seconds"),
) -> StreamingResponse:
    """Live MJPEG (``multipart/x-mixed-replace``), masked; checked at start and again every
    ``GOLDENTIME_LIVE_RECHECK_S`` (2 s): it ends when the share is revoked or expires, the user is
    disabled or loses the address, the login behind the request (or its media link) logs out
    (or after ``GOLDENTIME_LIVE_MAX_S``)."""
    s = get_settings()
    share = access.authorize_video(
        session,
        user=user,
        client_ip=ip,
        camera_id=camera_id,
        action="live",
        live=True,
        media=media,
    )
    session.commit()
    filt = privacy.egress_filter(session, camera_id=camera_id, share=share)
    url = get_camera(session, camera_id)["stream_url"]
    until = time.time() + min(max_s or s.live_max_s, s.live_max_s)
    if share.id is not None:  # a real share ends the stream when it expires
        until = min(until, share.expires_at.timestamp())
    engine = engine_of(session)
    login_id = claims.get("login_id")

    def still_ok() -> bool:  # runs in the stream's thread, in a fresh short session
        why = streams.still_allowed(
            engine,
            share_id=share.id,
            user_id=user.id,
            camera_id=camera_id,
            client_ip=ip,
            login_id=login_id,
        )
        if why is not None:
            streams.end_stream(
                engine,
                user_id=user.id,
                username=user.username,
                role=user.role,
                client_ip=ip,
                share_id=share.id,
                camera_id=camera_id,
                reason=why,
            )
        return why is None

    src = open_source(url)  # unreachable -> 503 before any byte
    return StreamingResponse(
        _mjpeg(
            src,
            filt,
            until=until,
            max_fps=min(fps or s.live_max_fps, s.live_max_fps),
            still_ok=still_ok,
            recheck_s=s.live_recheck_s,
        ),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={
            "Cache-Control": "no-store",
            "X-Share-Expires": _iso(dt.datetime.fromtimestamp(until, dt.UTC)),
        },
    )


@router.get(
    "/api/cameras/{camera_id:int}/clip.mp4",
    response_class=Response,
    responses={200: {"content": {"video/mp4": {}}}},
)
@media_route("clip")
def clip(
    camera_id: Int32Id,
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
    media: MediaClaims,
    start: Annotated[SaneDatetime, Query(description="ISO 8601 (no offset = KST)")],
    end: Annotated[
        SaneDatetime, Query(description="ISO 8601; at most GOLDENTIME_MAX_CLIP_S after start")
    ],
) -> Response:
    """An MP4 (H.264 when available) of ``[start, end)`` cut from the archive, masked."""
    start, end = archive.check_clip_window(start, end)
    share = access.authorize_video(
        session,
        user=user,
        client_ip=ip,
        camera_id=camera_id,
        action="clip",
        start=start,
        end=end,
        media=media,
    )
    session.commit()
    filt = privacy.egress_filter(session, camera_id=camera_id, share=share)
    c = archive.cut_clip(session, camera_id=camera_id, start=start, end=end, transform=filt)
    try:
        data = c.path.read_bytes()
    finally:
        c.path.unlink(missing_ok=True)
    name = f"camera{camera_id}_{start.strftime('%Y%m%dT%H%M%SZ')}.mp4"
    return Response(
        data,
        media_type="video/mp4",
        headers={
            "Content-Disposition": f'inline; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Clip-Start": _iso(c.start),
            "X-Clip-End": _iso(c.end),
            "X-Clip-Frames": str(c.frames),
            "X-Clip-Codec": c.codec,
        },
    )


#: One mask vertex ``[x, y]`` in image pixels (finite: NaN was a 500).
MaskPoint = tuple[FiniteFloat, FiniteFloat]


class MaskIn(BaseModel):
    """A privacy mask: a polygon in image pixels and an optional label."""

    model_config = ConfigDict(extra="forbid")

    points: list[MaskPoint] = Field(min_length=3, max_length=privacy.MAX_POINTS)
    label: SafeStr | None = None


def _centre_camera(session: Any, *, user: Any, ip: str, camera_id: int, action: str) -> None:
    """Masks are control-centre business: operator/admin from a registered address, known camera."""
    access.authorize(
        session, user=user, client_ip=ip, permission="centre", action=action, camera_ids=[camera_id]
    )
    get_camera(session, camera_id)


@router.get("/api/cameras/{camera_id:int}/masks")
def get_masks(
    camera_id: Int32Id, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """The camera's privacy mask polygons (image pixels); operator/admin only."""
    _centre_camera(session, user=user, ip=ip, camera_id=camera_id, action="masks_read")
    return {"camera_id": camera_id, "masks": privacy.get_masks(session, camera_id=camera_id)}


@router.put("/api/cameras/{camera_id:int}/masks")
def put_masks(
    camera_id: Int32Id,
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
    masks: list[MaskIn] = Body(
        ...,
        embed=True,
        max_length=privacy.MAX_MASKS,
        description='[{"points": [[x, y], ...], "label": "window"}, ...] in image pixels',
    ),
) -> dict[str, Any]:
    """Replace the camera's privacy masks; operator/admin only."""
    plain = [m.model_dump() for m in masks]
    access.authorize(
        session,
        user=user,
        client_ip=ip,
        permission="centre",
        action="masks_edit",
        record="masks_edit",
        camera_ids=[camera_id],
        detail={"masks": [{"label": m.get("label"), "points": m.get("points")} for m in plain]},
    )
    get_camera(session, camera_id)
    stored = privacy.set_masks(session, camera_id=camera_id, masks=plain, user=user.username)
    return {"camera_id": camera_id, "masks": stored}


@router.get("/api/alerts")
def alerts(
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
    since_s: int = Query(24 * 3600, ge=1, le=30 * 86400, description="look back this far"),
    camera_id: Int32Id | None = Query(None),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """Motion alerts ranked for the operator: near open incidents and recent first, with why."""
    access.authorize(session, user=user, client_ip=ip, permission="centre", action="alerts")
    rows = rank_alerts(session, since_s=since_s, camera_id=camera_id, limit=limit)
    for r in rows:
        r["at"], r["until_at"] = _iso(r["at"]), _iso(r["until_at"])
    return {
        "alerts": rows,
        "count": len(rows),
        "ranking": "0.45*proximity + 0.35*recency + 0.20*motion; proximity = 0.5^(distance "
        "to nearest open incident / 200 m), recency = 0.5^(age / 600 s)",
    }


@router.get("/api/video/status")
def video_status(session: SessionDep, user: CurrentUser, ip: ClientIP) -> dict[str, Any]:
    """Each recorded camera's state (recording, retrying, stopped), last frame and last error,
    with the extent of its archive; operator/admin only."""
    access.authorize(session, user=user, client_ip=ip, permission="centre", action="video_status")
    rows = recorder_status(session)
    for r in rows:
        ext = archive.archive_extent(session, camera_id=r["camera_id"])
        r["archive"] = {"start": _iso(ext[0]), "end": _iso(ext[1])} if ext else None
    return {"cameras": rows, "count": len(rows)}
