"""Vector tiles (``/ogc/collections/{id}/tiles/{z}/{x}/{y}``), written as the attacks and the
mistakes they must withstand: a stream URL leaking into a tile, clusters that lose or double
count cameras, a forbidden collection revealed by its tiles, personal data read without an
audit record, tile coordinates that crash the server, caches that share one role's tile with
another. Tiles are decoded with ``mapbox-vector-tile`` (an independent MVT reader)."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import tiles
from geo.features.collections import CAMERAS
from geo.models.core import CAMERA_PURPOSES

MVT = "application/vnd.mapbox-vector-tile"
#: The demo accident in Yuseong (Daejeon), among the bundled sample's cameras.
DAEJEON = (127.34798556, 36.332281)
#: Helsinki centre (OSM sample: roads, buildings, cameras).
HELSINKI = (24.9445, 60.1694)
#: Half the Web Mercator world's width in metres (EPSG:3857).
HALF_WORLD_M = 20037508.342789244


def xyz(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile holding a WGS84 position."""
    n = 2**z
    r = math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n)


def decode(body: bytes) -> dict[str, Any]:
    return mapbox_vector_tile.decode(body) if body else {}


def features(body: bytes, layer: str = "cameras") -> list[dict[str, Any]]:
    return decode(body).get(layer, {}).get("features", [])


def cameras_in_tile(session: Session, z: int, x: int, y: int) -> dict[str, int]:
    """Cameras per purpose whose position falls in tile z/x/y (half-open), counted directly."""
    rows = session.execute(
        text(
            """
            select purpose, count(*) from cameras
            where floor((st_x(geom) + 180) / 360 * :n) = :x
              and floor((1 - asinh(tan(radians(st_y(geom)))) / pi()) / 2 * :n) = :y
            group by purpose"""
        ),
        {"n": 2.0**z, "x": x, "y": y},
    ).all()
    return {p: int(k) for p, k in rows}


@pytest.fixture
def admin(make_user: Any, auth_client: Any) -> Any:
    return auth_client(make_user("tiles-admin", role="admin"))


