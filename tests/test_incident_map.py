"""Incident map page: the ranked cameras, their cones, distance lines and video links, offline."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.nearest import nearest_cameras


def _incident(session: Session) -> dict[str, Any]:
    row = (
        session.execute(
            text("""select id, st_y(geom) as lat, st_x(geom) as lon from incidents
                where source = 'kr-accidents' order by id limit 1""")
        )
        .mappings()
        .one()
    )
    return dict(row)


@pytest.fixture
def api(make_user: Any, auth_client: Any) -> Any:
    return auth_client(make_user("map-officer"))


def test_incident_map_shows_the_ranked_cameras(session: Session, api: Any) -> None:
    inc = _incident(session)
    r = api.get(f"/api/incidents/{inc['id']}/map")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    cams = nearest_cameras(session, lat=inc["lat"], lon=inc["lon"], k=5)
    for c in cams:  # same cameras as the video request's ranking, each with its video links
        assert f"data-camera-id='{c['id']}'" in page
        assert f"/api/cameras/{c['id']}/live.mjpg" in page
        assert f"/api/cameras/{c['id']}/snapshot.jpg" in page
        assert f"{c['distance_m']:.0f} m" in page
    assert page.count("L.polygon(") == 5 and page.count("L.polyline(") == 5
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", page)  # nothing external
    assert "/static/vendor/leaflet/leaflet.js" in page


def test_incident_map_page_holds_no_bearer_token(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    """Attack: read the bearer token out of a saved map page (or pass it in the URL, where it
    lands in history and logs). The page opens with the cookie session and carries media links
    (minutes, one camera) instead; a token in the query string is refused."""
    from geo.access.tokens import create_token

    user = make_user("map-operator-2", role="operator", agency="Daejeon CCTV Centre")
    tok = create_token(user)[0]
    anon = auth_client(None)
    inc = _incident(session)
    r = anon.get(f"/api/incidents/{inc['id']}/map", params={"k": 3, "access_token": tok})
    assert r.status_code == 401, r.text
    login = anon.post(
        "/api/auth/session", data={"username": "map-operator-2", "password": "test-password"}
    )
    assert login.status_code == 200, login.text
    r = anon.get(f"/api/incidents/{inc['id']}/map", params={"k": 3})
    assert r.status_code == 200, r.text
    assert r.text.count("L.polygon(") == 3
    assert tok not in r.text and "access_token" not in r.text
    assert anon.cookies["gt_session"] not in r.text
    assert r.text.count("live.mjpg?mt=") == 3  # the centre's live monitoring, as media links


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/api/incidents/999999999/map", 404, "incident_id"),
        ("/api/incidents/1/map?k=0", 422, "k"),
        ("/api/incidents/1/map?k=51", 422, "k"),
    ],
)
def test_incident_map_bad_input(api: Any, path: str, status: int, field: str) -> None:
    r = api.get(path)
    assert r.status_code == status, r.text
    assert r.json()["detail"]["field"] == field


def test_incident_map_needs_a_token(client: Any) -> None:
    assert client.get("/api/incidents/1/map").status_code == 401
