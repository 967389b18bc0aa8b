"""Feature queries of OGC API - Features over the collection registry.

Parsing (every problem is :class:`geo.errors.InvalidInput` naming the query parameter, which the
API answers with 400 as the standard asks) and the SQL: ``bbox`` (CRS84 only, antimeridian
boxes split in two), ``datetime`` (instant, closed or half-open interval with ``..``), ``limit``
(default 10, above :data:`MAX_LIMIT` clamped, as the standard says), ``offset`` (``next`` links
carry a keyset cursor ``after``, so paging a 1M-row collection stays linear), property
equality filters (``?purpose=traffic``) and CQL2 text (:mod:`geo.features.cql2`). The features
are built as GeoJSON by PostgreSQL (``json_build_object``), so a page of 10,000 cameras costs no
per-row Python; only whitelisted property expressions from the registry and bind parameters ever
reach the SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, NotFound
from geo.features.collections import Collection, Property
from geo.features.cql2 import compile_filter
from geo.times import SANE_YEARS

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
#: Largest offset accepted (deeper paging of one query is a client bug or a scan).
MAX_OFFSET = 10_000_000
#: Longest query parameter value accepted (a CQL2 filter is the longest a client sends).
MAX_PARAM_CHARS = 8000
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRS84H = "http://www.opengis.net/def/crs/OGC/0/CRS84h"
#: Query parameters of ``/items`` that are not property filters.
RESERVED = frozenset(
    {"bbox", "bbox-crs", "datetime", "limit", "offset", "after", "filter", "filter-lang", "f"}
)


@dataclass(frozen=True)
class ItemQuery:
    """A parsed ``/items`` request: SQL conditions with their bind parameters, and paging."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    where: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    #: the accepted parameters, echoed in ``next``/``prev`` links and audit records
    echo: dict[str, str] = field(default_factory=dict)
    #: keyset cursor of ``next`` links: features with an id above it (``offset`` then only
    #: numbers the page); a 1M-row collection pages in linear, not quadratic, time
    after: Any = None


def parse_bbox(value: str, crs: str | None = None) -> list[tuple[float, float, float, float]]:
    """The envelopes (lon/lat) of a ``bbox`` (4 or 6 numbers, CRS84); a box crossing the
    antimeridian (min lon > max lon) becomes two."""
    if crs is not None and crs.strip() not in (CRS84, CRS84H):
        raise InvalidInput(f"bbox-crs: only {CRS84} is supported", field="bbox-crs")
    parts = value.split(",")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise InvalidInput(
            f"bbox has a value that is not a number: {value!r}", field="bbox"
        ) from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or not all(abs(n) < float("inf") for n in nums):
        raise InvalidInput("bbox needs 4 (or 6) finite numbers: minx,miny,maxx,maxy", field="bbox")
    x0, y0, x1, y1 = nums
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InvalidInput(
            "bbox must be lon -180..180, lat -90..90 with miny <= maxy", field="bbox"
        )
    if x0 <= x1:
        return [(x0, y0, x1, y1)]
    return [(x0, y0, 180.0, y1), (-180.0, y0, x1, y1)]


def _instant(s: str) -> dt.datetime | None:
    s = s.strip()
    if s in ("", ".."):
        return None
    try:
        if len(s) == 10:
            t = dt.datetime.combine(dt.date.fromisoformat(s), dt.time(), tzinfo=dt.UTC)
        else:
            t = dt.datetime.fromisoformat(s)
    except ValueError:
        raise InvalidInput(
            f"datetime {s!r} is not RFC 3339 (e.g. 2024-05-01T09:00:00Z)", field="datetime"
        ) from None
    if t.tzinfo is None:
        raise InvalidInput(
            f"datetime {s!r} needs a time zone (Z or an offset), as RFC 3339 asks",
            field="datetime",
        )
    if not SANE_YEARS[0] <= t.year <= SANE_YEARS[1]:
        raise InvalidInput(f"datetime: the year must be within {SANE_YEARS}", field="datetime")
    return t


