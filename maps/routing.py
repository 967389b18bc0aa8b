"""The investigator's maps: a route, a reconstructed track, a reachable set (see geo.routing).

Built with folium through :mod:`maps.base` (local assets only). Cameras are labelled with their
review windows; each window links to the recording playback (served through the access gate).
"""

from __future__ import annotations

import html
from typing import Any

import folium

from maps.base import new_map, render

ROUTE_COLOUR = "#2b8cbe"
INFEASIBLE_COLOUR = "#de2d26"
CAMERA_COLOUR = "#31a354"
ISO_COLOURS = ("#fee391", "#fec44f", "#fe9929", "#ec7014", "#cc4c02", "#8c2d04")


def _latlon(coords: list[list[float]]) -> list[tuple[float, float]]:
    return [(c[1], c[0]) for c in coords]


def _time(s: str) -> str:
    return s[11:19] if len(s) >= 19 else s


def _camera_popup(c: dict[str, Any], extra: str = "") -> str:
    link = html.escape(c["playback"])
    return (
        f"<b>camera {c['camera_id']}</b>{extra}<br>"
        f"review {html.escape(_time(c['expected_from']))} - {html.escape(_time(c['expected_to']))}"
        f" ({c['review_s']:.0f} s)<br>"
        f'<a href="{link}" target="_blank">play recording</a>'
    )


def _camera(m: Any, c: dict[str, Any], extra: str = "") -> None:
    folium.CircleMarker(
        location=(c["lat"], c["lon"]),
        radius=6,
        color=CAMERA_COLOUR,
        fill=True,
        fill_opacity=0.9,
        tooltip=f"camera {c['camera_id']}: {_time(c['expected_from'])}-{_time(c['expected_to'])}",
        popup=folium.Popup(_camera_popup(c, extra), max_width=320),
        class_name=f"gt-camera gt-camera-{c['camera_id']}",
    ).add_to(m)


def _fit(m: Any, coords: list[tuple[float, float]]) -> None:
    if coords:
        lats = [c[0] for c in coords]
        lons = [c[1] for c in coords]
        m.fit_bounds([(min(lats), min(lons)), (max(lats), max(lons))])


def route_map(res: dict[str, Any]) -> str:
    """HTML of a route: the path, start/end, cameras along it with their review windows."""
    line = _latlon(res["geometry"]["coordinates"])
    m = new_map(line[0] if line else (0.0, 0.0), zoom_start=16)
    folium.PolyLine(
        line,
        color=ROUTE_COLOUR,
        weight=5,
        tooltip=f"{res['mode']}: {res['length_m']:.0f} m, {res['travel_time_s'] / 60:.1f} min",
        class_name="gt-route",
    ).add_to(m)
    for c in res["cameras_along"]:
        _camera(m, c, f" at {c['distance_along_m']:.0f} m")
    _fit(m, line)
    return render(m)


def track_map(res: dict[str, Any]) -> str:
    """HTML of a track: sightings, each hop (red when infeasible), cameras between with windows."""
    coords = _latlon(res["geometry"]["coordinates"])
    m = new_map(coords[0] if coords else (0.0, 0.0), zoom_start=16)
    for i, h in enumerate(res["hops"]):
        colour = ROUTE_COLOUR if h["feasible"] else INFEASIBLE_COLOUR
        speed = h["required_speed_kph"]
        tip = (
            f"hop {i + 1}: {h['length_m']:.0f} m in {h['elapsed_s']:.0f} s"
            + (f", {speed:.1f} km/h" if speed is not None else "")
            + ("" if h["feasible"] else f" - infeasible: {h['reason']}")
        )
        folium.PolyLine(
            _latlon(h["geometry"]["coordinates"]),
            color=colour,
            weight=5,
            tooltip=tip,
            class_name="gt-hop" + ("" if h["feasible"] else " gt-infeasible"),
        ).add_to(m)
        for c in h["cameras_between"]:
            _camera(m, c, f" (hop {i + 1}, {c['distance_along_m']:.0f} m)")
    for j, s in enumerate(res["sightings"]):
        folium.Marker(
            location=(s["lat"], s["lon"]),
            tooltip=f"sighting {j + 1}: camera {s['camera_id']} at {_time(s['seen_at'])}",
            icon=folium.Icon(color="red" if j == 0 else "darkred", icon="eye", prefix="fa"),
        ).add_to(m)
    _fit(m, coords)
    return render(m)


def reachable_map(res: dict[str, Any]) -> str:
    """HTML of a reachable set: isochrones (largest first) and reachable cameras."""
    o = res["origin"]
    m = new_map((o["lat"], o["lon"]), zoom_start=15)
    isos = sorted(res["isochrones"], key=lambda p: -p["minutes"])
    for k, p in enumerate(isos):
        colour = ISO_COLOURS[min(len(ISO_COLOURS) - 1, len(isos) - 1 - k)]
        folium.GeoJson(
            {"type": "Feature", "geometry": p["geometry"], "properties": {"minutes": p["minutes"]}},
            style_function=lambda _f, c=colour: {
                "color": c,
                "fillColor": c,
                "fillOpacity": 0.35,
                "weight": 1,
            },
            tooltip=f"within {p['minutes']:g} min",
        ).add_to(m)
    for c in res["cameras"]:
        _camera(m, c, f", earliest {c['earliest_arrival_s'] / 60:.1f} min")
    folium.Marker(location=(o["lat"], o["lon"]), tooltip=f"last seen {_time(res['at'])}").add_to(m)
    return render(m)
