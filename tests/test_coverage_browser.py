"""The planner's coverage map in headless Chromium: views, gap hexagons and sites render offline."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

YUSEONG = "127.33,36.35,127.36,36.37"
K = 4


def test_coverage_map_renders_offline(live_server: str, live_login: Any, browser_page: Any) -> None:
    page = browser_page.page
    live_login(page, "planner", agency="Daejeon Metropolitan City")  # the cookie session
    resp = page.goto(
        f"{live_server}/api/coverage/map?bbox={YUSEONG}&cell_size_m=100&k={K}"
        f"&purpose=crime_prevention"
    )
    assert resp is not None and resp.status == 200
    page.wait_for_selector(".leaflet-container", timeout=20_000)
    page.wait_for_load_state("networkidle")
    # hexagons + view circles + site circles are SVG paths; the layer control names the layers
    assert page.locator("path.leaflet-interactive").count() > 50
    control = page.locator(".leaflet-control-layers").inner_text()
    assert "Camera views" in control and "Gaps" in control and f"k={K}" in control
    assert browser_page.blocked == []
    assert browser_page.errors == []


def test_coverage_map_refuses_other_roles(
    live_server: str, live_login: Any, browser_page: Any
) -> None:
    page = browser_page.page
    live_login(page, "police")
    resp = page.goto(f"{live_server}/api/coverage/map?bbox={YUSEONG}")
    assert resp is not None and resp.status == 403
    assert browser_page.blocked == []
