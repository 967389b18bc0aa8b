"""A GIS client nobody here wrote reads the OGC API: Debian's GDAL (``gdal-bin``, the ``OAPIF``
driver) lists the collections and reads the cameras in a bbox with the bearer token in a header,
and the counts match the database.

The attack defended against: a layer that only our own code can read (the issue's "done when"),
and a token that GDAL could only pass in the URL (tokens never go in query strings here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest
from sqlalchemy import text

OGRINFO = shutil.which("ogrinfo") or "/usr/bin/ogrinfo"
OGR2OGR = shutil.which("ogr2ogr") or "/usr/bin/ogr2ogr"
#: Central Daejeon (lon/lat): a box holding a few hundred of the sample cameras.
BBOX = (127.38, 36.32, 127.44, 36.37)

#: GDAL 3.6 asks for 10 features a page unless told (3.8 reads the maximum from the API).
PAGE = ["-oo", "PAGE_SIZE=1000"]

pytestmark = pytest.mark.skipif(
    not os.path.exists(OGRINFO), reason="gdal-bin is not installed (scripts/bootstrap.sh)"
)


def _gdal(args: list[str], token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")} | {
        "GDAL_HTTP_TIMEOUT": "60",
        "CPL_DEBUG": "OFF",
        "GDAL_HTTP_MAX_RETRY": "0",
    }
    if token is not None:
        env["GDAL_HTTP_HEADERS"] = f"Authorization: Bearer {token}"
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


def _db_count(engine: Any, sql: str, **params: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(text(sql), params).scalar_one())


def test_ogrinfo_lists_the_collections_of_the_role(live_server: str, live_token: Any) -> None:
    r = _gdal([OGRINFO, "-ro", "-q", f"OAPIF:{live_server}/ogc"], live_token("police"))
    assert r.returncode == 0, r.stderr
    for layer in ("cameras", "camera_views", "roads", "buildings", "incidents"):
        assert f": {layer} " in r.stdout or f": {layer}\n" in r.stdout, r.stdout
    assert "coverage_gaps" not in r.stdout  # a police officer does not plan coverage
    r = _gdal([OGRINFO, "-ro", "-q", f"OAPIF:{live_server}/ogc"], live_token("planner"))
    assert r.returncode == 0, r.stderr
    assert "coverage_gaps" in r.stdout


def test_ogrinfo_without_token_gets_nothing(live_server: str) -> None:
    r = _gdal([OGRINFO, "-ro", "-q", f"OAPIF:{live_server}/ogc"], None)
    assert r.returncode != 0
    assert "cameras" not in r.stdout


def test_gdal_reads_cameras_in_a_bbox_and_the_count_matches(
    live_server: str, live_token: Any, engine: Any
) -> None:
    expected = _db_count(
        engine,
        "select count(*) from cameras where st_intersects(geom, "
        "st_makeenvelope(:a, :b, :c, :d, 4326))",
        **dict(zip("abcd", BBOX, strict=True)),
    )
    assert expected > 10  # more than one default page: GDAL must follow the next links
    token = live_token("police")
    spat = [str(v) for v in BBOX]
    info = _gdal(
        [OGRINFO, "-ro", "-so", *PAGE, "-spat", *spat, f"OAPIF:{live_server}/ogc", "cameras"],
        token,
    )
    assert info.returncode == 0, info.stderr
    assert f"Feature Count: {expected}" in info.stdout, info.stdout
    assert "updated_at: DateTime" in info.stdout and "resolution_px: Integer" in info.stdout
    assert "stream_url" not in info.stdout
    out = _gdal(
        [
            OGR2OGR,
            "-f",
            "GeoJSON",
            "/vsistdout/",
            *PAGE,
            "-spat",
            *spat,
            f"OAPIF:{live_server}/ogc",
            "cameras",
        ],
        token,
    )
    assert out.returncode == 0, out.stderr
    feats = json.loads(out.stdout)["features"]
    assert len(feats) == expected
    assert all("stream_url" not in f["properties"] for f in feats)
    a, b, c, d = BBOX
    assert all(a <= f["geometry"]["coordinates"][0] <= c for f in feats)
    assert all(b <= f["geometry"]["coordinates"][1] <= d for f in feats)