def test_camera_tiles_never_carry_stream_urls(session: Session, admin: Any) -> None:
    secret = "rtsp://operator:hunter2@10.0.0.5/stream"
    cam = session.execute(
        text(
            "select id, st_x(geom), st_y(geom), heading_deg from cameras"
            " where source = 'kr-standard' order by id limit 1"
        )
    ).one()
    session.execute(
        text("update cameras set stream_url = :u where id = :c"), {"u": secret, "c": cam[0]}
    )
    seen = False
    for z in (6, 10, 14, 16, 18):  # clusters, then single cameras (admin may see stream URLs)
        x, y = xyz(cam[1], cam[2], z)
        r = admin.get(f"/ogc/collections/cameras/tiles/{z}/{x}/{y}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == MVT
        assert b"hunter2" not in r.content and b"rtsp" not in r.content
        for f in features(r.content):
            assert "stream_url" not in f["properties"]
            if f["properties"].get("id") == cam[0] and z >= 14:
                seen = True
                assert f["id"] == cam[0]
                assert f["properties"]["purpose"] in CAMERA_PURPOSES
                # what the console draws, no more: details come from /api/cameras/{id}
                assert set(f["properties"]) == {"id", "purpose", "direction_known"}
                assert f["properties"]["direction_known"] is (cam[3] is not None)
    assert seen
    tj = admin.get("/ogc/collections/cameras/tiles").json()
    assert "stream_url" not in tj["vector_layers"][0]["fields"]
    # the TileJSON names the fields the tiles carry (points and clusters), nothing else
    assert set(tj["vector_layers"][0]["fields"]) == {
        "id",
        "purpose",
        "direction_known",
        "count",
        *(f"n_{k}" for k in CAMERA_PURPOSES),
    }


@pytest.mark.parametrize("z", [4, 6, 8, 10, 12, 13])
def test_clusters_count_every_camera_of_the_tile_once(session: Session, z: int) -> None:
    x, y = xyz(*DAEJEON, z)
    truth = cameras_in_tile(session, z, x, y)
    body = tiles.tile(session, collection="cameras", z=z, x=x, y=y, role="planner")
    feats = features(body)
    assert sum(f["properties"]["count"] for f in feats) == sum(truth.values()) > 0
    for p in CAMERA_PURPOSES:  # the purpose breakdown adds up too
        assert sum(f["properties"][f"n_{p}"] for f in feats) == truth.get(p, 0)
    assert len(feats) <= tiles.GRID**2  # a tile stays small whatever the registry's size
    for f in feats:
        props = f["properties"]
        assert props["purpose"] in CAMERA_PURPOSES
        assert ("id" in props) == (props["count"] == 1)  # a lone camera stays clickable
        px, py = f["geometry"]["coordinates"]
        assert 0 <= px <= tiles.EXTENT and 0 <= py <= tiles.EXTENT
    # neighbours share nothing: the four children of the tile hold exactly its cameras
    if z < 13:
        kids = [
            tiles.tile(
                session, collection="cameras", z=z + 1, x=2 * x + i, y=2 * y + j, role="planner"
            )
            for i in (0, 1)
            for j in (0, 1)
        ]
        assert sum(f["properties"]["count"] for k in kids for f in features(k)) == sum(
            truth.values()
        )


def test_dense_index_clusters_equal_the_sql_clusters(session: Session) -> None:
    """The in-memory index (national scale) and SQL cut the same cells from committed rows."""
    idx = tiles.camera_index(session)
    assert idx is not None
    spec = tiles.TILED["cameras"]
    for z in (5, 9, 11, 13):
        x, y = xyz(*DAEJEON, z)
        assert idx.count(z, x, y) == sum(cameras_in_tile(session, z, x, y).values())
        fast = features(tiles._encode_cells(session, "cameras", idx.cells(z, x, y), spec))
        slow = features(tiles._cluster_tile(session, CAMERAS, spec, z=z, x=x, y=y))
        assert len(fast) == len(slow) > 0

        def key(f: dict[str, Any]) -> tuple[int, ...]:
            p = f["properties"]
            counts = (p["count"], *(p[f"n_{k}"] for k in CAMERA_PURPOSES), p.get("id") or 0)
            return (*counts, *f["geometry"]["coordinates"])

        for a, b in zip(sorted(fast, key=key), sorted(slow, key=key), strict=True):
            assert a["properties"] == b["properties"]
            for ca, cb in zip(
                a["geometry"]["coordinates"], b["geometry"]["coordinates"], strict=True
            ):
                assert abs(ca - cb) <= 1  # the mean position, to a tile unit


def test_a_crowded_tile_at_the_points_zoom_stays_clustered(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A city centre of a national registry holds thousands of cameras per zoom-14 tile: past
    MAX_TILE_POINTS the tile keeps its clusters (still every camera counted once)."""
    z, (x, y) = 14, xyz(*DAEJEON, 14)
    truth = sum(cameras_in_tile(session, z, x, y).values())
    single = features(tiles.tile(session, collection="cameras", z=z, x=x, y=y, role="admin"))
    assert len(single) == truth and all("count" not in f["properties"] for f in single)
    monkeypatch.setattr(tiles, "MAX_TILE_POINTS", truth - 1)
    crowded = features(tiles.tile(session, collection="cameras", z=z, x=x, y=y, role="admin"))
    assert len(crowded) < truth
    assert sum(f["properties"]["count"] for f in crowded) == truth


def test_a_load_rebuilds_the_index(session: Session) -> None:
    idx = tiles.camera_index(session)
    assert idx is not None and tiles.camera_index(session) is idx  # kept between tiles
    session.execute(
        text(
            "insert into data_loads (kind, fmt, path, sha256, rows_read, inserted, updated, "
            "unchanged, rejected) values ('cameras', 'csv', 'x', 'y', 0, 0, 0, 0, 0)"
        )
    )
    # this transaction's own load is not committed: the index cannot serve it, SQL does
    assert tiles.camera_index(session) is None
    z, (x, y) = 6, xyz(*DAEJEON, 6)
    body = tiles.tile(session, collection="cameras", z=z, x=x, y=y, role="admin")
    assert sum(f["properties"]["count"] for f in features(body)) == sum(
        cameras_in_tile(session, z, x, y).values()
    )


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("23/0/0", 404, "z"),
        ("-1/0/0", 404, "z"),
        ("3/8/0", 404, "x"),
        ("3/0/8", 404, "y"),
        ("0/0/-1", 404, "y"),
        ("22/4194304/0", 404, "x"),
        ("99999999999999999999999/0/0", 404, "z"),
        ("3/x/0", 400, "x"),
        ("3/1.5/0", 400, "x"),
        ("abc/0/0", 400, "z"),
    ],
)
def test_bad_tile_coordinates_are_refused_naming_the_parameter(
    admin: Any, path: str, status: int, field: str
) -> None:
    r = admin.get(f"/ogc/collections/cameras/tiles/{path}")
    assert r.status_code == status, r.text
    assert r.json()["detail"]["field"] == field


def test_forbidden_collection_answers_like_an_unknown_one_and_is_audited(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    officer = auth_client(make_user("tiles-officer", role="police"))
    unknown = officer.get("/ogc/collections/nothing/tiles/0/0/0")
    hidden = officer.get("/ogc/collections/coverage_gaps/tiles/0/0/0")  # planners only
    assert unknown.status_code == hidden.status_code == 404
    assert hidden.json()["detail"]["field"] == "collectionId"
    assert officer.get("/ogc/collections/coverage_gaps/tiles").status_code == 404
    denied = (
        session.execute(
            text(
                "select detail from audit_log where username = 'tiles-officer' and action = 'denied'"
            )
        )
        .scalars()
        .all()
    )
    assert any(d.get("collection") == "coverage_gaps" for d in denied)
    # a planner reads coverage gaps as features, but they have no tiles (computed per request)
    planner = auth_client(make_user("tiles-planner", role="planner", agency=None))
    r = planner.get("/ogc/collections/coverage_gaps/tiles/0/0/0")
    assert r.status_code == 404 and "items" in r.json()["detail"]["message"]


def test_incident_tiles_are_audited_and_hide_case_numbers_from_planners(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    from geo.incidents import create_incident

    inc = create_incident(
        session, kind="police", lat=DAEJEON[1], lon=DAEJEON[0], case_number="2026-TILE-1"
    )
    z, (x, y) = 16, xyz(*DAEJEON, 16)
    planner = auth_client(make_user("tiles-planner2", role="planner", agency=None))
    officer = auth_client(make_user("tiles-officer2", role="police"))
    for client, name, sees_case in (
        (planner, "tiles-planner2", False),
        (officer, "tiles-officer2", True),
    ):
        r = client.get(f"/ogc/collections/incidents/tiles/{z}/{x}/{y}")
        assert r.status_code == 200, r.text
        mine = [f for f in features(r.content, "incidents") if f["id"] == inc["id"]]
        assert len(mine) == 1
        assert ("case_number" in mine[0]["properties"]) is sees_case
        rows = (
            session.execute(
                text("select detail from audit_log where username = :u and action = 'view'"),
                {"u": name},
            )
            .scalars()
            .all()
        )
        assert any(
            d.get("access") == "vector_tiles" and d.get("tile") == f"{z}/{x}/{y}" for d in rows
        )
    # clusters at low zoom: counts only
    z, (x, y) = 8, xyz(*DAEJEON, 8)
    feats = features(
        planner.get(f"/ogc/collections/incidents/tiles/{z}/{x}/{y}").content, "incidents"
    )
    assert sum(f["properties"]["count"] for f in feats) >= 1
    assert all("case_number" not in f["properties"] for f in feats)


def test_cache_headers_etag_and_empty_tiles(admin: Any) -> None:
    z, (x, y) = 14, xyz(*DAEJEON, 14)
    url = f"/ogc/collections/cameras/tiles/{z}/{x}/{y}"
    r = admin.get(url)
    assert r.status_code == 200
    cc = r.headers["cache-control"]
    assert "private" in cc and "max-age=" in cc and "public" not in cc  # per role: never shared
    assert "Authorization" in r.headers["vary"]
    etag = r.headers["etag"]
    again = admin.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    # the middle of the Pacific: no camera, an empty tile
    empty = admin.get("/ogc/collections/cameras/tiles/10/10/500")
    assert empty.status_code == 204 and not empty.content
    assert "private" in empty.headers["cache-control"]


def test_lines_and_polygons_from_their_minzoom(admin: Any) -> None:
    z, (x, y) = 15, xyz(*HELSINKI, 15)
    roads = features(admin.get(f"/ogc/collections/roads/tiles/{z}/{x}/{y}").content, "roads")
    assert roads and all(f["geometry"]["type"] in ("LineString", "MultiLineString") for f in roads)
    assert any(f["properties"].get("highway") for f in roads)
    blds = admin.get(f"/ogc/collections/buildings/tiles/{z}/{x}/{y}")
    assert blds.status_code == 200, blds.text
    assert all("Polygon" in f["geometry"]["type"] for f in features(blds.content, "buildings"))
    z, (x, y) = 16, xyz(*DAEJEON, 16)
    views = features(
        admin.get(f"/ogc/collections/camera_views/tiles/{z}/{x}/{y}").content, "camera_views"
    )
    assert views and all(
        "Polygon" in f["geometry"]["type"] and f["properties"]["camera_id"] for f in views
    )
    # below the minzoom: an empty tile, not a city's every road
    z, (x, y) = 8, xyz(*HELSINKI, 8)
    assert admin.get(f"/ogc/collections/roads/tiles/{z}/{x}/{y}").status_code == 204


def test_tilejson_describes_the_layer(admin: Any) -> None:
    r = admin.get("/ogc/collections/cameras/tiles")
    assert r.status_code == 200 and "private" in r.headers["cache-control"]
    tj = r.json()
    assert tj["tilejson"] == "3.0.0" and tj["scheme"] == "xyz"
    assert tj["tiles"][0].endswith("/ogc/collections/cameras/tiles/{z}/{x}/{y}")
    layer = tj["vector_layers"][0]
    assert layer["id"] == "cameras" and layer["fields"]["count"] == "Number"
    assert 0 <= tj["minzoom"] <= tj["maxzoom"] <= tiles.MAX_ZOOM


def test_tiles_need_a_token_and_a_registered_address(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    assert auth_client(None).get("/ogc/collections/cameras/tiles/0/0/0").status_code == 401
    far = auth_client(make_user("tiles-far", role="admin"), ip="10.9.9.9")
    assert far.get("/ogc/collections/cameras/tiles/0/0/0").status_code == 403


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin is not installed")
def test_gdal_reads_a_tile_where_it_belongs(session: Session, tmp_path: Path) -> None:
    """GDAL's MVT driver (a reader no one here wrote) finds every camera of the tile, placed
    inside the tile's Web Mercator bounds."""
    z, (x, y) = 14, xyz(*DAEJEON, 14)
    body = tiles.tile(session, collection="cameras", z=z, x=x, y=y, role="auditor")
    path = tmp_path / str(z) / str(x) / f"{y}.pbf"  # GDAL takes z/x/y from the path
    path.parent.mkdir(parents=True)
    path.write_bytes(body)
    out = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", str(path)], capture_output=True, text=True, check=True
    ).stdout
    count = int(re.search(r"Feature Count: (\d+)", out).group(1))  # type: ignore[union-attr]
    assert count == sum(cameras_in_tile(session, z, x, y).values()) > 0
    nums = re.search(r"Extent: \(([-\d.]+), ([-\d.]+)\) - \(([-\d.]+), ([-\d.]+)\)", out)
    assert nums is not None
    x0, y0, x1, y1 = (float(v) for v in nums.groups())
    size = 2 * HALF_WORLD_M / 2**z
    west, north = -HALF_WORLD_M + x * size, HALF_WORLD_M - y * size
    assert west <= x0 <= x1 <= west + size and north - size <= y0 <= y1 <= north
