"""Headless Chromium: the console's camera layer comes from the vector tiles
(``/ogc/collections/cameras/tiles/{z}/{x}/{y}``, sent with the session cookie), clusters far
out and single clickable cameras close in, with no request leaving the machine."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

#: The demo accident in Yuseong (Daejeon), among the bundled sample's cameras.
DEMO_LON, DEMO_LAT = 127.34798556, 36.332281
TILES = "/ogc/collections/cameras/tiles/"


def _jump(page: Any, lon: float, lat: float, zoom: float) -> list[dict[str, Any]]:
    page.evaluate("([lon, lat, z]) => window.__gt.jump(lon, lat, z)", [lon, lat, zoom])
    return list(page.evaluate("() => window.__gt.renderedCameras()"))


def test_console_camera_layer_loads_from_vector_tiles(
    live_server: str, live_login: Any, browser_page: Any
) -> None:
    page = browser_page.page
    answers: list[tuple[str, int]] = []
    page.on("response", lambda r: answers.append((r.url, r.status)) if TILES in r.url else None)
    live_login(page, "police")  # the cookie session: tiles carry no token in their URL
    page.goto(f"{live_server}/")
    page.wait_for_function("() => window.__gt && window.__gt.painted === true", timeout=60_000)
    far = _jump(page, DEMO_LON, DEMO_LAT, 9)
    assert any(f["layer"] == "clusters" and f["count"] > 1 for f in far), far[:5]
    assert sum(f["count"] for f in far) > 1000  # Daejeon's registry, in a few circles
    near = _jump(page, DEMO_LON, DEMO_LAT, 16.5)
    points = [f for f in near if f["layer"] == "camera-points" and f["id"]]
    assert points, near[:5]
    assert not any(f["layer"] == "clusters" for f in near)
    # the tiles were asked from this server with the cookie, and answered
    assert len(answers) >= 2, answers
    assert all(u.startswith(live_server + TILES) for u, _ in answers)
    assert all(s in (200, 204) for _, s in answers), answers
    # clicking a camera still opens its details
    box = page.locator("#map canvas").bounding_box()
    cam = next(
        f for f in points if 20 < f["x"] < box["width"] - 20 and 20 < f["y"] < box["height"] - 20
    )
    page.mouse.click(box["x"] + cam["x"], box["y"] + cam["y"])
    page.wait_for_selector(f"#camera-details[data-camera-id='{cam['id']}']", timeout=15_000)
    assert not browser_page.blocked, browser_page.blocked
    assert not browser_page.errors, browser_page.errors
