"""Cameras on roads: for each camera, the road edges its stored field of view covers.

The view polygons come from ``camera_views`` (:mod:`geo.views`, the one view model: range,
field of view, documented defaults where unknown, clipped by buildings). An edge is seen where
it intersects that polygon; ``frac_from..frac_to`` is the seen stretch as fractions along the
edge (0 at ``source``, measured in metres in the local UTM zone, like ``length_m``), ``frac_nearest`` where the edge passes closest to the camera.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_LOCK = 7244005  # advisory lock: one refresh at a time


def refresh_camera_edges(session: Session, *, camera_ids: list[int] | None = None) -> int:
    """Recompute ``camera_edges`` (for the given cameras, all when ``None``); returns row count.

    Called after road loads, and by the routing engine whenever the load counter moved since the
    last refresh (camera and building loads change the views), so it is never stale when read.
    """
    session.execute(text("select pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    where = "" if camera_ids is None else "where v.camera_id = any(:ids)"
    params: dict[str, object] = {} if camera_ids is None else {"ids": list(camera_ids)}
    if camera_ids is None:
        session.execute(text("delete from camera_edges"))
    else:
        session.execute(text("delete from camera_edges where camera_id = any(:ids)"), params)
    n = session.execute(
        text(f"""
        with parts as (
            select v.camera_id, e.id as edge_id, e.geom as egeom,
                   (st_dump(st_intersection(e.geom, v.geom))).geom as part,
                   (case when st_y(st_centroid(e.geom)) >= 0 then 32600 else 32700 end
                    + floor((st_x(st_centroid(e.geom)) + 180) / 6)::int + 1) as utm
            from camera_views v join road_edges e on st_intersects(v.geom, e.geom)
            {where}
        ), located as (
            select camera_id, edge_id, egeom, part, utm,
                   st_linelocatepoint(st_transform(egeom, utm),
                                      st_transform(st_startpoint(part), utm)) as a,
                   st_linelocatepoint(st_transform(egeom, utm),
                                      st_transform(st_endpoint(part), utm)) as b
            from parts where geometrytype(part) = 'LINESTRING'
        )
        insert into camera_edges (camera_id, edge_id, frac_from, frac_to, frac_nearest,
                                  visible_m, distance_m)
        select l.camera_id, l.edge_id,
               greatest(0, min(least(a, b))), least(1, max(greatest(a, b))),
               st_linelocatepoint(st_transform(l.egeom, l.utm), st_transform(c.geom, l.utm)),
               sum(st_length(l.part::geography)),
               st_distance(c.geom::geography, l.egeom::geography)
        from located l join cameras c on c.id = l.camera_id
        group by l.camera_id, l.edge_id, l.egeom, l.utm, c.geom
        having sum(st_length(l.part::geography)) > 0.5
        """),
        params,
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        text("""insert into camera_edges_state (id, load_version)
                values (1, (select coalesce(max(id), 0) from data_loads))
                on conflict (id) do update set load_version = excluded.load_version,
                                               computed_at = now()""")
    )
    return int(n or 0)


def camera_edges_version(session: Session) -> int | None:
    """The load counter ``camera_edges`` was last computed for (``None`` when never)."""
    return session.execute(
        text("select load_version from camera_edges_state where id = 1")
    ).scalar_one_or_none()
