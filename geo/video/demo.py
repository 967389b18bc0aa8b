"""Demo cameras: real Daejeon cameras whose ``stream_url`` plays the bundled clip as a live feed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound
from geo.video.sources import demo_stream_url


def choose_demo_cameras(
    session: Session, *, n: int = 2, radius_m: float = 100.0
) -> list[dict[str, Any]]:
    """Crime-prevention cameras with the most traffic accidents within ``radius_m`` (the sample
    accidents are Yuseong-gu's, 2017-2021): hot spots where a demo incident is most plausible."""
    rows = session.execute(
        text(
            """
            select c.id, c.name, c.address, count(i.id) as accidents
            from cameras c
            join incidents i on i.kind = 'traffic'
                and st_dwithin(i.geom::geography, c.geom::geography, :r)
            where c.purpose = 'crime_prevention'
            group by c.id
            order by accidents desc, c.id
            limit :n
            """
        ),
        {"r": radius_m, "n": n},
    ).mappings()
    out = [dict(r) for r in rows]
    if not out:
        raise NotFound(
            "no crime-prevention camera near a Yuseong accident: load the sample data "
            "first (goldentime load sample)",
            field="camera",
        )
    return out


#: The README's demo emergency: a real Yuseong accident location (lat, lon), where a responder's
#: video request should find live pictures.
DEMO_SCENE = (36.332281, 127.34798556)


def demo_scene_cameras(session: Session, *, k: int = 5) -> list[int]:
    """The ``k`` cameras a video request at :data:`DEMO_SCENE` chooses (the same ranking), so the
    walkthrough's video wall shows live pictures."""
    from geo.nearest import nearest_cameras

    lat, lon = DEMO_SCENE
    return [int(c["id"]) for c in nearest_cameras(session, lat=lat, lon=lon, k=k)]


def set_demo_sources(session: Session, *, camera_ids: list[int]) -> list[dict[str, Any]]:
    """Set ``stream_url`` of ``camera_ids`` to the looping bundled clip; returns the cameras."""
    url = demo_stream_url()
    rows = (
        session.execute(
            text(
                "update cameras set stream_url = :u where id = any(:ids) "
                "returning id, name, address, stream_url"
            ),
            {"u": url, "ids": list(camera_ids)},
        )
        .mappings()
        .all()
    )
    found = {r["id"] for r in rows}
    missing = [c for c in camera_ids if c not in found]
    if missing:
        raise NotFound(f"unknown camera(s): {', '.join(map(str, missing))}", field="camera")
    return sorted((dict(r) for r in rows), key=lambda r: camera_ids.index(r["id"]))
