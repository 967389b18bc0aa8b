"""The first API: health, cameras by bbox with paging, incidents by time/kind, offline docs."""

from __future__ import annotations

from typing import Any


def _get(client: Any, url: str, **kw: Any) -> Any:
    return client.get(url, **kw)


def test_health_reports_counts(client: Any) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["counts"]["cameras"] >= 2201
    assert body["postgis"].startswith("3.")


def test_cameras_bbox_returns_real_daejeon_cameras(api: Any) -> None:
    r = api.get("/api/cameras", params={"bbox": "127.30,36.30,127.40,36.40", "limit": 50})
    assert r.status_code == 200
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 50
    assert fc["total"] > 300
    for f in fc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert 127.30 <= lon <= 127.40 and 36.30 <= lat <= 36.40
    page2 = api.get(
        "/api/cameras", params={"bbox": "127.30,36.30,127.40,36.40", "limit": 50, "offset": 50}
    ).json()
    assert not {f["id"] for f in fc["features"]} & {f["id"] for f in page2["features"]}


def test_camera_by_id_and_unknown(api: Any) -> None:
    fc = api.get("/api/cameras", params={"limit": 1}).json()
    cid = fc["features"][0]["id"]
    one = api.get(f"/api/cameras/{cid}").json()
    assert one["id"] == cid and one["properties"]["source"]
    r = api.get("/api/cameras/999999999")
    assert r.status_code == 404 and r.json()["detail"]["field"] == "camera_id"


def test_bad_bbox_is_422_naming_field(api: Any) -> None:
    for bad in ("1,2,3", "a,b,c,d", "127,36,126,37", "200,0,201,1"):
        r = api.get("/api/cameras", params={"bbox": bad})
        assert r.status_code == 422, bad
        assert r.json()["detail"]["field"] == "bbox"
    r = api.get("/api/cameras", params={"limit": 0})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "limit"


def test_incidents_filters(api: Any) -> None:
    r = api.get(
        "/api/incidents",
        params={
            "kind": "traffic",
            "start": "2021-12-01T00:00:00+09:00",
            "end": "2022-01-01T00:00:00+09:00",
            "limit": 1000,
        },
    )
    assert r.status_code == 200
    fc = r.json()
    assert 0 < fc["total"] < 400
    assert all(f["properties"]["occurred_at"] >= "2021-11-30T15:00:00" for f in fc["features"])
    r = api.get("/api/incidents", params={"start": "not-a-time"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "start"
    r = api.get("/api/incidents", params={"kind": "alien"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "kind"


def test_docs_page_uses_local_assets(client: Any) -> None:
    html = client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "cdn." not in html
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").status_code == 200


import pytest  # noqa: E402


@pytest.fixture
def api(make_user: Any, auth_client: Any) -> Any:
    """A client with a token: every /api route requires one."""
    return auth_client(make_user("planner_foundation", role="planner", agency="Daejeon"))


def test_stream_url_hidden_from_non_admins(session: Any, make_user: Any, auth_client: Any) -> None:
    from sqlalchemy import text

    cid = session.execute(text("select id from cameras order by id limit 1")).scalar_one()
    session.execute(
        text("update cameras set stream_url = 'rtsp://user:secret@10.0.0.9/s1' where id = :i"),
        {"i": cid},
    )
    officer = auth_client(make_user("viewer_p", role="police"))
    body = officer.get(f"/api/cameras/{cid}").json()["properties"]
    assert body["stream_url"] is None and body["has_stream"] is True
    admin = auth_client(make_user("viewer_a", role="admin"))
    assert admin.get(f"/api/cameras/{cid}").json()["properties"]["stream_url"].startswith("rtsp://")
