"""The API the console needs beyond the registry: the PostGIS base layer, the stored camera views
in a box, the per-user config (permissions from the one role table), camera search, the audit
chain check. Bad input is a 4xx naming the field."""

from __future__ import annotations

from typing import Any

HELSINKI = "24.940,60.165,24.950,60.172"
YUSEONG = "127.34,36.32,127.36,36.34"


def test_basemap_draws_roads_and_buildings_in_a_bounded_box(
    auth_client: Any, make_user: Any
) -> None:
    c = auth_client(make_user("bm_planner", role="planner", agency="Daejeon Metropolitan City"))
    fc = c.get("/api/basemap", params={"bbox": HELSINKI}).json()
    layers = {f["properties"]["layer"] for f in fc["features"]}
    assert layers == {"road", "building"} and fc["truncated"] is False
    kinds = {f["geometry"]["type"] for f in fc["features"]}
    assert "LineString" in kinds or "MultiLineString" in kinds
    # a whole-country box is refused, naming the field; so is a malformed one
    r = c.get("/api/basemap", params={"bbox": "124,33,132,39"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "bbox"
    r = c.get("/api/basemap", params={"bbox": "24.9,60.1,x,60.2"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "bbox"
    assert c.get("/api/basemap", params={"bbox": HELSINKI, "limit": 0}).status_code == 422
    truncated = c.get("/api/basemap", params={"bbox": HELSINKI, "limit": 3}).json()
    assert len(truncated["features"]) == 3 and truncated["truncated"] is True


def test_basemap_needs_a_signed_in_user(client: Any) -> None:
    assert client.get("/api/basemap", params={"bbox": HELSINKI}).status_code == 401
    assert client.get("/api/config").status_code == 401


def test_camera_views_in_a_box_come_from_the_view_model(
    auth_client: Any, make_user: Any, session: Any
) -> None:
    from sqlalchemy import text

    c = auth_client(make_user("views_officer"))
    fc = c.get("/api/cameras/views", params={"bbox": YUSEONG}).json()
    assert fc["features"]
    f = fc["features"][0]
    assert f["geometry"]["type"] == "MultiPolygon"
    assert {"camera_id", "purpose", "direction_known", "range_m"} <= set(f["properties"])
    stored = session.execute(
        text("select range_m from camera_views where camera_id = :c"), {"c": f["id"]}
    ).scalar_one()
    assert f["properties"]["range_m"] == stored
    r = c.get("/api/cameras/views", params={"bbox": "120,30,130,40"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "bbox"


def test_config_lists_the_roles_permissions_and_never_the_address_ranges(
    auth_client: Any, make_user: Any
) -> None:
    from geo.access.roles import PERMISSIONS

    cfg = auth_client(make_user("cfg_officer")).get("/api/config").json()
    assert cfg["user"]["role"] == "police" and "allowed_cidrs" not in cfg["user"]
    assert set(cfg["permissions"]) == {p for p, roles in PERMISSIONS.items() if "police" in roles}
    assert "video_request" in cfg["permissions"] and "audit_read" not in cfg["permissions"]
    assert "tile_url" in cfg


def test_camera_search_by_name_or_address(auth_client: Any, make_user: Any) -> None:
    c = auth_client(make_user("search_officer"))
    fc = c.get("/api/cameras", params={"q": "옥녀봉"}).json()
    assert fc["total"] >= 1
    assert all(
        "옥녀봉" in ((f["properties"]["name"] or "") + (f["properties"]["address"] or ""))
        for f in fc["features"]
    )
    # wildcards are text, not patterns
    assert c.get("/api/cameras", params={"q": "%"}).json()["total"] == 0
    r = c.get("/api/cameras", params={"q": "x" * 201})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "q"


def test_audit_verify_for_auditors_only_and_recorded(auth_client: Any, make_user: Any) -> None:
    auditor = auth_client(
        make_user("verify_auditor", role="auditor", agency="Daejeon Metropolitan City")
    )
    rep = auditor.get("/api/audit/verify").json()
    assert rep["ok"] is True and rep["checked"] >= 0
    rows = auditor.get("/api/audit", params={"user": "verify_auditor", "action": "export"}).json()
    assert any("verify" in (r["detail"] or {}) for r in rows["records"])
    officer = auth_client(make_user("verify_officer"))
    r = officer.get("/api/audit/verify")
    assert r.status_code == 403 and r.json()["detail"]["message"]


def test_console_page_is_served_without_inline_script(client: Any) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    html = r.text
    assert '<script type="module" src="/static/console/console.js">' in html
    assert "<script>" not in html and " on" + "click=" not in html
    for asset in (
        "/static/console/console.js",
        "/static/console/console.css",
        "/static/vendor/maplibre/maplibre-gl-csp.js",
        "/static/vendor/maplibre/maplibre-gl-csp-worker.js",
    ):
        assert client.get(asset).status_code == 200, asset


def test_camera_points_cover_the_whole_registry_compactly(
    auth_client: Any, make_user: Any, session: Any
) -> None:
    from sqlalchemy import text

    c = auth_client(make_user("points_officer"))
    r = c.get("/api/cameras/points")
    body = r.json()
    n = session.execute(text("select count(*) from cameras")).scalar_one()
    assert body["total"] == n == len(body["id"]) == len(body["lon"]) == len(body["purpose"])
    assert len(r.content) < 60 * n  # compact: tens of bytes a camera, not a GeoJSON feature
    i = body["id"].index(
        session.execute(text("select min(id) from cameras where purpose = 'traffic'")).scalar_one()
    )
    assert body["purposes"][body["purpose"][i]] == "traffic"
    assert set(body["direction_known"]) <= {0, 1}
    assert min(body["lon"]) >= -180 and max(body["lat"]) <= 90


def test_camera_clusters_aggregate_in_the_database(
    auth_client: Any, make_user: Any, session: Any
) -> None:
    from sqlalchemy import text

    c = auth_client(make_user("clusters_officer"))
    world = c.get("/api/cameras/clusters", params={"bbox": "-180,-85,180,85", "zoom": 3}).json()
    n = session.execute(text("select count(*) from cameras")).scalar_one()
    assert world["total"] == n == sum(world["n"])  # every camera counted once
    assert len(world["n"]) < 50  # far out: a handful of circles, not the registry
    close = c.get("/api/cameras/clusters", params={"bbox": YUSEONG, "zoom": 16}).json()
    assert close["n"] and set(close["n"]) == {1}  # close in: single cameras with their ids
    in_box = session.execute(
        text(
            "select count(*) from cameras where geom && st_makeenvelope(127.34, 36.32, 127.36, "
            "36.34, 4326)"
        )
    ).scalar_one()
    assert close["total"] == in_box
    for bad in ({"bbox": YUSEONG, "zoom": 99}, {"bbox": YUSEONG, "zoom": "nan"}):
        r = c.get("/api/cameras/clusters", params=bad)
        assert r.status_code == 422 and r.json()["detail"]["field"] == "zoom", r.text
    r = c.get("/api/cameras/clusters", params={"bbox": "120,30,130,40", "zoom": 16})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "bbox"


def test_every_console_label_exists_in_korean_and_english() -> None:
    """A label missing in one language would show its key to a Korean (or English) user: every
    ``data-i18n`` key of the page and every ``t("...")`` key of the scripts is in both tables."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "maps" / "static" / "console"
    src = (root / "i18n.js").read_text(encoding="utf-8")
    ko_part, en_part = src.split("  en: {", 1)
    key = re.compile(r"^\s{4}(\w+):", re.M)
    ko, en = set(key.findall(ko_part)), set(key.findall(en_part))
    assert ko == en and len(ko) > 100
    used = set(re.findall(r'data-i18n(?:-ph)?="(\w+)"', (root / "index.html").read_text("utf-8")))
    for js in ("console.js", "wall.js", "map.js"):
        used |= set(re.findall(r'\bt\("(\w+)"\)', (root / js).read_text(encoding="utf-8")))
    assert used and used <= ko, sorted(used - ko)
