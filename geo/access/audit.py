"""The append-only audit log: write a record, query it, verify its hash chain.

Records are written in the caller's transaction (:func:`audit`), so an action and its record
commit or vanish together; denials and failed logins use :func:`audit_detached`, a separate short
transaction that persists although the request fails. The database chains each record when its
transaction commits (``seq``, ``prev_hash``, ``hash``; see migration ``0002_access``) and refuses
UPDATE, DELETE and TRUNCATE; :func:`verify_chain` recomputes the chain and names the first bad row.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import TIMESTAMP, Connection, Engine, Text, case, cast, func, insert, select, text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.models.access import AuditLog, User
from geo.times import check_window

ACTIONS = (
    "login",
    "login_failed",
    "logout",  # the token was revoked (geo.access.revocation)
    "video_request",
    "share_grant",
    "share_push",
    "share_revoke",
    "view",
    "denied",
    "export",
    "incident_create",
    "incident_update",
    "incident_share",
    "request_approve",
    "request_refuse",
    "user_add",
    "user_disable",
    "masks_edit",
    # routes, tracks, reachable sets: following a person (geo.access.gate.authorize_trace)
    "trace",
)

AUDIT_FIELDS = (
    "id",
    "seq",
    "at",
    "action",
    "user_id",
    "username",
    "role",
    "agency",
    "client_ip",
    "case_number",
    "incident_id",
    "share_id",
    "camera_ids",
    "window_start",
    "window_end",
    "reason",
    "detail",
    "prev_hash",
    "hash",
)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set):
        return [_jsonable(x) for x in v]
    if isinstance(v, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(v)
    return v


def _values(
    *,
    action: str,
    user: User | None,
    username: str | None,
    client_ip: str | None,
    case_number: str | None,
    incident_id: int | None,
    share_id: int | None,
    camera_ids: Iterable[int] | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    reason: str | None,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    if action not in ACTIONS:
        raise InvalidInput(f"unknown audit action {action!r}", field="action")
    return {
        "action": action,
        "user_id": user.id if user is not None else None,
        "username": user.username if user is not None else username,
        "role": user.role if user is not None else None,
        "agency": user.agency_name if user is not None else None,
        "client_ip": client_ip,
        "case_number": case_number,
        "incident_id": incident_id,
        "share_id": share_id,
        "camera_ids": [int(c) for c in camera_ids] if camera_ids is not None else None,
        "window_start": start,
        "window_end": end,
        "reason": reason,
        "detail": _jsonable(detail) if detail else None,
    }


def audit(
    session: Session,
    *,
    action: str,
    user: User | None = None,
    username: str | None = None,
    client_ip: str | None = None,
    case_number: str | None = None,
    incident_id: int | None = None,
    share_id: int | None = None,
    camera_ids: Iterable[int] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one audit record in the caller's transaction; returns its id.

    The record is chained (``seq``/``hash``) when that transaction commits, and disappears with it
    on rollback: use :func:`audit_detached` for events that must outlive a failing request.
    """
    vals = _values(
        action=action,
        user=user,
        username=username,
        client_ip=client_ip,
        case_number=case_number,
        incident_id=incident_id,
        share_id=share_id,
        camera_ids=camera_ids,
        start=start,
        end=end,
        reason=reason,
        detail=detail,
    )
    return int(session.execute(insert(AuditLog).values(**vals).returning(AuditLog.id)).scalar_one())


def engine_of(session: Session) -> Engine:
    """The engine under a session, also when the session is bound to a connection (tests)."""
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def audit_detached(session: Session, **kw: Any) -> int:
    """Append one audit record in its own short transaction (committed now, chained at once).

    Used for denials and failed logins: the request that caused them is rolled back, its record
    must not be. Takes the same keywords as :func:`audit`.
    """
    vals = _values(
        action=kw.pop("action"),
        user=kw.pop("user", None),
        username=kw.pop("username", None),
        client_ip=kw.pop("client_ip", None),
        case_number=kw.pop("case_number", None),
        incident_id=kw.pop("incident_id", None),
        share_id=kw.pop("share_id", None),
        camera_ids=kw.pop("camera_ids", None),
        start=kw.pop("start", None),
        end=kw.pop("end", None),
        reason=kw.pop("reason", None),
        detail=kw.pop("detail", None),
    )
    if kw:
        raise TypeError(f"unexpected audit fields: {sorted(kw)}")
    with engine_of(session).begin() as conn:
        return int(
            conn.execute(insert(AuditLog).values(**vals).returning(AuditLog.id)).scalar_one()
        )


