"""OGC API - Features under ``/ogc``: the conformance walk, validated against the standard's
JSON schemas (vendored in tests/fixtures/ogc), paging, bbox/datetime/filter queries, the 400s the
standard asks for, and the access rules (per-role collections and fields, no stream URLs, the
registered-address rule, audited reads of personal data).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.routes.ogc import CONFORMANCE
from geo.access.roles import PERMISSIONS

SCHEMAS = Path(__file__).parent / "fixtures" / "ogc"
BASE = "https://schemas.test/ogc/"
GEOJSON = "application/geo+json"
#: Daejeon: a box with thousands of the sample's cameras and incidents.
BBOX = (127.25, 36.25, 127.5, 36.45)


def _json_types(node: Any) -> Any:
    """YAML reads the schemas' ``type: null`` as None; JSON Schema spells it ``"null"``."""
    if isinstance(node, dict):
        out = {k: _json_types(v) for k, v in node.items()}
        t = node.get("type", "")
        if t is None:
            out["type"] = "null"
        elif isinstance(t, list):
            out["type"] = ["null" if x is None else x for x in t]
        return out
    if isinstance(node, list):
        return [_json_types(v) for v in node]
    return node


def _registry() -> Registry:
    resources = []
    for f in SCHEMAS.glob("*.yaml"):
        docs = [d for d in yaml.safe_load_all(f.read_text()) if d]
        contents = _json_types(docs[0])
        resources.append((BASE + f.name, DRAFT202012.create_resource(contents)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def valid(doc: Any, schema: str) -> None:
    """Assert ``doc`` is valid against the standard's ``schema`` (file name)."""
    v = Draft202012Validator({"$ref": BASE + schema}, registry=REGISTRY)
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def _path(href: str) -> str:
    p = urlsplit(href)
    return p.path + (f"?{p.query}" if p.query else "")


def _rel(doc: dict[str, Any], rel: str) -> dict[str, Any] | None:
    return next((link for link in doc["links"] if link["rel"] == rel), None)


def _count(session: Session, sql: str, **params: Any) -> int:
    return int(session.execute(text(sql), params).scalar_one())


@pytest.fixture
def police(make_user: Any, auth_client: Any) -> Any:
    return auth_client(make_user("ogc-police", role="police"))


def test_conformance_walk_validates_against_the_standard_schemas(police: Any) -> None:
    r = police.get("/ogc")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    landing = r.json()
    valid(landing, "landingPage.yaml")
    for rel in ("self", "service-desc", "conformance", "data"):
        assert _rel(landing, rel), rel
    api = police.get(_path(_rel(landing, "service-desc")["href"]))
    assert api.status_code == 200 and api.json()["openapi"].startswith("3.0")
    assert "/collections/{collectionId}/items" in api.json()["paths"]
    conf = police.get(_path(_rel(landing, "conformance")["href"])).json()
    valid(conf, "confClasses.yaml")
    assert set(conf["conformsTo"]) == set(CONFORMANCE)
    colls = police.get(_path(_rel(landing, "data")["href"])).json()
    valid(colls, "collections.yaml")
    ids = [c["id"] for c in colls["collections"]]
    assert ids == ["cameras", "camera_views", "roads", "buildings", "incidents"]
    for c in colls["collections"]:
        one = police.get(_path(_rel(c, "self")["href"]))
        assert one.status_code == 200
        valid(one.json(), "collection.yaml")
        items = police.get(_path(_rel(c, "items")["href"]) + "?limit=3")
        assert items.status_code == 200, items.text
        assert items.headers["content-type"] == GEOJSON
        fc = items.json()
        valid(fc, "featureCollectionGeoJSON.yaml")
        assert fc["numberReturned"] == len(fc["features"]) <= 3
        if fc["features"]:
            fid = fc["features"][0]["id"]
            item = police.get(_path(_rel(c, "items")["href"]) + f"/{fid}")
            assert item.status_code == 200 and item.headers["content-type"] == GEOJSON
            valid(item.json(), "featureGeoJSON.yaml")
            assert item.json()["id"] == fid
        q = police.get(_path(_rel(c, "http://www.opengis.net/def/rel/ogc/1.0/queryables")["href"]))
        assert q.status_code == 200 and q.json()["type"] == "object"


def test_paging_through_next_links_reaches_every_feature_once(
    police: Any, session: Session
) -> None:
    box = (127.42, 36.34, 127.43, 36.35)
    expected = _count(
        session,
        "select count(*) from cameras where st_intersects(geom, st_makeenvelope(:a,:b,:c,:d,4326))",
        **dict(zip("abcd", box, strict=True)),
    )
    assert expected > 20
    url: str | None = "/ogc/collections/cameras/items?limit=7&bbox=" + ",".join(map(str, box))
    seen: list[Any] = []
    pages = 0
    while url:
        fc = police.get(url).json()
        valid(fc, "featureCollectionGeoJSON.yaml")
        assert fc["numberMatched"] == expected
        assert (pages > 0) == bool(_rel(fc, "prev"))
        seen += [f["id"] for f in fc["features"]]
        nxt = _rel(fc, "next")
        url = _path(nxt["href"]) if nxt else None
        assert url is None or "after=" in url  # a keyset cursor: linear paging at 1M rows
        pages += 1
    assert len(seen) == len(set(seen)) == expected
    assert pages == -(-expected // 7)


def test_bbox_and_datetime_select_what_the_database_holds(police: Any, session: Session) -> None:
    a, b, c, d = BBOX
    first = session.execute(
        text(
            "select min(occurred_at) from incidents where st_intersects(geom, "
            "st_makeenvelope(:a,:b,:c,:d,4326))"
        ),
        dict(a=a, b=b, c=c, d=d),
    ).scalar_one()
    start = (first + dt.timedelta(days=10)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (first + dt.timedelta(days=60)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = _count(
        session,
        "select count(*) from incidents where st_intersects(geom, st_makeenvelope(:a,:b,:c,:d,"
        "4326)) and occurred_at between :s and :e",
        a=a,
        b=b,
        c=c,
        d=d,
        s=start,
        e=end,
    )
    assert expected > 0
    r = police.get(
        "/ogc/collections/incidents/items",
        params={"bbox": f"{a},{b},{c},{d}", "datetime": f"{start}/{end}", "limit": 10000},
    )
    assert r.status_code == 200, r.text
    fc = r.json()
    valid(fc, "featureCollectionGeoJSON.yaml")
    assert fc["numberMatched"] == fc["numberReturned"] == expected
    for f in fc["features"]:
        x, y = f["geometry"]["coordinates"]
        assert a <= x <= c and b <= y <= d
        t = dt.datetime.fromisoformat(f["properties"]["occurred_at"])
        assert dt.datetime.fromisoformat(start) <= t <= dt.datetime.fromisoformat(end)
    # half-open intervals and an instant
    later = police.get("/ogc/collections/incidents/items", params={"datetime": f"{end}/.."})
    before = police.get("/ogc/collections/incidents/items", params={"datetime": f"../{start}"})
    total = _count(session, "select count(*) from incidents")
    assert later.status_code == before.status_code == 200
    mid = _count(
        session,
        "select count(*) from incidents where occurred_at > :s and occurred_at < :e",
        s=start,
        e=end,
    )
    assert later.json()["numberMatched"] + before.json()["numberMatched"] + mid >= total


def test_cql2_text_and_property_filters_match_the_database(police: Any, session: Session) -> None:
    expected = _count(
        session, "select count(*) from cameras where purpose = 'traffic' and resolution_px >= 200"
    )
    r = police.get(
        "/ogc/collections/cameras/items",
        params={"filter": "purpose='traffic' AND resolution_px>=200", "filter-lang": "cql2-text"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["numberMatched"] == expected > 0
    eq = police.get("/ogc/collections/cameras/items", params={"purpose": "traffic"}).json()
    assert eq["numberMatched"] == _count(
        session, "select count(*) from cameras where purpose = 'traffic'"
    )
    neg = police.get(
        "/ogc/collections/cameras/items",
        params={"filter": "NOT (purpose = 'traffic') OR purpose IS NULL"},
    ).json()
    assert neg["numberMatched"] == _count(
        session, "select count(*) from cameras where purpose <> 'traffic' or purpose is null"
    )
    # an injection attempt in a property filter is a plain string value: no match, no error
    inj = police.get("/ogc/collections/cameras/items", params={"purpose": "x' OR '1'='1"})
    assert inj.status_code == 200 and inj.json()["numberMatched"] == 0


def test_a_limit_above_the_maximum_is_clamped(police: Any) -> None:
    r = police.get("/ogc/collections/cameras/items", params={"limit": 1_000_000})
    assert r.status_code == 200
    fc = r.json()
    assert fc["numberReturned"] == min(10_000, fc["numberMatched"])
    assert "limit=10000" in _rel(fc, "self")["href"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": "0,91,1,92"}, "bbox"),
        ({"bbox": "nan,0,1,1"}, "bbox"),
        ({"bbox": "0,0,1,1", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/3857"}, "bbox-crs"),
        ({"datetime": "yesterday"}, "datetime"),
        ({"datetime": "2024-01-01T00:00:00"}, "datetime"),
        ({"datetime": "2024-02-01T00:00:00Z/2024-01-01T00:00:00Z"}, "datetime"),
        ({"datetime": "../.."}, "datetime"),
        ({"datetime": "0001-01-01T00:00:00Z"}, "datetime"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"after": "x"}, "after"),
        ({"after": str(2**64)}, "after"),
        ({"purpose": "a\x00b"}, "purpose"),
        ({"filter": "purpose = "}, "filter"),
        ({"filter": "stream_url = 'rtsp://x'"}, "filter"),
        ({"filter": "purpose = 'a'; drop table cameras"}, "filter"),
        ({"filter": "purpose = 1"}, "filter"),
        ({"filter": "1 = 1"}, "filter"),
        ({"filter": "(" * 200 + "purpose='a'" + ")" * 200}, "filter"),
        ({"filter": "purpose='a'", "filter-lang": "cql2-json"}, "filter-lang"),
        ({"resolution_px": "high"}, "resolution_px"),
        ({"stream_url": "rtsp://x"}, "stream_url"),
        ({"f": "html"}, "f"),
    ],
)
def test_malformed_parameters_are_400_naming_them(
    police: Any, params: dict[str, str], field: str
) -> None:
    r = police.get("/ogc/collections/cameras/items", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["detail"]["field"] == field


def test_datetime_on_a_collection_without_time_is_400(police: Any) -> None:
    r = police.get("/ogc/collections/roads/items", params={"datetime": "2024-01-01T00:00:00Z"})
    assert r.status_code == 400 and r.json()["detail"]["field"] == "datetime"


def test_unknown_collection_and_feature_are_404(police: Any) -> None:
    for path in (
        "/ogc/collections/nope",
        "/ogc/collections/nope/items",
        "/ogc/collections/x/items/1",
    ):
        r = police.get(path)
        assert r.status_code == 404 and r.json()["detail"]["field"] == "collectionId", path
    for fid in ("999999999", "abc", "99999999999999999999999"):
        r = police.get(f"/ogc/collections/cameras/items/{fid}")
        assert r.status_code == 404 and r.json()["detail"]["field"] == "featureId", fid


def test_a_collection_the_role_may_not_read_is_hidden_but_the_refusal_audited(
    police: Any, session: Session
) -> None:
    hidden = police.get("/ogc/collections/coverage_gaps")
    unknown = police.get("/ogc/collections/no_such_thing")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["detail"].keys() == unknown.json()["detail"].keys()
    assert "coverage_gaps" not in police.get("/ogc/collections").text
    assert police.get("/ogc/collections/coverage_gaps/items").status_code == 404
    denied = _count(
        session,
        "select count(*) from audit_log where action = 'denied' and username = 'ogc-police' "
        "and detail->>'collection' = 'coverage_gaps'",
    )
    assert denied == 2


def test_incidents_follow_the_role_table(
    make_user: Any, auth_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    planner = auth_client(make_user("ogc-planner", role="planner"))
    r = planner.get("/ogc/collections/incidents/items", params={"limit": 5})
    assert r.status_code == 200
    props = r.json()["features"][0]["properties"]
    assert "occurred_at" in props and "kind" in props
    assert "case_number" not in props and "description" not in props  # incident_details
    bad = planner.get("/ogc/collections/incidents/items", params={"filter": "description='x'"})
    assert bad.status_code == 400 and bad.json()["detail"]["field"] == "filter"
    # a role that may not read incidents does not see the collection at all
    monkeypatch.setitem(
        PERMISSIONS,
        "incident_read",
        tuple(r for r in PERMISSIONS["incident_read"] if r != "planner"),
    )
    assert planner.get("/ogc/collections/incidents").status_code == 404
    assert planner.get("/ogc/collections/incidents/items").status_code == 404
    assert "incidents" not in [
        c["id"] for c in planner.get("/ogc/collections").json()["collections"]
    ]


def test_stream_urls_never_leave_even_for_admins(
    make_user: Any, auth_client: Any, session: Session
) -> None:
    secret = "rtsp://admin:hunter2@10.0.0.9/stream"
    cam = session.execute(text("select id from cameras order by id limit 1")).scalar_one()
    session.execute(
        text("update cameras set stream_url = :u where id = :i"), {"u": secret, "i": cam}
    )
    for role in ("admin", "police"):
        c = auth_client(make_user(f"ogc-{role}-s", role=role))
        for path in (
            "/ogc/collections/cameras/items?limit=5&filter=name IS NOT NULL",
            "/ogc/collections/cameras/items?limit=5",
            f"/ogc/collections/cameras/items/{cam}",
            "/ogc/collections/cameras/queryables",
            "/ogc/api",
        ):
            r = c.get(path)
            assert "stream_url" not in r.text and "hunter2" not in r.text, path


def test_an_unregistered_address_is_refused_and_audited(
    make_user: Any, auth_client: Any, session: Session
) -> None:
    user = make_user("ogc-far", role="police")
    r = auth_client(user, ip="203.0.113.7").get("/ogc/collections/cameras/items")
    assert r.status_code == 403
    assert "features" not in r.text
    assert (
        _count(
            session,
            "select count(*) from audit_log where action='denied' and username='ogc-far' "
            "and client_ip='203.0.113.7'",
        )
        >= 1
    )


def test_no_token_no_layers(client: Any) -> None:
    for path in ("/ogc", "/ogc/collections", "/ogc/collections/cameras/items"):
        assert client.get(path).status_code == 401, path


def test_reads_of_incidents_are_audited_and_cameras_are_not(police: Any, session: Session) -> None:
    def views() -> int:
        return _count(
            session,
            "select count(*) from audit_log where action='view' and username='ogc-police' "
            "and detail->>'access' = 'ogc_features'",
        )

    police.get("/ogc/collections/cameras/items?limit=3")
    assert views() == 0
    fc = police.get("/ogc/collections/incidents/items?limit=3&bbox=127.25,36.25,127.5,36.45").json()
    assert views() == 1
    rec = session.execute(
        text(
            "select detail from audit_log where action='view' and username='ogc-police' "
            "order by id desc limit 1"
        )
    ).scalar_one()
    assert rec["collection"] == "incidents"
    assert rec["ids"] == [str(f["id"]) for f in fc["features"]]
    assert rec["query"]["bbox"] == "127.25,36.25,127.5,36.45"
    one = fc["features"][0]["id"]
    police.get(f"/ogc/collections/incidents/items/{one}")
    assert views() == 2
    assert (
        session.execute(
            text(
                "select incident_id from audit_log where username='ogc-police' order by id desc limit 1"
            )
        ).scalar_one()
        == one
    )
