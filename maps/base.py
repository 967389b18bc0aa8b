"""Offline folium maps: every script and stylesheet points at ``/static/vendor`` on this server.

Folium and its plugins reference CDNs by default, which fail on an offline control-centre
network. :func:`new_map` swaps them for the vendored copies, :func:`localize` does the same for
any plugin added to a map, and :func:`render` refuses to return a page that would still reach
off the machine.
"""

from __future__ import annotations

import re
from typing import Any

import folium

from geo.errors import GoldentimeError
from geo.settings import get_settings

STATIC = "/static/vendor"

# Local replacement for every asset name folium or its plugins declare.
LOCAL_ASSETS: dict[str, str] = {
    "leaflet": f"{STATIC}/leaflet/leaflet.js",
    "leaflet_css": f"{STATIC}/leaflet/leaflet.css",
    "jquery": f"{STATIC}/jquery/jquery.min.js",
    "bootstrap": f"{STATIC}/bootstrap/bootstrap.bundle.min.js",
    "bootstrap_css": f"{STATIC}/bootstrap/bootstrap.min.css",
    "glyphicons_css": f"{STATIC}/glyphicons-stub.css",
    "awesome_markers": f"{STATIC}/awesome-markers/leaflet.awesome-markers.js",
    "awesome_markers_css": f"{STATIC}/awesome-markers/leaflet.awesome-markers.css",
    "awesome_markers_font_css": f"{STATIC}/fontawesome/css/all.min.css",
    "awesome_rotate_css": f"{STATIC}/awesome-rotate.css",
    "markerclusterjs": f"{STATIC}/markercluster/leaflet.markercluster.js",
    "markerclustercss": f"{STATIC}/markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": f"{STATIC}/markercluster/MarkerCluster.Default.css",
    "leaflet-heat.js": f"{STATIC}/heat/leaflet_heat.min.js",
    "polylinetextpath": f"{STATIC}/textpath/leaflet.textpath.js",
    "vectorGrid": f"{STATIC}/vectorgrid/Leaflet.VectorGrid.bundled.js",
}

_EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.I)


class OfflineAssetError(GoldentimeError):
    """A map element references an asset with no local copy."""

    status_hint = 500


def localize(element: Any) -> Any:
    """Point ``element``'s declared JS/CSS at the vendored copies (in place); returns it."""
    for attr in ("default_js", "default_css"):
        assets = getattr(element, attr, None)
        if not assets:
            continue
        local = []
        for name, url in assets:
            if name not in LOCAL_ASSETS:
                raise OfflineAssetError(f"no local copy of map asset {name!r} ({url})")
            local.append((name, LOCAL_ASSETS[name]))
        setattr(element, attr, local)
    return element


def new_map(location: tuple[float, float], zoom_start: int = 16, **kwargs: Any) -> folium.Map:
    """A folium Map with local assets; base tiles only when ``GOLDENTIME_TILE_URL`` is configured."""
    s = get_settings()
    tiles: Any = None
    attr = None
    if s.tile_url:
        tiles, attr = s.tile_url, s.tile_attribution
    m = folium.Map(
        location=list(location),
        zoom_start=zoom_start,
        tiles=tiles,
        attr=attr,
        control_scale=True,
        **kwargs,
    )
    localize(m)
    return m


def render(m: folium.Map) -> str:
    """The page's HTML, after checking that no script or stylesheet is loaded from off the machine."""
    for child in _walk(m):
        localize(child)
    html = m.get_root().render()
    bad = _EXTERNAL.findall(html)
    if bad:
        raise OfflineAssetError(f"map page still references external assets: {bad[:3]}")
    return html


def _walk(el: Any) -> list[Any]:
    out = [el]
    for child in getattr(el, "_children", {}).values():
        out.extend(_walk(child))
    return out