def query_audit(
    session: Session,
    *,
    username: str | None = None,
    action: str | None = None,
    camera_id: int | None = None,
    case_number: str | None = None,
    incident_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Audit records matching every given filter (``start <= at < end``), newest first."""
    if action is not None and action not in ACTIONS:
        raise InvalidInput(
            f"action must be one of {', '.join(ACTIONS)}, got {action!r}", field="action"
        )
    start, end = check_window(start, end)
    conds: list[Any] = []
    if username:
        conds.append(AuditLog.username == username)
    if action:
        conds.append(AuditLog.action == action)
    if camera_id is not None:
        conds.append(AuditLog.camera_ids.contains([camera_id]))
    if case_number:
        conds.append(AuditLog.case_number == case_number)
    if incident_id is not None:
        conds.append(AuditLog.incident_id == incident_id)
    if start is not None:
        conds.append(AuditLog.at >= start)
    if end is not None:
        conds.append(AuditLog.at < end)
    cols = [_readable(f) for f in AUDIT_FIELDS]
    cols += [cast(getattr(AuditLog, f), Text).label(f"_{f}_text") for f in _TIME_FIELDS]
    q = select(*cols).where(*conds).order_by(AuditLog.id.desc()).limit(limit).offset(offset)
    total = session.execute(select(func.count()).select_from(AuditLog).where(*conds)).scalar_one()
    return [_row(r) for r in session.execute(q).mappings()], int(total)


#: time stamp columns of the log, and the range Python's datetime can hold in any time zone
_TIME_FIELDS = ("at", "window_start", "window_end")
_READABLE = ("0002-01-01T00:00:00Z", "9998-12-31T00:00:00Z")


def _readable(name: str) -> Any:
    """The column, or for a time stamp the value only when Python can hold it (NULL otherwise):
    rows written before the edge refused year 1 or 9999 must not make the log unreadable."""
    col = getattr(AuditLog, name)
    if name not in _TIME_FIELDS:
        return col
    lo, hi = (cast(v, TIMESTAMP(timezone=True)) for v in _READABLE)
    return case((col.between(lo, hi), col), else_=None).label(name)


def _row(r: Any) -> dict[str, Any]:
    """A record; an out-of-range time stamp comes as PostgreSQL's text of it."""
    out = {f: r[f] for f in AUDIT_FIELDS}
    for f in _TIME_FIELDS:
        if out[f] is None and r[f"_{f}_text"] is not None:
            out[f] = r[f"_{f}_text"]
    return out


@dataclass
class ChainReport:
    """Outcome of :func:`verify_chain`: ``ok``, rows checked, and the first problem found."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    first_bad_seq: int | None = None
    problem: str | None = None
    unchained: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad_id": self.first_bad_id,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
        }


_VERIFY_SQL = text(
    "select a.id, a.seq, a.prev_hash, a.hash, audit_log_digest(a.prev_hash, a) as recomputed "
    "from audit_log a where a.seq is not null order by a.seq"
)


_HEAD_SQL = text("select last_seq, last_hash from audit_chain_head where id = 1")


def verify_chain(conn: Connection | Session, *, batch: int = 10_000) -> ChainReport:
    """Recompute the hash chain in commit order and report the first tampered or missing row.

    Checks, row by row: ``seq`` has no gap (a deleted row), ``prev_hash`` equals the previous
    row's ``hash`` (a re-ordered or re-inserted row), ``hash`` equals the digest of the row's
    current content (an altered row); then that the last row matches ``audit_chain_head`` (rows cut
    from the end) and that no committed row was left unchained (inserted with triggers disabled).
    """
    # The head is read before and after the rows: under READ COMMITTED, records committed while
    # we read are legitimately newer than the first head, but never newer than the second.
    head_before = conn.execute(_HEAD_SQL).one()
    prev_hash = ""
    expected_seq = 1
    checked = 0
    hash_at_head: str | None = None
    res = conn.execute(_VERIFY_SQL.execution_options(yield_per=batch))
    for row in res:
        checked += 1
        problem = None
        if row.seq != expected_seq:
            problem = f"sequence gap: expected seq {expected_seq}, found {row.seq} (rows deleted?)"
        elif (row.prev_hash or "") != prev_hash:
            problem = "prev_hash does not match the previous row's hash (chain broken)"
        elif row.hash != row.recomputed:
            problem = "hash does not match the row's content (row altered)"
        if problem:
            res.close()
            return ChainReport(False, checked, row.id, row.seq, problem)
        prev_hash = row.hash
        if row.seq == head_before.last_seq:
            hash_at_head = row.hash
        expected_seq += 1
    end_seq = expected_seq - 1
    head_after = conn.execute(_HEAD_SQL).one() if end_seq > head_before.last_seq else head_before
    if end_seq < head_before.last_seq or end_seq > head_after.last_seq:
        return ChainReport(
            False,
            checked,
            None,
            expected_seq,
            f"chain head says seq {head_before.last_seq} but the log ends at seq {end_seq} "
            "(rows removed from the end, or the head was altered)",
        )
    if head_before.last_seq > 0 and hash_at_head != head_before.last_hash:
        return ChainReport(
            False,
            checked,
            None,
            head_before.last_seq,
            f"chain head's hash does not match row seq {head_before.last_seq} (head altered)",
        )
    unchained = [
        int(i)
        for i in conn.execute(
            text("select id from audit_log where seq is null or hash is null order by id")
        ).scalars()
    ]
    # Rows of still-open transactions are invisible here; a committed unchained row is tampering.
    if unchained:
        return ChainReport(
            False,
            checked,
            unchained[0],
            None,
            f"{len(unchained)} row(s) were committed without being chained (triggers disabled?)",
            unchained,
        )
    return ChainReport(True, checked)
