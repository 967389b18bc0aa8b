"""The collections' extents at national scale (geo.features.items.extent): computed once per load
and cached, never stale for the load that changed them, and never hiding a transaction's own
rows. The attack: ``/collections`` scanning a million cameras twice per request (seconds per
GIS client connect), or a cached box that leaves newly loaded cameras outside it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.features import items
from geo.features.collections import get_collection


@pytest.fixture
def exact_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the full scans; starts with an empty cache."""
    calls: list[str] = []
    real = items._exact_extent

    def counted(session: Session, collection: Any, tsql: str | None) -> Any:
        calls.append(collection.id)
        return real(session, collection, tsql)

    monkeypatch.setattr(items, "_exact_extent", counted)
    monkeypatch.setattr(items, "_extents", {})
    return calls


def _truth(session: Session) -> list[float]:
    row = session.execute(
        text(
            "select st_xmin(e), st_ymin(e), st_xmax(e), st_ymax(e) from (select st_extent(geom) e from cameras) s"
        )
    ).one()
    return [float(v) for v in row]


def test_the_extent_is_exact_and_scanned_once_per_load(
    session: Session, exact_calls: list[str]
) -> None:
    cams = get_collection("cameras", "police")
    first = items.extent(session, cams, "police")
    assert first is not None and first["spatial"]["bbox"] == [_truth(session)]
    assert "temporal" in first
    assert items.extent(session, cams, "police") == first
    assert exact_calls == ["cameras"]  # the second answer came from the cache
    # another load committed since: the counter moved, the box is computed again
    key = next(iter(items._extents))
    hit = items._extents[key]
    items._extents[key] = items._Extent(hit.loads - 1, hit.changes, hit.at, [0, 0, 0, 0], None)
    assert items.extent(session, cams, "police") == first
    assert exact_calls == ["cameras", "cameras"]
    # rows edited outside a load: the cached box serves at most EXTENT_MAX_AGE_S
    hit = items._extents[key]
    items._extents[key] = items._Extent(hit.loads, hit.changes - 1, hit.at, hit.box, hit.times)
    items.extent(session, cams, "police")
    assert len(exact_calls) == 2
    old = hit.at - items.EXTENT_MAX_AGE_S - 1
    items._extents[key] = items._Extent(hit.loads, hit.changes - 1, old, hit.box, hit.times)
    items.extent(session, cams, "police")
    assert len(exact_calls) == 3


def test_a_transaction_sees_its_own_new_camera_inside_the_extent(
    session: Session, exact_calls: list[str]
) -> None:
    cams = get_collection("cameras", "police")
    cached = items.extent(session, cams, "police")
    assert cached is not None
    session.execute(
        text(
            "insert into cameras (source, external_id, name, purpose, geom) values "
            "('test', 'far-east', 'Dokdo', 'other', st_setsrid(st_point(131.8655, 37.2424), 4326))"
        )
    )
    mine = items.extent(session, cams, "police")
    assert mine is not None and mine["spatial"]["bbox"][0][2] == pytest.approx(131.8655)
    assert mine["spatial"]["bbox"] == [_truth(session)]
    # the uncommitted row never reaches the cache others read
    assert all(e.box != mine["spatial"]["bbox"][0] for e in items._extents.values())


def test_the_temporal_extent_follows_the_role_table(
    session: Session, exact_calls: list[str]
) -> None:
    """A role that may not see the temporal property gets no temporal extent from the cache
    another role filled."""
    from geo.features.collections import COLLECTIONS

    for c in COLLECTIONS:
        if c.table is None or c.temporal is None:
            continue
        for role in ("admin", "planner", "police"):
            try:
                coll = get_collection(c.id, role)
            except Exception:
                continue
            ext = items.extent(session, coll, role)
            if ext is None:
                continue
            sees = coll.property(c.temporal, role) is not None
            assert ("temporal" in ext) is sees


def test_a_camera_on_the_bbox_edge_is_matched_like_st_intersects(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    """Point collections filter ``bbox`` by the index operator alone: a camera on the box's
    edge or corner is still in it (as ``st_intersects`` says), one just outside is not."""
    session.execute(
        text(
            "insert into cameras (source, external_id, purpose, geom) values "
            "('test', 'edge', 'other', st_setsrid(st_point(127.25, 36.25), 4326))"
        )
    )
    police = auth_client(make_user("extent-officer"))
    for bbox, inside in (
        ("127.25,36.25,127.2501,36.2501", True),  # the corner
        ("127.2499,36.2499,127.25,36.25", True),  # the opposite corner
        ("127.2499,36.25,127.2501,36.2501", True),  # the bottom edge
        ("127.2501,36.2499,127.2502,36.2501", False),
    ):
        fc = police.get(f"/ogc/collections/cameras/items?bbox={bbox}&limit=100").json()
        ext = [f["properties"].get("external_id") for f in fc["features"]]
        assert ("edge" in ext) is inside, bbox
        assert (
            fc["numberMatched"]
            == session.execute(
                text(
                    "select count(*) from cameras where st_intersects(geom, "
                    "st_makeenvelope(:a, :b, :c, :d, 4326))"
                ),
                dict(zip("abcd", map(float, bbox.split(",")), strict=True)),
            ).scalar_one()
        )
