"""Headless Chromium: the planner's coverage map draws the camera layer from the service's vector
tiles (``/ogc/collections/{cameras,camera_views}/tiles/...``, with the page's session cookie),
not from cameras embedded in the page, which could not hold a national registry.

Attacks defended: a page that embeds every camera (a megabyte per thousand cameras); a tile
plugin loaded from a CDN (the page must make no request off the machine); a token put into a
tile URL (it would land in access logs); a popup that no longer shows which camera it is.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

YUSEONG = "127.33,36.35,127.36,36.37"
#: Inside YUSEONG, among the sample's crime-prevention cameras.
CENTRE = (36.36, 127.345)
TILES = "/ogc/collections/"

#: The page's map and its vector tile layers (folium names them map_<id>, vector_tiles_<id>).
_FIND = """() => ({
  map: window[Object.keys(window).find((k) => k.startsWith("map_"))],
  layers: Object.keys(window).filter((k) => k.startsWith("vector_tiles_")).map((k) => window[k]),
})"""
#: Every tile layer shown at this zoom has all its tiles in (GridLayer.isLoading).
_SETTLED = f"""() => {{
  const {{ map, layers }} = ({_FIND})();
  return layers.every((l) => map.getZoom() < l.options.minZoom || !l.isLoading());
}}"""
#: What each layer drew: its SVG paths, and the purposes and counts of its drawn features.
_DRAWN = f"""() => {{
  const out = {{}};
  for (const l of ({_FIND})().layers) {{
    const kind = l.options.className.split(" ").pop().replace("gt-tiles-", "");
    const drawn = Object.values(l._vectorTiles || {{}}).flatMap((t) => Object.values(t._features));
    out[kind] = {{
      paths: l.getContainer() ? l.getContainer().querySelectorAll("path").length : 0,
      purposes: [...new Set(drawn.map((d) => d.feature.properties.purpose))],
      counts: drawn.map((d) => d.feature.properties.count || 1),
    }};
  }}
  return out;
}}"""


def _jump(page: Any, lat: float, lon: float, zoom: int) -> dict[str, Any]:
    """Move the map without animation, wait until its tiles are drawn, report what was drawn."""
    page.evaluate(
        f"([lat, lon, z]) => ({_FIND})().map.setView([lat, lon], z, {{ animate: false }})",
        [lat, lon, zoom],
    )
    page.wait_for_function(_SETTLED, timeout=90_000)  # a tile is done once drawn
    return dict(page.evaluate(_DRAWN))


def _open(page: Any, live_server: str, query: str) -> None:
    resp = page.goto(f"{live_server}/api/coverage/map?bbox={YUSEONG}&cell_size_m=200{query}")
    assert resp is not None and resp.status == 200
    page.wait_for_selector(".leaflet-container", timeout=20_000)


@pytest.mark.browser
def test_coverage_map_cameras_come_from_vector_tiles(
    live_server: str, live_login: Any, browser_page: Any
) -> None:
    page = browser_page.page
    tiles: list[tuple[str, int]] = []
    console_errors: list[str] = []
    page.on("response", lambda r: tiles.append((r.url, r.status)) if TILES in r.url else None)
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    live_login(page, "planner", agency="Daejeon Metropolitan City")  # the cookie session
    _open(page, live_server, "&purpose=crime_prevention")
    html = page.content()
    assert "/static/vendor/vectorgrid/Leaflet.VectorGrid.bundled.js" in html

    page.wait_for_function(_SETTLED, timeout=90_000)
    opened = len(tiles)  # the bbox fits about zoom 15: cameras and views
    far = _jump(page, *CENTRE, 12)
    assert far["cameras"]["paths"] > 0, far  # clusters and lone cameras
    assert far["camera_views"]["paths"] == 0  # fields of view only from zoom 14
    assert max(far["cameras"]["counts"]) > 1, far  # at least one circle counts several cameras
    assert not any("/camera_views/" in u for u, _ in tiles[opened:])  # none below its minzoom

    near = _jump(page, *CENTRE, 16)
    assert near["cameras"]["paths"] > 5 and near["camera_views"]["paths"] > 5, near
    # the purpose filter of the page holds for single cameras and views
    assert near["cameras"]["purposes"] == ["crime_prevention"], near
    assert near["camera_views"]["purposes"] == ["crime_prevention"], near

    # every tile came from this server, with the cookie: no token or other query in a tile URL
    assert {u.split(TILES)[1].split("/")[0] for u, _ in tiles} == {"cameras", "camera_views"}
    assert all(u.startswith(live_server + TILES) and "?" not in u for u, _ in tiles), tiles
    assert all(s in (200, 204) for _, s in tiles), tiles
    assert not browser_page.blocked, browser_page.blocked
    assert not browser_page.errors, browser_page.errors
    assert not console_errors, console_errors


@pytest.mark.browser
def test_coverage_map_camera_popup_names_the_camera(
    live_server: str, live_login: Any, browser_page: Any
) -> None:
    page = browser_page.page
    live_login(page, "planner", agency="Daejeon Metropolitan City")
    _open(page, live_server, "")
    _jump(page, *CENTRE, 16)
    dots = page.locator(".gt-tiles-cameras path.leaflet-interactive")
    size = page.viewport_size or {"width": 1280, "height": 720}
    target = None
    for i in range(dots.count()):
        box = dots.nth(i).bounding_box()
        if box and 60 < box["x"] < size["width"] - 360 and 60 < box["y"] < size["height"] - 200:
            target = box
            break
    assert target is not None, "no camera drawn inside the viewport"
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2)
    page.wait_for_selector(".gt-camera-tip", timeout=10_000)
    page.mouse.click(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2)
    popup = page.wait_for_selector(".leaflet-popup .gt-camera", timeout=10_000)
    assert popup is not None
    cid = popup.get_attribute("data-camera-id")
    assert cid and cid.isdigit(), cid
    assert "purpose" in popup.inner_text()
    assert not browser_page.errors, browser_page.errors


def test_coverage_map_embeds_no_camera(planner_client: Any) -> None:
    """The page holds the gap cells and nothing per camera: its polygons are the gap cells."""
    r = planner_client.get(
        "/api/coverage/map", params={"bbox": YUSEONG, "cell_size_m": 200, "k": 0}
    )
    assert r.status_code == 200, r.text[:300]
    gaps = planner_client.get(
        "/api/coverage/gaps", params={"bbox": YUSEONG, "cell_size_m": 200}
    ).json()
    n_cells = len(gaps["features"])
    assert n_cells > 0
    assert r.text.count('"Polygon"') == n_cells
    assert "/ogc/collections/cameras/tiles/{z}/{x}/{y}" in r.text
    assert json.dumps("Bearer")[1:-1] not in r.text  # and never a token


@pytest.fixture
def planner_client(make_user: Any, auth_client: Any) -> Any:
    """The API as a planner (bearer header), from a registered address."""
    return auth_client(make_user("planner-tiles-map", role="planner"))
