"""The responder's incident map: the scene, the chosen cameras, their views and the way to video.

The cameras are exactly those :func:`geo.nearest.nearest_cameras` ranks for the incident (the same
ranking the one-click video request uses); their field-of-view cones come from the one view model
(:mod:`geo.views`: the stored, building-clipped ``camera_views`` polygon, else the unobstructed
sector). Built through :mod:`maps.base`, so every asset is served by this machine.
"""

from __future__ import annotations

import html
from typing import Any

import folium
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.roles import has_permission
from geo.access.shares import camera_links, shares_for
from geo.access.tokens import MONITORING
from geo.incidents import get_incident
from geo.models.access import Share, User
from geo.nearest import nearest_cameras
from geo.views import sector_polygon, view_of
from maps.base import new_map, render

INCIDENT_COLOUR = "red"
#: Marker / cone colour by ranking group: sees the point, PTZ can turn, merely near.
GROUP_COLOURS = {"sees": "green", "ptz": "orange", "near": "gray"}
_HEX = {"green": "#2ca25f", "orange": "#f08c00", "gray": "#636363"}


def _fmt(v: Any, unit: str = "", nd: int = 0) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{nd}f}{unit}"
    return f"{v}{unit}"


def _camera_popup(cam: dict[str, Any], links: dict[str, str]) -> str:
    """Popup HTML: the camera's details, why it was chosen, and its video links."""
    cid = int(cam["id"])
    rows = [
        ("rank", cam.get("rank")),
        ("why", cam.get("reason")),
        ("distance", _fmt(cam.get("distance_m"), " m")),
        ("along roads", _fmt(cam.get("network_distance_m"), " m")),
        ("bearing to scene", _fmt(cam.get("bearing_deg"), "°")),
        ("in view", _fmt(cam.get("in_view"))),
        ("pan needed", _fmt(cam.get("pan_deg"), "°")),
        ("line of sight", _fmt(cam.get("line_of_sight"))),
        ("purpose", cam.get("purpose")),
        ("type", cam.get("camera_type") or ("PTZ" if cam.get("ptz") else "unknown")),
        ("heading", _fmt(cam.get("view_heading_deg"), "°")),
        ("field of view", _fmt(cam.get("view_fov_deg"), "°")),
        (
            "range",
            _fmt(cam.get("view_range_m"), " m")
            + (" (default)" if cam.get("view_range_is_default") else ""),
        ),
        ("agency", cam.get("agency")),
        ("address", cam.get("address")),
        ("status", cam.get("status")),
    ]
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:6px'>{html.escape(str(k))}</th>"
        f"<td>{html.escape(str(v if v is not None else 'unknown'))}</td></tr>"
        for k, v in rows
    )
    title = html.escape(str(cam.get("name") or f"camera {cid}"))
    return (
        f"<div class='gt-camera' data-camera-id='{cid}'><b>{title}</b> (#{cid})"
        f"<table style='font-size:12px'>{body}</table>"
        f"<a class='gt-live' href='{html.escape(links['live'])}' "
        f"target='_blank' rel='noopener noreferrer'>live video</a> | "
        f"<a class='gt-snapshot' href='{html.escape(links['snapshot'])}' "
        f"target='_blank' rel='noopener noreferrer'>snapshot</a></div>"
    )


def _incident_popup(inc: dict[str, Any]) -> str:
    rows = [
        ("case", inc.get("case_number")),
        ("kind", inc.get("kind")),
        ("priority", inc.get("priority")),
        ("time", inc.get("occurred_at")),
        ("status", inc.get("status")),
        ("description", inc.get("description")),
    ]
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:6px'>{html.escape(k)}</th>"
        f"<td>{html.escape(str(v if v is not None else ''))}</td></tr>"
        for k, v in rows
    )
    return f"<div class='gt-incident'><b>Incident {inc['id']}</b><table>{body}</table></div>"


def _latlon_ring(geom: BaseGeometry) -> list[list[tuple[float, float]]]:
    """Exterior rings of a (multi)polygon as folium ``[lat, lon]`` lists."""
    polys = getattr(geom, "geoms", [geom])
    return [[(y, x) for x, y in p.exterior.coords] for p in polys if not p.is_empty]


