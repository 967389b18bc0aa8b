"""Security headers on every answer, written as the attacks: framing the console (clickjacking),
a script injected into a JSON or image answer, a page leaking its URL to another site."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.video.sources import demo_stream_url

HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def check(resp: Any, *, inline: bool, api: bool = True) -> dict[str, list[str]]:
    for k, v in HEADERS.items():
        assert resp.headers.get(k) == v, (k, resp.headers.get(k))
    csp = _directives(resp.headers["content-security-policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["img-src"][:3] == ["'self'", "data:", "blob:"]
    assert ("'unsafe-inline'" in csp["script-src"]) is inline
    if api:
        assert "no-store" in resp.headers["cache-control"]
    return csp


@pytest.fixture
def officer_client(make_user: Any, auth_client: Any) -> Any:
    return auth_client(make_user("hdr-officer", role="operator", agency="Daejeon CCTV Centre"))


def test_json_answer_headers(officer_client: Any) -> None:
    r = officer_client.get("/api/auth/me")
    assert r.status_code == 200
    check(r, inline=False)


def test_error_answers_carry_them_too(client: Any) -> None:
    r = client.get("/api/auth/me")
    assert r.status_code == 401
    check(r, inline=False)


def test_map_page_headers(session: Session, officer_client: Any) -> None:
    inc = session.execute(text("select id from incidents order by id limit 1")).scalar_one()
    r = officer_client.get(f"/api/incidents/{inc}/map", params={"k": 2})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    csp = check(r, inline=True)  # folium's pages are inline scripts
    assert "'unsafe-inline'" in csp["style-src"]


def test_image_and_stream_answer_headers(session: Session, officer_client: Any) -> None:
    cam = session.execute(text("select id from cameras order by id limit 1")).scalar_one()
    session.execute(
        text("update cameras set stream_url = :u where id = :c"),
        {"u": demo_stream_url(), "c": cam},
    )
    r = officer_client.get(f"/api/cameras/{cam}/snapshot.jpg")  # the centre monitors live
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    check(r, inline=False)
    with officer_client.stream("GET", f"/api/cameras/{cam}/live.mjpg?max_s=1") as resp:
        assert resp.status_code == 200
        check(resp, inline=False)
        assert next(resp.iter_bytes()).startswith(b"--frame")  # still streams


def test_docs_and_console_pages(client: Any) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    check(r, inline=True, api=False)  # Swagger UI starts with an inline script
    r = client.get("/")
    assert r.status_code == 200
    check(r, inline=False, api=False)  # the console: files only, no inline script
    r = client.get("/health")
    check(r, inline=False, api=False)


def test_tile_host_is_allowed_for_images_only_when_configured(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo.settings import get_settings

    assert "tile" not in client.get("/health").headers["content-security-policy"]
    monkeypatch.setattr(get_settings(), "tile_url", "https://{s}.tile.example.org/{z}/{x}/{y}.png")
    csp = _directives(client.get("/health").headers["content-security-policy"])
    assert "https://*.tile.example.org" in csp["img-src"]
    assert "https://*.tile.example.org" in csp["connect-src"]
    assert "https://*.tile.example.org" not in csp["script-src"]


def test_a_route_keeps_its_own_cache_control() -> None:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from fastapi.testclient import TestClient

    from api.main import SecurityHeaders

    app = FastAPI()
    app.add_middleware(SecurityHeaders)

    @app.get("/api/cached")
    def cached() -> JSONResponse:
        return JSONResponse({}, headers={"Cache-Control": "private, max-age=60"})

    @app.get("/api/plain")
    def plain() -> dict[str, str]:
        return {}

    with TestClient(app) as c:
        assert c.get("/api/cached").headers["cache-control"] == "private, max-age=60"
        assert c.get("/api/plain").headers["cache-control"] == "no-store"


@pytest.mark.browser
def test_pages_work_under_the_csp_in_chromium(
    engine: Any, live_server: str, live_login: Any, browser_page: Any
) -> None:
    """Swagger UI and a folium map page render in Chromium with the CSP on, and Chromium reports
    no refused script, style or image."""
    page = browser_page.page
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    live_login(page, "operator", agency="Daejeon CCTV Centre")
    resp = page.goto(f"{live_server}/docs")
    assert resp is not None and resp.status == 200 and resp.headers["content-security-policy"]
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    with engine.connect() as conn:
        inc = conn.execute(text("select id from incidents order by id limit 1")).scalar_one()
    resp = page.goto(f"{live_server}/api/incidents/{inc}/map?k=3")
    assert resp is not None and resp.status == 200
    page.wait_for_selector(".leaflet-marker-pane > *", timeout=15_000)
    page.wait_for_load_state("networkidle")
    assert refused == [] and browser_page.errors == [] and browser_page.blocked == []
