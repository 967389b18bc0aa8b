"""The incident map in headless Chromium: it renders, the markers exist, nothing leaves 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.browser

K = 5


def _incident_id(engine: Any) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("select id from incidents where source = 'kr-accidents' order by id limit 1")
            ).scalar_one()
        )


def test_incident_map_renders_offline(
    engine: Any, live_server: str, live_token: Any, browser_page: Any
) -> None:
    page = browser_page.page
    page.set_extra_http_headers({"Authorization": f"Bearer {live_token('police')}"})
    resp = page.goto(f"{live_server}/api/incidents/{_incident_id(engine)}/map?k={K}")
    assert resp is not None and resp.status == 200
    page.wait_for_selector(".leaflet-container", timeout=15_000)
    page.wait_for_load_state("networkidle")
    # the incident and each camera (awesome-markers drop Leaflet's .leaflet-marker-icon class)
    markers = page.locator(".leaflet-marker-pane > *").count()
    assert markers >= 1 + K
    assert page.locator("path.leaflet-interactive").count() >= 2 * K  # view cones and lines
    assert page.locator(".leaflet-tooltip.gt-distance").count() == K  # distance labels
    # a camera popup opens with its video links
    page.locator(".leaflet-marker-pane > .awesome-marker").first.click()
    page.wait_for_selector(".leaflet-popup-content a.gt-live", timeout=5_000)
    assert browser_page.blocked == []
    assert browser_page.errors == []


def test_incident_map_with_cookie_session(
    engine: Any, live_server: str, live_login: Any, browser_page: Any
) -> None:
    """A browser logs in through /api/auth/session: the page opens with the HttpOnly cookie, its
    video links are media links, and no token is in the page or readable by its scripts."""
    page = browser_page.page
    live_login(page, "operator", agency="Yuseong CCTV centre")
    resp = page.goto(f"{live_server}/api/incidents/{_incident_id(engine)}/map")
    assert resp is not None and resp.status == 200
    page.wait_for_selector(".leaflet-marker-pane > *", timeout=15_000)
    page.wait_for_load_state("networkidle")
    assert page.locator(".leaflet-marker-pane > *").count() >= 1 + K
    page.locator(".leaflet-marker-pane > .awesome-marker").first.click()
    link = page.wait_for_selector(".leaflet-popup-content a.gt-live", timeout=5_000)
    href = link.get_attribute("href") if link is not None else ""
    assert href and "?mt=" in href and "access_token" not in href
    assert "gt_session" not in page.evaluate("document.cookie")  # HttpOnly
    assert browser_page.blocked == [] and browser_page.errors == []
