"""The one camera view model: defaults, in-view, pan, sectors and building-clipped viewsheds."""

from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.views import (
    DEFAULT_RANGE_M,
    bearing_and_distance,
    effective_view,
    in_view,
    pan_deg,
    sector_polygon,
    viewshed_metric,
)


def test_defaults_by_purpose_and_type() -> None:
    v = effective_view(purpose="crime_prevention")
    assert v.range_m == DEFAULT_RANGE_M["crime_prevention"] and v.range_is_default
    assert not v.direction_known and v.fov_deg == 360.0  # unknown direction: nothing claimed
    dome = effective_view(purpose="traffic", camera_type="dome")
    assert dome.direction_known and dome.can_pan and dome.fov_deg == 360.0
    fixed = effective_view(purpose="other", camera_type="fixed", heading_deg=400.0, range_m=80)
    assert fixed.heading_deg == 40.0 and fixed.fov_deg == 70.0 and not fixed.range_is_default


def test_in_view_vectorised() -> None:
    res = in_view(
        heading_deg=np.array([90.0, 90.0, 90.0, np.nan, 0.0]),
        fov_deg=np.array([60.0, 60.0, 60.0, 360.0, 360.0]),
        range_m=np.array([50.0, 50.0, 50.0, 50.0, 50.0]),
        direction_known=np.array([True, True, True, False, True]),
        distance_m=np.array([30.0, 30.0, 60.0, 30.0, 49.0]),
        bearing_deg=np.array([119.0, 125.0, 90.0, 10.0, 200.0]),
    )
    assert list(res) == [True, False, False, None, True]


def test_pan_degrees() -> None:
    assert pan_deg(heading_deg=90, fov_deg=60, bearing_deg=100) == 0.0
    assert pan_deg(heading_deg=90, fov_deg=60, bearing_deg=200) == 80.0
    assert pan_deg(heading_deg=350, fov_deg=60, bearing_deg=40) == 20.0
    assert pan_deg(heading_deg=None, fov_deg=60, bearing_deg=40) is None


def test_sector_polygon_contains_points_in_view_only() -> None:
    lon, lat = 127.3440, 36.3620  # a Yuseong junction
    v = effective_view(purpose="crime_prevention", heading_deg=45.0, fov_deg=90.0, range_m=100.0)
    poly = sector_polygon(lon, lat, v, step_deg=1.0)
    az = np.array([45.0, 10.0, 80.0, 45.0, 225.0])
    dist = np.array([50.0, 90.0, 90.0, 110.0, 50.0])
    from geo.views import GEOD

    plon, plat, _ = GEOD.fwd(np.full(5, lon), np.full(5, lat), az, dist)
    inside = [poly.contains(shapely.Point(x, y)) for x, y in zip(plon, plat, strict=True)]
    assert inside == [True, True, True, False, False]
    b, d = bearing_and_distance(np.array([lon]), np.array([lat]), plon[:1], plat[:1])
    assert abs(b[0] - 45.0) < 1e-6 and abs(d[0] - 50.0) < 1e-6


def test_viewshed_is_cut_by_a_building() -> None:
    v = effective_view(purpose="other", heading_deg=0.0, fov_deg=60.0, range_m=100.0)
    origin = shapely.Point(0.0, 0.0)
    wall = shapely.box(-20.0, 40.0, 20.0, 50.0)  # a 40 m wide building 40 m north
    free = viewshed_metric(origin, v, None, step_deg=1.0)
    cut = viewshed_metric(origin, v, wall, step_deg=1.0)
    assert cut.area < free.area
    assert not cut.contains(shapely.Point(0.0, 70.0))  # behind the building
    assert cut.contains(shapely.Point(0.0, 30.0))  # in front of it
    assert cut.contains(shapely.Point(45.0, 80.0))  # beside it, still in the cone


def test_stored_views_match_model(session: Session) -> None:
    row = (
        session.execute(
            text("""
        select c.purpose, v.range_m, v.fov_deg, v.direction_known,
               st_distance(c.geom::geography, st_centroid(v.geom)::geography) as off_m,
               st_area(v.geom::geography) as area_m2
        from cameras c join camera_views v on v.camera_id = c.id
        where c.source = 'daejeon-2015' and c.purpose = 'crime_prevention'
          and c.camera_type is null
        order by c.id limit 1""")
        )
        .mappings()
        .one()
    )
    assert row["range_m"] == 50.0 and row["fov_deg"] == 360.0 and not row["direction_known"]
    assert row["off_m"] < 1.0  # a circle centred on the camera
    assert abs(row["area_m2"] - np.pi * 50.0**2) / (np.pi * 50.0**2) < 0.01