def parse_datetime(value: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``(start, end)`` of an instant (both equal), a closed interval ``a/b`` or a half-open
    one ``../b``, ``a/..`` (``None`` = open)."""
    if value.count("/") > 1:
        raise InvalidInput("datetime: at most one '/'", field="datetime")
    if "/" not in value:
        t = _instant(value)
        if t is None:
            raise InvalidInput("datetime: an instant or an interval a/b", field="datetime")
        return t, t
    a, b = (_instant(p) for p in value.split("/"))
    if a is None and b is None:
        raise InvalidInput("datetime: '../..' is not an interval", field="datetime")
    if a is not None and b is not None and a > b:
        raise InvalidInput("datetime: the start is after the end", field="datetime")
    return a, b


def _int(value: str, name: str, lo: int) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        raise InvalidInput(f"{name} must be an integer, got {value[:40]!r}", field=name) from None
    if n < lo:
        raise InvalidInput(f"{name} must be >= {lo}", field=name)
    return n


def parse_limit(value: str | None) -> int:
    """``limit`` (default 10); larger than :data:`MAX_LIMIT` is clamped, not refused."""
    return DEFAULT_LIMIT if value is None else min(_int(value, "limit", 1), MAX_LIMIT)


def _equality(prop: Property, value: str) -> Any:
    """A property filter's text as the property's type (400 naming it when it cannot be)."""
    try:
        if prop.type == "integer":
            n = int(value)
            if not -(2**63) <= n < 2**63:
                raise ValueError
            return n
        if prop.type == "number":
            return float(value)
        if prop.type == "boolean":
            return {"true": True, "false": False}[value.lower()]
        if prop.type == "date":
            return dt.date.fromisoformat(value)
        if prop.type == "datetime":
            return _instant(value)
    except (ValueError, KeyError):
        raise InvalidInput(f"{prop.name} must be a {prop.type}", field=prop.name) from None
    return value


def _space_time(
    collection: Collection, role: str | None, echo: dict[str, str]
) -> tuple[list[str], dict[str, Any]]:
    """SQL conditions and bind parameters of ``bbox``/``bbox-crs`` and ``datetime``."""
    where: list[str] = []
    binds: dict[str, Any] = {}
    if "bbox" in echo:
        boxes = parse_bbox(echo["bbox"], echo.get("bbox-crs"))
        ors = []
        for i, b in enumerate(boxes):
            binds.update({f"bx{i}_{j}": v for j, v in enumerate(b)})
            env = f"st_makeenvelope(:bx{i}_0, :bx{i}_1, :bx{i}_2, :bx{i}_3, 4326)"
            # a point intersects a box exactly when it lies in the box's bounding box: the
            # index operator alone (no per-row st_intersects, which PostgreSQL costs so high
            # that it JIT-compiles the scan: half a second per page at a million cameras)
            op = "{g} && {e}" if collection.geometry_type == "Point" else "st_intersects({g}, {e})"
            ors.append(op.format(g=collection.geometry, e=env))
        where.append("(" + " or ".join(ors) + ")")
    elif "bbox-crs" in echo:
        parse_bbox("0,0,0,0", echo["bbox-crs"])
    if "datetime" in echo:
        start, end = parse_datetime(echo["datetime"])
        tprop = collection.property(collection.temporal or "", role)
        if tprop is None:
            raise InvalidInput(
                f"collection {collection.id!r} has no time property to filter", field="datetime"
            )
        if start is not None:
            where.append(f"{tprop.sql} >= :dt_start")
            binds["dt_start"] = start
        if end is not None:
            where.append(f"{tprop.sql} <= :dt_end")
            binds["dt_end"] = end
    return where, binds


def parse_query(
    collection: Collection, role: str | None, params: Mapping[str, str] | Any
) -> ItemQuery:
    """The :class:`ItemQuery` of ``/items`` query parameters (a ``MultiDict``-like mapping:
    ``getlist`` is used when present). Unknown parameters that are not visible properties of
    the collection are refused (the standard's 400 for unknown parameters)."""
    get = params.getlist if hasattr(params, "getlist") else lambda k: [params[k]]
    where: list[str] = []
    binds: dict[str, Any] = {}
    echo: dict[str, str] = {}
    for key in dict.fromkeys(params.keys()):
        values = get(key)
        if len(values) > 1:
            raise InvalidInput(f"{key} is given more than once", field=key)
        value = values[0]
        if "\x00" in value or len(value) > MAX_PARAM_CHARS:
            raise InvalidInput(
                f"{key}: NUL bytes or more than {MAX_PARAM_CHARS} characters", field=key
            )
        if key not in RESERVED:
            prop = collection.property(key, role)
            if prop is None:
                raise InvalidInput(f"unknown query parameter {key!r}", field=key)
            name = f"eq{len(where)}"
            binds[name] = _equality(prop, value)
            where.append(f"{prop.sql} = :{name}")
        elif key == "f" and value not in ("json", "geojson"):
            raise InvalidInput("f: only json (GeoJSON) is served", field="f")
        echo[key] = value
    w, b = _space_time(collection, role, echo)
    where += w
    binds.update(b)
    lang = echo.get("filter-lang", "cql2-text")
    if lang != "cql2-text":
        raise InvalidInput("filter-lang: only cql2-text is supported", field="filter-lang")
    if "filter" in echo:
        sql, fparams = compile_filter(echo["filter"], lambda n: collection.property(n, role))
        where.append(sql)
        binds.update(fparams)
    offset = _int(echo.get("offset", "0"), "offset", 0)
    if offset > MAX_OFFSET:
        raise InvalidInput(f"offset must be <= {MAX_OFFSET}", field="offset")
    after: Any = echo.get("after")
    if after is not None and collection.id_type == "integer":
        after = _int(after, "after", -(2**62))
        if after >= 2**63:
            raise InvalidInput("after is not a feature id", field="after")
    return ItemQuery(
        limit=parse_limit(echo.get("limit")),
        offset=offset,
        where=tuple(where),
        params=binds,
        echo=echo,
        after=after,
    )


def _feature_sql(collection: Collection, role: str | None) -> str:
    props = ", ".join(f"'{p.name}', {p.sql}" for p in collection.properties_for(role))
    return (
        f"json_build_object('type', 'Feature', 'id', {collection.id_sql}, "
        f"'geometry', st_asgeojson({collection.geometry}, 7)::json, "
        f"'properties', json_build_object({props}))"
    )


def _source_params(session: Session, collection: Collection) -> dict[str, Any]:
    return collection.prepare(session) if collection.prepare is not None else {}


@dataclass(frozen=True)
class Page:
    """One page of features: the GeoJSON array as text, and the counts."""

    features_json: str
    ids: list[Any]
    number_matched: int
    number_returned: int


def query_items(
    session: Session, *, collection: Collection, role: str | None, query: ItemQuery
) -> Page:
    """One page of ``collection``'s features matching ``query``, ordered by id (stable paging),
    with the total number matched."""
    params = {**_source_params(session, collection), **query.params}
    where = " and ".join(query.where) or "true"
    base = f"from {collection.source} where {where}"
    # PostGIS's high function costs make the planner JIT-compile these scans (0.5 s, more than
    # the query): off for this transaction, as for tiles
    session.execute(text("set local jit = off"))
    matched = session.execute(text(f"select count(*) {base}"), params).scalar_one()
    skip = query.offset
    if query.after is not None:  # keyset: the cursor replaces the offset's skipping
        base += f" and {collection.id_sql} > :_after"
        params["_after"] = query.after
        skip = 0
    rows = session.execute(
        text(
            f"select coalesce(json_agg(q.f order by q.k), '[]'::json)::text, "
            f"coalesce(json_agg(q.k order by q.k), '[]'::json) from ("
            f"select {collection.id_sql} as k, {_feature_sql(collection, role)} as f {base} "
            f"order by {collection.id_sql} limit :_limit offset :_offset) q"
        ),
        {**params, "_limit": query.limit, "_offset": skip},
    ).one()
    ids = list(rows[1])
    return Page(
        features_json=rows[0], ids=ids, number_matched=int(matched), number_returned=len(ids)
    )


def get_item(session: Session, *, collection: Collection, role: str | None, feature_id: str) -> str:
    """One feature as GeoJSON text; :class:`NotFound` (field ``featureId``) when absent."""
    fid: Any = feature_id
    if "\x00" in feature_id or len(feature_id) > 200:
        raise NotFound("no such feature", field="featureId")
    if collection.id_type == "integer":
        try:
            fid = int(feature_id)
        except ValueError:
            fid = None
        if fid is None or not -(2**63) <= fid < 2**63:
            raise NotFound(f"no feature {feature_id[:40]!r}", field="featureId")
    params = {**_source_params(session, collection), "_fid": fid}
    row = session.execute(
        text(
            f"select {_feature_sql(collection, role)}::text from {collection.source} "
            f"where {collection.id_sql} = :_fid limit 1"
        ),
        params,
    ).first()
    if row is None:
        raise NotFound(f"no feature {feature_id[:40]!r} in {collection.id!r}", field="featureId")
    return str(row[0])


#: Seconds a cached extent keeps answering after its table changed outside a load (edits of
#: single rows); a new load (``data_loads``) recomputes it on the next request.
EXTENT_MAX_AGE_S = 60.0


@dataclass(frozen=True)
class _Extent:
    """An exact extent as computed at load counter ``loads`` and table change count
    ``changes`` (``pg_stat_user_tables``), at monotonic time ``at``."""

    loads: int
    changes: int
    at: float
    box: list[float] | None
    times: tuple[Any, Any] | None


_extents: dict[tuple[str, str], _Extent] = {}

_FINGERPRINT_SQL = text(
    "select (select coalesce(max(id), 0) from data_loads), "
    "(select coalesce(n_tup_ins + n_tup_upd + n_tup_del, 0) from pg_stat_user_tables "
    "where relid = to_regclass(:t)::oid), pg_current_xact_id_if_assigned() is not null"
)


def _exact_extent(session: Session, collection: Collection, tsql: str | None) -> _Extent:
    """``st_extent`` of the table's geometries and the min/max of ``tsql``: full scans (about
    1.4 s at a million cameras), hence cached by :func:`extent`."""
    row = session.execute(
        text(
            f"select st_xmin(e), st_ymin(e), st_xmax(e), st_ymax(e) from "
            f"(select st_extent({collection.geometry}) as e from {collection.table} t) s"
        )
    ).one()
    box = None if row[0] is None else [float(v) for v in row]
    times = None
    if box is not None and tsql is not None:
        lo, hi = session.execute(
            text(f"select min({tsql}), max({tsql}) from {collection.table} t")
        ).one()
        times = (lo, hi)
    return _Extent(loads=0, changes=0, at=0.0, box=box, times=times)


def extent(session: Session, collection: Collection, role: str | None) -> dict[str, Any] | None:
    """The collection's spatial (CRS84 bbox) and temporal extent, or ``None`` when empty.

    Exact (``st_extent``, min/max of the temporal property), computed once per load: cached per
    database and table, recomputed when the load counter ``max(data_loads.id)`` moves, or when
    rows changed otherwise (the table's insert/update/delete count) and the cached one is over
    :data:`EXTENT_MAX_AGE_S` old. A transaction that wrote gets its own exact answer (it may
    see rows no one else does). ``/collections`` thus costs a few index probes at a million
    cameras instead of two full scans per collection. Computed collections report none."""
    if collection.table is None:
        return None
    import time

    temporal = next((p for p in collection.properties if p.name == collection.temporal), None)
    tsql = temporal.sql if temporal is not None and temporal.sql.startswith("t.") else None
    loads, changes, wrote = session.execute(_FINGERPRINT_SQL, {"t": collection.table}).one()
    key = (session.get_bind().engine.url.render_as_string(hide_password=True), collection.id)
    hit = _extents.get(key)
    now = time.monotonic()
    stale = (
        hit is None
        or hit.loads != loads
        or (hit.changes != changes and now - hit.at >= EXTENT_MAX_AGE_S)
    )
    if wrote or stale:
        hit = _exact_extent(session, collection, tsql)
        if not wrote:
            hit = _Extent(int(loads), int(changes), now, hit.box, hit.times)
            _extents[key] = hit
    assert hit is not None
    if hit.box is None:
        return None
    out: dict[str, Any] = {"spatial": {"bbox": [hit.box], "crs": CRS84}}
    if hit.times is not None and collection.property(collection.temporal or "", role) is not None:
        lo, hi = hit.times
        out["temporal"] = {
            "interval": [[lo.isoformat() if lo else None, hi.isoformat() if hi else None]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    return out
