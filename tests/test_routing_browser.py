"""The issue's done-when map: a two-sighting track in headless Chromium, nothing leaves 127.0.0.1."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.browser


def _cameras_1km(engine: Any) -> tuple[int, int]:
    with engine.connect() as conn:
        a, b = conn.execute(
            text("""select a.id, b.id from cameras a join cameras b on a.id < b.id
                    where st_y(a.geom) > 59 and st_y(b.geom) > 59
                      and st_distance(a.geom::geography, b.geom::geography) between 750 and 850
                    order by a.id, b.id limit 1""")
        ).one()
    return int(a), int(b)


def test_track_map_renders_offline(
    engine: Any, live_server: str, live_token: Any, browser_page: Any
) -> None:
    a, b = _cameras_1km(engine)
    page = browser_page.page
    page.set_extra_http_headers({"Authorization": f"Bearer {live_token('police')}"})
    q = "&".join(
        f"sighting={quote(s)}"
        for s in (f"{a}@2026-05-01T14:02:00+03:00", f"{b}@2026-05-01T14:07:00+03:00")
    )
    q += "&case_number=2026-101&reason=" + quote("assault suspect: review the cameras between")
    resp = page.goto(f"{live_server}/api/tracks/map?{q}&mode=walk")
    assert resp is not None and resp.status == 200
    page.wait_for_selector(".leaflet-container", timeout=15_000)
    page.wait_for_load_state("networkidle")
    assert page.locator("path.gt-hop").count() == 1  # the feasible hop
    assert page.locator("path.gt-infeasible").count() == 0
    cams = page.locator("path.gt-camera")
    assert cams.count() >= 1  # cameras in between, labelled with their windows
    assert page.locator(".leaflet-marker-pane > *").count() == 2  # the two sightings
    # click a camera well inside the map (one under the zoom control or the attribution, or
    # drawn under a sighting marker, would not get the click)
    box = page.locator(".leaflet-container").bounding_box()
    assert box is not None
    for i in range(cams.count()):
        bb = cams.nth(i).bounding_box()
        if bb is None:
            continue
        x, y = bb["x"] + bb["width"] / 2, bb["y"] + bb["height"] / 2
        if box["x"] + 60 < x < box["x"] + box["width"] - 60 and box["y"] + 90 < y < (
            box["y"] + box["height"] - 40
        ):
            page.mouse.click(x, y)
            if page.locator(".leaflet-popup-content a").count():
                break
    link = page.wait_for_selector(".leaflet-popup-content a", timeout=5_000)
    assert link is not None and "clip.mp4?start=" in (link.get_attribute("href") or "")
    assert browser_page.blocked == []
    assert browser_page.errors == []
