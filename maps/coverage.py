"""The planner's coverage map: camera views, the incident gap choropleth and proposed sites.

Built with folium through :mod:`maps.base` (local assets only, no tiles unless configured). Colours
are computed here per feature, so no colormap script (branca's pulls d3 from a CDN) is needed.
Served by the API, the cameras and their views come from the vector tiles (:mod:`maps.tiles`),
so the page's size does not grow with the registry; a notebook (no server) embeds the views.
"""

from __future__ import annotations

import html
from typing import Any

import folium

from maps.base import new_map
from maps.tiles import CLUSTER_COLOUR, VIEW_COLOUR, add_camera_tiles

#: Sequential colours for the gap score (light to dark red), in :func:`gap_colour` bins.
GAP_COLOURS = ("#fee5d9", "#fcbba1", "#fc9272", "#fb6a4a", "#de2d26", "#a50f15")
SITE_COLOUR = "#31a354"
SITES_PANE = "gtSites"


def gap_colour(score: float, max_score: float) -> str:
    """Colour of a gap score on a six-step scale relative to the largest score shown."""
    if max_score <= 0 or score <= 0:
        return GAP_COLOURS[0]
    i = min(len(GAP_COLOURS) - 1, int(len(GAP_COLOURS) * score / (max_score + 1e-9)))
    return GAP_COLOURS[i]


def _center(
    bbox: tuple[float, float, float, float] | None, features: list[dict[str, Any]]
) -> tuple[float, float]:
    if bbox is not None:
        return ((bbox[1] + bbox[3]) / 2, (bbox[0] + bbox[2]) / 2)
    pts = [
        (f["properties"]["lat"], f["properties"]["lon"])
        for f in features
        if "lat" in f.get("properties", {})
    ]
    if pts:
        return (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
    return (36.35, 127.38)


def coverage_map(
    *,
    views: dict[str, Any] | None = None,
    gaps: dict[str, Any] | None = None,
    siting: dict[str, Any] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    zoom_start: int = 14,
    title: str = "Camera coverage",
    camera_tiles: str | None = None,
    purposes: list[str] | None = None,
) -> folium.Map:
    """A folium map with up to three layers: camera views (GeoJSON FeatureCollection from
    :func:`geo.coverage.views_geojson`), the gap grid (:func:`geo.coverage.gaps_geojson`) and
    proposed sites (:func:`geo.siting.site_cameras` output).

    With ``camera_tiles`` (the tiles' prefix, e.g. ``/ogc/collections``) the cameras and their
    views are vector tiles of this server instead (:func:`maps.tiles.add_camera_tiles`, only
    ``purposes`` when given) and ``views`` is not drawn: the page holds no camera."""
    view_feats = (views or {}).get("features", [])
    m = new_map(_center(bbox, view_feats), zoom_start=zoom_start)
    if bbox is not None:
        m.fit_bounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]])

    if gaps and gaps.get("features"):
        max_score = max(float(f["properties"]["gap_score"]) for f in gaps["features"])

        def _gap_style(feature: dict[str, Any]) -> dict[str, Any]:
            s = float(feature["properties"]["gap_score"])
            return {
                "fillColor": gap_colour(s, max_score),
                "color": "#999999",
                "weight": 0.3,
                "fillOpacity": 0.65 if s > 0 else 0.15,
            }

        folium.GeoJson(
            gaps,
            name=f"Gaps (H3 res {gaps.get('resolution')}, uncovered incidents)",
            style_function=_gap_style,
            tooltip=folium.GeoJsonTooltip(
                fields=["incidents", "covered_incidents", "gap_score", "covered_fraction"],
                aliases=["incidents", "covered", "gap score", "covered fraction"],
            ),
        ).add_to(m)

    if camera_tiles is not None:
        add_camera_tiles(m, prefix=camera_tiles, purposes=purposes)
    elif view_feats:
        folium.GeoJson(
            views,
            name="Camera views",
            style_function=lambda f: {
                "color": VIEW_COLOUR,
                "weight": 0.8,
                "fillColor": VIEW_COLOUR,
                "fillOpacity": 0.25 if f["properties"].get("direction_known") else 0.12,
                "dashArray": None if f["properties"].get("direction_known") else "3",
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["id", "purpose", "range_m", "direction_known"],
                aliases=["camera", "purpose", "range m", "direction known"],
            ),
        ).add_to(m)

    if siting and siting.get("sites"):
        # above the camera tiles' pane: the few proposals stay visible over a city of cameras
        folium.map.CustomPane(SITES_PANE, z_index=460, pointer_events=True).add_to(m)
        layer = folium.FeatureGroup(name=f"Proposed sites (k={siting.get('k')})")
        r = float(siting.get("radius_m", 50))
        for s in siting["sites"]:
            folium.Circle(
                location=(s["lat"], s["lon"]),
                radius=r,
                color=SITE_COLOUR,
                weight=2,
                fill=True,
                fill_opacity=0.2,
                pane=SITES_PANE,
            ).add_to(layer)
            folium.CircleMarker(
                location=(s["lat"], s["lon"]),
                radius=5,
                color="#006d2c",
                fill=True,
                fill_opacity=1.0,
                tooltip=f"site {s['rank']}: +{s['marginal_gain']:g} incidents",
                pane=SITES_PANE,
            ).add_to(layer)
        layer.add_to(m)

    folium.LayerControl(collapsed=False).add_to(m)
    cameras_row = (
        f"<span style='color:{VIEW_COLOUR}'>&#9679;</span> camera "
        f"(<span style='color:{CLUSTER_COLOUR}'>&#9679;</span> far out: how many)<br>"
        if camera_tiles is not None
        else ""
    )
    legend = (
        "<div style='position:fixed;bottom:20px;left:20px;z-index:9999;background:white;"
        "padding:6px 8px;font:12px sans-serif;border:1px solid #999'>"
        f"<b>{html.escape(title)}</b><br>"
        f"<span style='color:{VIEW_COLOUR}'>&#9632;</span> camera view "
        f"(dashed: direction unknown)<br>{cameras_row}"
        f"<span style='color:{GAP_COLOURS[-1]}'>&#9632;</span> gap: incidents not covered<br>"
        f"<span style='color:{SITE_COLOUR}'>&#9679;</span> proposed site</div>"
    )
    m.get_root().html.add_child(folium.Element(legend))  # type: ignore[attr-defined]
    return m