def incident_map(
    incident: dict[str, Any],
    cameras: list[dict[str, Any]],
    *,
    views: dict[int, BaseGeometry] | None = None,
    links: dict[int, dict[str, str]] | None = None,
) -> folium.Map:
    """A folium map of one incident and its ranked cameras.

    ``incident`` and ``cameras`` are the dicts of :func:`geo.incidents.get_incident` and
    :func:`geo.nearest.nearest_cameras`; ``views`` maps camera id to its view polygon (lon/lat),
    computed with :func:`geo.views.sector_polygon` when missing; ``links`` maps camera id to its
    video links (:func:`geo.access.shares.camera_links`, media links for the viewer); plain
    links otherwise. The page never holds the viewer's bearer token.
    """
    ilat, ilon = float(incident["lat"]), float(incident["lon"])
    m = new_map((ilat, ilon), zoom_start=18)
    views = views or {}
    cones = folium.FeatureGroup(name="fields of view").add_to(m)
    lines = folium.FeatureGroup(name="distances").add_to(m)
    marks = folium.FeatureGroup(name="cameras").add_to(m)
    bounds = [(ilat, ilon)]
    for cam in cameras:
        cid = int(cam["id"])
        clat, clon = float(cam["lat"]), float(cam["lon"])
        colour = GROUP_COLOURS[str(cam.get("group", "near"))]
        geom = views.get(cid) or sector_polygon(clon, clat, view_of(cam))
        for ring in _latlon_ring(geom):
            folium.Polygon(
                ring,
                color=_HEX[colour],
                weight=1,
                fill=True,
                fill_opacity=0.15,
                tooltip=f"view of camera {cid}",
            ).add_to(cones)
        label = f"#{cam.get('rank', '')} {cam['distance_m']:.0f} m"
        if cam.get("network_distance_m") is not None:
            label += f" ({cam['network_distance_m']:.0f} m by road)"
        folium.PolyLine(
            [(clat, clon), (ilat, ilon)],
            color=_HEX[colour],
            weight=2,
            dash_array="6 4",
            tooltip=folium.Tooltip(label, permanent=True, sticky=False, class_name="gt-distance"),
        ).add_to(lines)
        folium.Marker(
            (clat, clon),
            popup=folium.Popup(
                _camera_popup(cam, (links or {}).get(cid) or camera_links(cid)), max_width=340
            ),
            tooltip=f"#{cam.get('rank', '')} {cam.get('name') or cid}: {cam.get('reason', '')}",
            icon=folium.Icon(color=colour, icon="video", prefix="fa"),
        ).add_to(marks)
        bounds.append((clat, clon))
    folium.Marker(
        (ilat, ilon),
        popup=folium.Popup(_incident_popup(incident), max_width=300),
        tooltip=f"incident {incident['id']} ({incident.get('kind', '')})",
        icon=folium.Icon(color=INCIDENT_COLOUR, icon="exclamation-triangle", prefix="fa"),
    ).add_to(m)
    if len(bounds) > 1:
        m.fit_bounds(
            [
                [min(b[0] for b in bounds), min(b[1] for b in bounds)],
                [max(b[0] for b in bounds), max(b[1] for b in bounds)],
            ],
            padding=(30, 30),
            max_zoom=19,
        )
    folium.LayerControl(collapsed=True).add_to(m)
    return m


def stored_views(session: Session, camera_ids: list[int]) -> dict[int, BaseGeometry]:
    """The stored (building-clipped) view polygons of ``camera_ids`` from ``camera_views``."""
    if not camera_ids:
        return {}
    rows = session.execute(
        text("select camera_id, st_asbinary(geom) from camera_views where camera_id = any(:ids)"),
        {"ids": list(camera_ids)},
    ).all()
    return {int(cid): shapely.from_wkb(bytes(wkb)) for cid, wkb in rows}


def viewer_links(
    session: Session, *, user: User, camera_ids: list[int], incident_id: int | None = None
) -> dict[int, dict[str, str]]:
    """Each camera's video links for ``user``: media links (``?mt=``) through the active share
    granted to them that holds the camera (this incident's first), else the centre's live
    monitoring for a role that may monitor; plain links (header or cookie) otherwise. The gate
    decides again when a link is opened."""
    active = shares_for(session, user, status="active")
    active.sort(key=lambda s: s.incident_id != incident_id)  # stable: this incident first
    out: dict[int, dict[str, str]] = {}
    for cid in camera_ids:
        share: Share | str | None = next((s for s in active if cid in s.camera_ids), None)
        if share is None and has_permission(user.role, "monitor_live"):
            share = MONITORING
        out[cid] = camera_links(cid, user=user, share=share)
    return out


def build_incident_map(
    session: Session, *, incident_id: int, k: int = 5, user: User | None = None
) -> str:
    """The incident map page (HTML) for ``incident_id`` with its ``k`` best cameras; video links
    are media links for ``user`` (:func:`viewer_links`), never the bearer token."""
    inc = get_incident(session, incident_id)
    cams = nearest_cameras(session, lat=float(inc["lat"]), lon=float(inc["lon"]), k=k)
    ids = [int(c["id"]) for c in cams]
    views = stored_views(session, ids)
    links = (
        viewer_links(session, user=user, camera_ids=ids, incident_id=incident_id)
        if user is not None
        else None
    )
    return render(incident_map(inc, cams, views=views, links=links))
