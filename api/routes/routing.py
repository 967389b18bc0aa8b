"""``/api/routes``, ``/api/tracks``, ``/api/reachable``: routes, sighting tracks and "where could
they be now" on the road network (see :mod:`geo.routing`), with cameras and review windows.

Following a person's movements is investigative work: every call names the ``case_number`` and
the ``reason``, and asks the gate once (:func:`geo.access.gate.authorize_trace`: permission
``trace``, a registered address, audited as ``trace``) before anything is computed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.deps import ClientIP, CurrentUser, SessionDep
from api.validation import Int32Id, SaneDatetime, SpeedKph
from geo import routing
from geo.access.gate import authorize_trace
from geo.errors import InvalidInput

router = APIRouter(prefix="/api", tags=["routing"])


class PlaceIn(BaseModel):
    """A point (``lat``/``lon``, WGS84) or a camera (``camera_id``)."""

    model_config = ConfigDict(extra="forbid")

    lat: float | None = Field(None, ge=-90, le=90, examples=[60.1699])
    lon: float | None = Field(None, ge=-180, le=180, examples=[24.9414])
    camera_id: Int32Id | None = Field(None, examples=[1981])

    @model_validator(mode="after")
    def _one_of(self) -> PlaceIn:
        has_point = self.lat is not None and self.lon is not None
        if self.camera_id is None and not has_point:
            raise ValueError("give lat and lon, or camera_id")
        if self.camera_id is not None and (self.lat is not None or self.lon is not None):
            raise ValueError("give lat/lon or camera_id, not both")
        return self

    def place(self) -> routing.Place:
        return routing.Place(lon=self.lon, lat=self.lat, camera_id=self.camera_id)


class SpeedRangeIn(BaseModel):
    """Plausible speeds (km/h): walk defaults 3-7; drive clamps posted speeds to 5-130."""

    model_config = ConfigDict(extra="forbid")

    min_kph: SpeedKph | None = None
    max_kph: SpeedKph | None = None


#: Printable text without control characters (NUL included).
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
CASE_DOC = "the case this tracing is for (audited with every call)"
REASON_DOC = "why this tracing is needed (audited with every call)"


class CaseIn(BaseModel):
    """What every tracing call must state: the case and the reason (both audited)."""

    model_config = ConfigDict(extra="forbid")

    case_number: str = Field(
        ...,
        min_length=1,
        max_length=64,
        pattern=_PRINTABLE,
        description=CASE_DOC,
        examples=["2026-101"],
    )
    reason: str = Field(
        ...,
        min_length=3,
        max_length=500,
        pattern=_PRINTABLE,
        description=REASON_DOC,
        examples=["suspect of the assault at Yuseong station, seen on camera 1981"],
    )


class RouteIn(CaseIn):
    from_: PlaceIn = Field(..., alias="from")
    to: PlaceIn
    mode: Literal["walk", "drive"] = "walk"
    depart_at: SaneDatetime | None = Field(
        None, description="ISO 8601 with time zone; now if omitted"
    )
    speed_range: SpeedRangeIn | None = None

    model_config = {"populate_by_name": True}


class SightingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera_id: Int32Id
    seen_at: SaneDatetime = Field(..., description="ISO 8601 with time zone")


MAX_SIGHTINGS = 100


class TrackIn(CaseIn):
    sightings: list[SightingIn] = Field(..., min_length=2, max_length=MAX_SIGHTINGS)
    mode: Literal["walk", "drive"] = "walk"
    speed_range: SpeedRangeIn | None = None


class ReachableIn(CaseIn):
    lat: float | None = Field(None, ge=-90, le=90, examples=[60.1699])
    lon: float | None = Field(None, ge=-180, le=180, examples=[24.9414])
    camera_id: Int32Id | None = None
    at: SaneDatetime | None = Field(None, description="when they were there (ISO 8601, with zone)")
    mode: Literal["walk", "drive"] = "walk"
    max_minutes: float = Field(10, gt=0, le=180)
    speed_range: SpeedRangeIn | None = None

    @model_validator(mode="after")
    def _where(self) -> ReachableIn:
        if self.camera_id is None and (self.lat is None or self.lon is None):
            raise ValueError("give lat and lon, or camera_id")
        return self


def _speeds(sr: SpeedRangeIn | None) -> dict[str, float | None]:
    return {"min_kph": sr.min_kph if sr else None, "max_kph": sr.max_kph if sr else None}


def _feature(geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def route_geojson(res: dict[str, Any]) -> dict[str, Any]:
    """A route result as a FeatureCollection: the line (with the summary) then camera points."""
    props = {k: v for k, v in res.items() if k not in ("geometry",)}
    feats = [_feature(res["geometry"], kind="route", **props)]
    for c in res["cameras_along"]:
        feats.append(
            _feature({"type": "Point", "coordinates": [c["lon"], c["lat"]]}, kind="camera", **c)
        )
    return {"type": "FeatureCollection", "features": feats, **{k: v for k, v in props.items()}}


def track_geojson(res: dict[str, Any]) -> dict[str, Any]:
    feats = [
        _feature(
            res["geometry"],
            kind="trajectory",
            feasible=res["feasible"],
            length_m=res["length_m"],
            mode=res["mode"],
        )
    ]
    for i, h in enumerate(res["hops"]):
        feats.append(
            _feature(
                h["geometry"],
                kind="hop",
                hop=i,
                **{k: v for k, v in h.items() if k not in ("geometry",)},
            )
        )
    for s in res["sightings"]:
        feats.append(
            _feature({"type": "Point", "coordinates": [s["lon"], s["lat"]]}, kind="sighting", **s)
        )
    return {
        "type": "FeatureCollection",
        "features": feats,
        **{k: v for k, v in res.items() if k != "geometry"},
    }


def reachable_geojson(res: dict[str, Any]) -> dict[str, Any]:
    feats = [
        _feature(p["geometry"], kind="isochrone", minutes=p["minutes"]) for p in res["isochrones"]
    ]
    for c in res["cameras"]:
        feats.append(
            _feature({"type": "Point", "coordinates": [c["lon"], c["lat"]]}, kind="camera", **c)
        )
    return {"type": "FeatureCollection", "features": feats, **res}


def _trace(
    session: Any, user: Any, ip: str, body: CaseIn, *, kind: str, camera_ids: list[int]
) -> None:
    """The one gate call of a tracing route (role, address, case, reason; audited)."""
    authorize_trace(
        session,
        user=user,
        client_ip=ip,
        kind=kind,
        case_number=body.case_number,
        reason=body.reason,
        mode=getattr(body, "mode", None),
        camera_ids=camera_ids,
    )
    session.commit()  # the trace record is durable before the answer is computed


def _cams(*ids: int | None) -> list[int]:
    return [i for i in ids if i is not None]


def _route(session: Any, body: RouteIn) -> dict[str, Any]:
    return routing.find_route(
        session,
        origin=body.from_.place(),
        destination=body.to.place(),
        mode=body.mode,
        depart_at=body.depart_at,
        min_kph=body.speed_range.min_kph if body.speed_range else None,
        max_kph=body.speed_range.max_kph if body.speed_range else None,
    )


def _route_cams(body: RouteIn) -> list[int]:
    return _cams(body.from_.camera_id, body.to.camera_id)


def _track_cams(body: TrackIn) -> list[int]:
    return [s.camera_id for s in body.sightings]


def _track(session: Any, body: TrackIn) -> dict[str, Any]:
    return routing.track(
        session,
        sightings=[(s.camera_id, s.seen_at) for s in body.sightings],
        mode=body.mode,
        **_speeds(body.speed_range),
    )


def _reachable(session: Any, body: ReachableIn) -> dict[str, Any]:
    origin = routing.Place(lon=body.lon, lat=body.lat, camera_id=body.camera_id)
    return routing.reachable(
        session,
        origin=origin,
        at=body.at,
        mode=body.mode,
        max_minutes=body.max_minutes,
        min_kph=body.speed_range.min_kph if body.speed_range else None,
        max_kph=body.speed_range.max_kph if body.speed_range else None,
    )


@router.post("/routes")
def post_route(
    body: RouteIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """The route between two points or cameras as GeoJSON: ``length_m``, ``travel_time_s`` and
    ``cameras_along`` (in order, ``distance_along_m``, review window ``expected_from``..
    ``expected_to`` at the fastest and slowest plausible speed, playback link). Permission
    ``trace``, a case number and a reason; audited."""
    _trace(session, user, ip, body, kind="route", camera_ids=_route_cams(body))
    return route_geojson(_route(session, body))


@router.post("/tracks")
def post_track(
    body: TrackIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """Reconstruct a trajectory from sightings: per hop the route, required speed, feasibility
    (an infeasible hop is an answer: ``feasible: false`` and the ``reason``), and the cameras
    between with the windows to review. Permission ``trace``, a case number and a reason;
    audited."""
    _trace(session, user, ip, body, kind="track", camera_ids=_track_cams(body))
    return track_geojson(_track(session, body))


@router.post("/reachable")
def post_reachable(
    body: ReachableIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """Where could they be now: every reachable camera with earliest arrival and review window,
    and isochrone polygons (1, 3, 5, 10 minutes, and ``max_minutes``). Permission ``trace``, a
    case number and a reason; audited."""
    _trace(session, user, ip, body, kind="reachable", camera_ids=_cams(body.camera_id))
    return reachable_geojson(_reachable(session, body))


@router.post("/routes/map", response_class=HTMLResponse)
def post_route_map(
    body: RouteIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> HTMLResponse:
    """The route on a map (local assets only): path, cameras with their review windows."""
    from maps.routing import route_map

    _trace(session, user, ip, body, kind="route_map", camera_ids=_route_cams(body))
    return HTMLResponse(route_map(_route(session, body)))


@router.post("/tracks/map", response_class=HTMLResponse)
def post_track_map(
    body: TrackIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> HTMLResponse:
    """The reconstructed trajectory on a map: sightings, hops (red when infeasible), cameras."""
    from maps.routing import track_map

    _trace(session, user, ip, body, kind="track_map", camera_ids=_track_cams(body))
    return HTMLResponse(track_map(_track(session, body)))


@router.post("/reachable/map", response_class=HTMLResponse)
def post_reachable_map(
    body: ReachableIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> HTMLResponse:
    """Isochrones and reachable cameras on a map."""
    from maps.routing import reachable_map

    _trace(session, user, ip, body, kind="reachable_map", camera_ids=_cams(body.camera_id))
    return HTMLResponse(reachable_map(_reachable(session, body)))


@router.get("/tracks/map", response_class=HTMLResponse)
def get_track_map(
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
    case_number: str = Query(
        ..., min_length=1, max_length=64, pattern=_PRINTABLE, description=CASE_DOC
    ),
    reason: str = Query(
        ..., min_length=3, max_length=500, pattern=_PRINTABLE, description=REASON_DOC
    ),
    sighting: list[str] = Query(
        ...,
        description="camera_id@ISO-time, two or more, in order",
        examples=[["1981@2026-05-01T14:02:00+03:00"]],
    ),
    mode: Literal["walk", "drive"] = "walk",
) -> HTMLResponse:
    """The track map as a plain link (``?sighting=ID@TIME&sighting=ID@TIME``), for browsers."""
    from maps.routing import track_map

    items = []
    for i, s in enumerate(sighting):
        cam, sep, when = s.partition("@")
        try:
            items.append(SightingIn(camera_id=int(cam), seen_at=dt.datetime.fromisoformat(when)))
        except ValueError:
            raise InvalidInput("expected camera_id@ISO-time", field=f"sighting.{i}") from None
        if not sep:
            raise InvalidInput("expected camera_id@ISO-time", field=f"sighting.{i}")
    if len(items) < 2:
        raise InvalidInput("a track needs at least two sightings", field="sighting")
    if len(items) > MAX_SIGHTINGS:
        raise InvalidInput(f"at most {MAX_SIGHTINGS} sightings", field="sighting")
    body = TrackIn(sightings=items, mode=mode, case_number=case_number, reason=reason)
    _trace(session, user, ip, body, kind="track_map", camera_ids=_track_cams(body))
    return HTMLResponse(track_map(_track(session, body)))
