"""``/api/audit``: the audit log for auditors and admins (filters, JSON or CSV). Reading it is
itself audited (``export``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import ClientIP, CurrentUser, SessionDep
from api.validation import Int32Id, Offset, SafeStr, SaneDatetime
from geo.access import gate
from geo.access.audit import AUDIT_FIELDS, engine_of, query_audit, verify_chain

router = APIRouter(prefix="/api/audit", tags=["audit"])


#: A spreadsheet reads a cell starting with one of these as a formula (or a command); tab and
#: carriage return can hide such a start. Neutralised by a leading single quote (finding 9).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutral(text: str) -> str:
    """``text`` safe to open in a spreadsheet: never a live formula (OWASP CSV injection)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cell(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.isoformat()
    if isinstance(v, list):
        return _neutral(" ".join(str(x) for x in v))
    if isinstance(v, dict):
        return _neutral(json.dumps(v, ensure_ascii=False, sort_keys=True))
    if isinstance(v, str):
        return _neutral(v)
    return "" if v is None else v


@router.get("", responses={200: {"content": {"text/csv": {}}}})
def list_audit(
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
    username: SafeStr | None = Query(None, alias="user", description="who acted"),
    action: SafeStr | None = Query(None, description="login, video_request, view, denied, ..."),
    camera: Int32Id | None = Query(None, description="records naming this camera id"),
    case_number: SafeStr | None = Query(None),
    incident_id: Int32Id | None = Query(None),
    start: SaneDatetime | None = Query(None, description="at >= start (ISO 8601)"),
    end: SaneDatetime | None = Query(None, description="at < end (ISO 8601)"),
    limit: int = Query(1000, ge=1, le=100_000),
    offset: Offset = 0,
    format: Literal["json", "csv"] = Query("json"),
) -> Any:
    """Audit records, newest first (auditor, admin). ``format=csv`` downloads a CSV file."""
    filters = {
        "user": username,
        "action": action,
        "camera": camera,
        "case_number": case_number,
        "incident_id": incident_id,
        "start": start,
        "end": end,
    }
    chosen = {k: v for k, v in filters.items() if v is not None}
    gate.authorize(  # the read is on the record before any row leaves
        session,
        user=user,
        client_ip=ip,
        permission="audit_read",
        action="audit_read",
        record="export",
        case_number=case_number,
        incident_id=incident_id,
        camera_ids=[camera] if camera is not None else None,
        start=start,
        end=end,
        detail={"format": format, "limit": limit, "offset": offset, "filters": chosen},
    )
    rows, total = query_audit(
        session,
        username=username,
        action=action,
        camera_id=camera,
        case_number=case_number,
        incident_id=incident_id,
        start=start,
        end=end,
        limit=limit,
        offset=offset,
    )
    if format == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(AUDIT_FIELDS)
        for r in rows:
            w.writerow([_cell(r[f]) for f in AUDIT_FIELDS])
        return Response(
            buf.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="goldentime-audit.csv"'},
        )
    return {"records": rows, "total": total, "limit": limit, "offset": offset}


@router.get("/verify")
def verify_audit(session: SessionDep, user: CurrentUser, ip: ClientIP) -> dict[str, Any]:
    """Recompute the audit log's hash chain (auditor, admin): ``ok``, rows checked and the first
    bad row with the problem. The check itself is recorded (``export``, ``detail.verify``, before the check runs)."""
    gate.authorize(
        session,
        user=user,
        client_ip=ip,
        permission="audit_read",
        action="audit_verify",
        record="export",
        detail={"verify": True},
    )
    # the chain as committed, on its own connection: this request's record above is not chained
    # until its transaction commits, and must not read as a row committed unchained
    with engine_of(session).connect() as conn:
        return verify_chain(conn).to_dict()
