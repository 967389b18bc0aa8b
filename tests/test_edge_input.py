"""Input at the edge, written as the attacks of issue 11 (findings 3, 9, 10, 12, 13).

Each test sends what the attacker sent and expects a 4xx naming the field (never a 500), an
answer that says what it skipped, or a CSV cell that is no longer a formula.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geo.models.access import AuditLog

pytestmark = pytest.mark.usefixtures("sample_loaded")


def _fields(r: Any) -> set[str]:
    """Every field a refusal names (the first, and each of ``errors``)."""
    d = r.json()["detail"]
    out = {d.get("field")}
    out.update(e.get("field") for e in d.get("errors") or ())
    return {f for f in out if f}


def _refused(r: Any, field: str, status: int = 422) -> None:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert field in _fields(r), r.json()


def _camera_id(session: Session) -> int:
    return int(session.execute(text("select min(id) from cameras")).scalar_one())


def _audit_rows(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(AuditLog)).scalar_one())


# --- finding 3: a date in year 1 must never reach the audit log -----------------------------------


def test_snapshot_in_year_one_is_refused_naming_at_and_not_audited(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    c = auth_client(make_user("edge_op", role="operator", agency="Yuseong CCTV centre"))
    cam = _camera_id(session)
    before = _audit_rows(session)
    for at in ("0001-01-01T00:00:00", "9999-12-31T23:59:59", "1969-12-31T23:59:59+00:00"):
        r = c.get(f"/api/cameras/{cam}/snapshot.jpg", params={"at": at})
        _refused(r, "at")
    assert _audit_rows(session) == before


def test_audit_log_stays_readable_with_an_out_of_range_time_already_stored(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    """A row written before the edge refused year 1 (1 BC in UTC) must not make the log 500."""
    cam = _camera_id(session)
    session.execute(
        text(
            "insert into audit_log (action, username, client_ip, camera_ids, window_start, "
            "window_end) values ('denied', 'old-attacker', '127.0.0.1', :cams, "
            "'0001-01-01 00:00:00+09', '0001-01-01 00:00:00+09')"
        ),
        {"cams": [cam]},
    )
    c = auth_client(make_user("edge_aud", role="auditor", agency="Daejeon Metropolitan City"))
    r = c.get("/api/audit", params={"camera": cam})
    assert r.status_code == 200, r.text[:500]
    old = [x for x in r.json()["records"] if x["username"] == "old-attacker"]
    assert old and "BC" in old[0]["window_start"]
    r = c.get("/api/audit", params={"format": "csv"})
    assert r.status_code == 200, r.text[:500]
    assert "old-attacker" in r.text


# --- finding 9: CSV injection through a failed login's user name ----------------------------------


def test_audit_csv_neutralises_a_formula_user_name(
    session: Session, make_user: Any, auth_client: Any, client: Any
) -> None:
    evil = '=HYPERLINK("http://x","y")'
    r = client.post("/api/auth/token", data={"username": evil, "password": "nope"})
    assert r.status_code == 401
    c = auth_client(make_user("edge_csv", role="auditor", agency="Daejeon Metropolitan City"))
    r = c.get("/api/audit", params={"format": "csv", "user": evil, "action": "login_failed"})
    assert r.status_code == 200, r.text[:500]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows, "the failed login must be in the export"
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert rows[0]["username"] == "'" + evil


# --- finding 10: the inputs that were 500s ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/cameras/2147483648", {}, "camera_id"),
        ("/api/cameras", {"offset": 2**63}, "offset"),
        ("/api/cameras", {"purpose": "crime\x00prevention"}, "purpose"),
        ("/api/incidents", {"start": "9999-12-31T23:59:59"}, "start"),
        ("/api/incidents", {"end": "0001-01-01T00:00:00+10:34"}, "end"),
        ("/api/incidents", {"kind": "a" * 5000}, "kind"),
        ("/api/incidents/2147483648", {}, "incident_id"),
        ("/api/shares/9223372036854775807", {}, "share_id"),
        ("/api/audit", {"incident_id": 2**40}, "incident_id"),
        ("/api/cameras/nearest", {"lat": "nan", "lon": 127.3}, "lat"),
        (
            "/api/cameras/nearest",
            {"lat": 36.3, "lon": 127.3, "max_distance_m": "inf"},
            "max_distance_m",
        ),
    ],
)
def test_out_of_range_query_and_path_values_are_422(
    make_user: Any, auth_client: Any, path: str, params: dict[str, Any], field: str
) -> None:
    c = auth_client(make_user("edge_admin", role="admin", agency="Yuseong CCTV centre"))
    _refused(c.get(path, params=params), field)


@pytest.mark.parametrize(
    ("bbox", "field"),
    [
        ("-180,-90,180,90", "bbox"),  # the world: not a planning area
        ("-180,0,180,0.001", "bbox"),  # a thin band right round the globe
        ("127,36,nan,37", "bbox"),
    ],
)
def test_world_bbox_on_coverage_routes_is_422(
    make_user: Any, auth_client: Any, bbox: str, field: str
) -> None:
    c = auth_client(make_user("edge_plan", role="planner", agency="Daejeon Metropolitan City"))
    for path in ("/api/coverage/summary", "/api/coverage/gaps", "/api/coverage/map"):
        _refused(c.get(path, params={"bbox": bbox}), field)
    r = c.post("/api/siting", json={"k": 1, "demand": {"bbox": bbox}})
    _refused(r, "demand.bbox")


def test_tiny_speed_is_422_naming_the_speed(make_user: Any, auth_client: Any) -> None:
    c = auth_client(
        make_user("edge_inv", role="investigator", agency="Daejeon Metropolitan Police Agency")
    )
    body = {
        "case_number": "2026-1",
        "reason": "edge input test",
        "from": {"lat": 60.1699, "lon": 24.9414},
        "to": {"lat": 60.1710, "lon": 24.9450},
        "speed_range": {"min_kph": 1e-300, "max_kph": 5},
    }
    _refused(c.post("/api/routes", json=body), "speed_range.min_kph")


def test_two_hundred_sightings_on_a_track_map_are_422_naming_sighting(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    c = auth_client(
        make_user("edge_inv2", role="investigator", agency="Daejeon Metropolitan Police Agency")
    )
    cam = _camera_id(session)
    params = [("case_number", "2026-1"), ("reason", "edge input test")]
    params += [
        ("sighting", f"{cam}@2026-05-01T14:{i // 60:02d}:{i % 60:02d}+09:00") for i in range(200)
    ]
    _refused(c.get("/api/tracks/map", params=params), "sighting")


def test_nan_in_a_mask_is_422(session: Session, make_user: Any, auth_client: Any) -> None:
    c = auth_client(make_user("edge_op2", role="operator", agency="Yuseong CCTV centre"))
    cam = _camera_id(session)
    raw = '{"masks": [{"points": [[0, 0], [NaN, 10], [10, 10]], "label": "window"}]}'
    r = c.put(
        f"/api/cameras/{cam}/masks", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text[:500]
    assert any(f.startswith("masks.0") for f in _fields(r)), r.json()


def test_framework_refusals_have_the_error_shape(make_user: Any, auth_client: Any) -> None:
    c = auth_client(make_user("edge_admin2", role="admin", agency="Yuseong CCTV centre"))
    r = c.get("/api/cameras/not-a-number")
    assert r.status_code == 404
    assert r.json()["detail"]["error"] == "NotFound"
    r = c.post("/api/siting", content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500
    assert {"error", "message"} <= set(r.json()["detail"])


# --- finding 12: unknown body fields are refused ---------------------------------------------------


def test_siting_with_a_misplaced_filter_is_422_naming_it(make_user: Any, auth_client: Any) -> None:
    c = auth_client(make_user("edge_plan2", role="planner", agency="Daejeon Metropolitan City"))
    r = c.post("/api/siting", json={"k": 5, "bbox": "127.30,36.33,127.40,36.40"})
    _refused(r, "bbox")
    r = c.post("/api/siting", json={"k": 5, "demand": {"kind": "traffic", "purposes": ["x"]}})
    _refused(r, "demand.purposes")


def test_every_request_body_refuses_unknown_fields() -> None:
    """Each JSON body model of the API forbids extra fields (``additionalProperties: false``)."""
    from api.main import app

    schemas = app.openapi()["components"]["schemas"]
    open_bodies = [
        name
        for name, s in schemas.items()
        if s.get("type") == "object"
        and not name.startswith(("Error", "Body_"))
        and s.get("additionalProperties") is not False
        and name.endswith(("In", "Request", "Patch", "Filter", "Point"))
    ]
    assert not open_bodies, f"request bodies accepting unknown fields: {open_bodies}"


# --- finding 13: stored polar incidents cannot break siting ----------------------------------------


def test_polar_incidents_are_skipped_by_siting_and_counted(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    officer = auth_client(make_user("edge_pol", role="police"))
    for lat in (89.9, -89.9, 89.9):
        r = officer.post(
            "/api/incidents", json={"kind": "police", "lat": lat, "lon": 127.3, "priority": 3}
        )
        assert r.status_code == 201, r.text[:500]
    planner = auth_client(
        make_user("edge_plan3", role="planner", agency="Daejeon Metropolitan City")
    )
    r = planner.post("/api/siting", json={"k": 1, "method": "greedy", "radius_m": 100})
    assert r.status_code == 200, r.text[:800]
    out = r.json()
    assert out["skipped"]["outside_crs"] >= 3
    assert any("skipped" in n for n in out["notes"])
    for site in out["sites"]:
        assert -80 < site["lat"] < 84
