"""DORI (EN 62676-4) in the one view model: pixels per metre at the scene, checked by hand."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.nearest import nearest_cameras
from geo.views import GEOD, dori_for, dori_lens_fov_deg, dori_level, dori_px_per_m

# Hand computation: 카메라화소수 200 = 2,000,000 px; 16:9 -> width sqrt(2e6 * 16 / 9) = 1885.618 px.
# Default lens 70 degrees: tan(35 deg) = 0.7002075. px/m = 1885.618 / (2 * d * 0.7002075).
W_2MP = 1885.618
W_4MP = 2666.667  # sqrt(4e6 * 16 / 9)
W_12MP = 4618.802  # sqrt(12e6 * 16 / 9)
TAN35, TAN15, TAN10 = 0.7002075, 0.2679492, 0.1763270


@pytest.mark.parametrize(
    ("pixels", "fov", "d", "expected", "level"),
    [
        (2_000_000, None, 10.0, W_2MP / (20 * TAN35), "recognise"),  # 134.6
        (2_000_000, None, 20.0, W_2MP / (40 * TAN35), "observe"),  # 67.3
        (2_000_000, None, 40.0, W_2MP / (80 * TAN35), "detect"),  # 33.7
        (2_000_000, None, 60.0, W_2MP / (120 * TAN35), "below_detect"),  # 22.4
        (2_000_000, 360.0, 10.0, W_2MP / (20 * TAN35), "recognise"),  # all-round: default lens
        (4_000_000, 30.0, 5.0, W_4MP / (10 * TAN15), "identify"),  # 995.2
        (12_000_000, 20.0, 40.0, W_12MP / (80 * TAN10), "identify"),  # 327.4
        (2_000_000, None, 0.2, W_2MP / (2 * TAN35), "identify"),  # closer than 1 m: at 1 m
    ],
)
def test_hand_computed_cases(
    pixels: int, fov: float | None, d: float, expected: float, level: str
) -> None:
    (q,) = dori_for([{"resolution_px": pixels, "fov_deg": fov, "camera_type": None}], np.array([d]))
    assert q["dori_px_per_m"] == pytest.approx(expected, abs=0.06)
    assert q["dori_level"] == level
    assert "16:9 assumed" in q["dori_note"]


def test_thresholds_and_unknown() -> None:
    assert [dori_level(x) for x in (250.0, 249.9, 125.0, 62.5, 62.4, 25.0, 24.9)] == [
        "identify",
        "recognise",
        "recognise",
        "observe",
        "detect",
        "detect",
        "below_detect",
    ]
    assert dori_level(None) is None and dori_level(float("nan")) is None
    (q,) = dori_for([{"resolution_px": None, "fov_deg": 60.0}], np.array([10.0]))
    assert q == {"dori_px_per_m": None, "dori_level": None, "dori_note": "resolution unknown"}
    assert math.isnan(float(dori_px_per_m(resolution_px=None, hfov_deg=70, distance_m=5)))
    # a lens angle is the camera's own under 180 degrees; 360 = panning / all-round: a lens default
    assert dori_lens_fov_deg(fov_deg=45.0) == 45.0
    assert dori_lens_fov_deg(fov_deg=360.0, camera_type="dome") == 70.0
    assert dori_lens_fov_deg(fov_deg=None, camera_type="fixed") == 70.0


def _add_camera(session: Session, ext: str, lon: float, lat: float, **kw: Any) -> int:
    cols = {"purpose": "crime_prevention", "range_m": 100.0, **kw}
    names = ", ".join(cols)
    vals = ", ".join(f":{k}" for k in cols)
    return int(
        session.execute(
            text(f"""insert into cameras (source, external_id, geom, {names})
                     values ('test-dori', :ext, st_setsrid(st_makepoint(:lon, :lat), 4326), {vals})
                     returning id"""),
            {"ext": ext, "lon": lon, "lat": lat, **cols},
        ).scalar_one()
    )


def test_identify_beats_detect_among_cameras_that_see(session: Session) -> None:
    """Three cameras see a point in an otherwise empty area: the one that can identify comes
    first though it is the farthest; unknown resolution ranks with detect, then by distance."""
    lon, lat = 128.9000, 35.2000  # no other camera within kilometres
    bearing_deg = 0.0

    def at(d: float, az: float) -> tuple[float, float]:
        x, y, _ = GEOD.fwd(lon, lat, az, d)
        return float(x), float(y)

    # A: 1 MP all-round at 30 m -> 1333.3 / (60 * tan 35) = 31.7 px/m, detect
    a = _add_camera(session, "a", *at(30.0, 90.0), fov_deg=360.0, resolution_px=1_000_000)
    # B: 12 MP, 20 degree lens, 40 m south, facing north -> 327.4 px/m, identify
    b = _add_camera(
        session,
        "b",
        *at(40.0, 180.0),
        fov_deg=20.0,
        heading_deg=bearing_deg,
        resolution_px=12_000_000,
    )
    # C: resolution unknown, all-round, 35 m
    c = _add_camera(session, "c", *at(35.0, 270.0), fov_deg=360.0)
    ranked = nearest_cameras(session, lat=lat, lon=lon, k=3)
    assert [r["id"] for r in ranked] == [b, a, c]
    by_id = {r["id"]: r for r in ranked}
    assert by_id[b]["dori_level"] == "identify" and by_id[b]["in_view"] is True
    assert by_id[b]["dori_px_per_m"] == pytest.approx(W_12MP / (80 * TAN10), abs=0.1)
    assert by_id[a]["dori_level"] == "detect"
    assert by_id[a]["dori_px_per_m"] == pytest.approx(1333.333 / (60 * TAN35), abs=0.1)
    assert by_id[c]["dori_level"] is None and by_id[c]["dori_note"] == "resolution unknown"
    assert all(r["group"] == "sees" for r in ranked)


def test_nearest_in_daejeon_carries_dori(session: Session) -> None:
    """A standard-data camera (200 = 2 MP, all-round) 10 m from the point: 134.6 px/m."""
    cam = session.execute(
        text("""select id, st_x(geom), st_y(geom) from cameras
                where source = 'kr-standard' and resolution_px = 2000000 and fov_deg = 360
                  and agency = '유성구청' order by id limit 1""")
    ).one()
    x, y, _ = GEOD.fwd(cam[1], cam[2], 0.0, 10.0)
    ranked = nearest_cameras(session, lat=float(y), lon=float(x), k=10)
    mine = next(r for r in ranked if r["id"] == cam[0])
    assert mine["distance_m"] == pytest.approx(10.0, abs=0.01)
    assert mine["dori_px_per_m"] == pytest.approx(134.6, abs=0.1)
    assert mine["dori_level"] == "recognise"
    for r in ranked:
        assert (r["dori_level"] is None) == (not r["resolution_px"])


def test_video_request_near_cnu_has_roads_buildings_and_dori(
    make_user: Any, auth_client: Any
) -> None:
    """A Yuseong accident beside Chungnam National University (accident 4240 of the real file):
    its cameras come with network distance on the Daejeon roads, line of sight against the CNU
    buildings and the DORI level."""
    api = auth_client(make_user("dori-officer", role="police", agency="Daejeon Yuseong Police"))
    body = {
        "kind": "traffic",
        "occurred_at": "2021-06-01T08:00:00+09:00",
        "lat": 36.36086375,
        "lon": 127.34401761,
    }
    r = api.post("/api/incidents", json=body)
    assert r.status_code == 201, r.text
    r = api.post(f"/api/incidents/{r.json()['id']}/video-requests")
    assert r.status_code == 201, r.text
    props = [f["properties"] for f in r.json()["features"]]
    assert props
    assert all(p["network_distance_m"] is not None for p in props)
    assert all(p["line_of_sight"] is not None for p in props)
    assert all("dori_level" in p and "dori_px_per_m" in p for p in props)
    assert any(p["dori_level"] is not None for p in props)
    for p in props:
        if p["dori_level"] is None:
            assert p["dori_note"] == "resolution unknown"
