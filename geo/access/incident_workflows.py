"""Incident workflows of the access wing: registering (with the policy's automation rules),
changing an incident (its agency or the centre only) and sharing it with another agency, each
checked by the gate and audited in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.access import policy
from geo.access.audit import audit
from geo.access.gate import authorize_incident, require
from geo.access.requests import request_video
from geo.access.roles import roles_for
from geo.access.users import find_agency
from geo.errors import Conflict, GoldentimeError
from geo.incidents import create_incident, get_incident, update_incident
from geo.models.access import Agency, User
from geo.models.policy import IncidentShare

# --- automation rules on registration ----------------------------------------------------------


def run_registration_rules(
    session: Session, *, user: User, client_ip: str, incident: dict[str, Any]
) -> list[dict[str, Any]]:
    """Run the policy's enabled automation rules for an incident ``user`` just registered.

    Each rule acts as ``user`` through the same gate and policy as a click would (audited with
    ``detail.automation``). A rule that cannot act (no camera near, refused) leaves the
    registration standing and reports ``error`` instead of a share.
    """
    out: list[dict[str, Any]] = []
    for rule in policy.rules_on_registration(incident, user):
        try:
            with session.begin_nested():
                res = request_video(
                    session,
                    user=user,
                    client_ip=client_ip,
                    incident_id=incident["id"],
                    automation=rule.name,
                )
        except GoldentimeError as e:
            out.append({"rule": rule.name, "error": e.to_dict()})
            continue
        out.append(
            {
                "rule": rule.name,
                "share": res["share"],
                "cameras": res["cameras"],
                "decision": res["decision"],
            }
        )
    return out


# --- sharing an incident with another agency ------------------------------------------------------


def incident_agencies(session: Session, incident_id: int) -> list[str]:
    """Names of the agencies an incident is shared with, by name."""
    q = (
        select(Agency.name)
        .join(IncidentShare, IncidentShare.agency_id == Agency.id)
        .where(IncidentShare.incident_id == incident_id)
        .order_by(Agency.name)
    )
    return list(session.execute(q).scalars())


def share_incident(
    session: Session,
    *,
    user: User,
    client_ip: str,
    incident_id: int,
    agency: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Share an incident with ``agency`` so its officers may request video on it: by the owning
    agency or the centre (audited ``incident_share``; refusals audited). Sharing again is a
    no-op; sharing with the owner is a :class:`Conflict`."""
    incident = get_incident(session, incident_id)
    authorize_incident(
        session, user=user, client_ip=client_ip, incident=incident, action="incident_share"
    )
    target = find_agency(session, agency)
    if target.id == incident.get("agency_id"):
        raise Conflict(f"incident {incident_id} already belongs to {agency!r}", field="agency")
    created = session.get(IncidentShare, (incident_id, target.id)) is None
    if created:
        session.add(
            IncidentShare(
                incident_id=incident_id,
                agency_id=target.id,
                shared_by_user_id=user.id,
                reason=(reason or "").strip() or None,
            )
        )
        session.flush()
        audit(
            session,
            action="incident_share",
            user=user,
            client_ip=client_ip,
            incident_id=incident_id,
            case_number=incident["case_number"],
            reason=(reason or "").strip() or None,
            detail={"agency": target.name},
        )
    return {
        "incident_id": incident_id,
        "agency": target.name,
        "created": created,
        "shared_with": incident_agencies(session, incident_id),
    }


# --- registering and changing incidents ----------------------------------------------------------


def register_incident(
    session: Session, *, user: User, client_ip: str, **fields: Any
) -> dict[str, Any]:
    """Register an incident (permission ``incident_write``, registered address; audited
    ``incident_create``), owned by ``user``'s agency, then run the automation rules.

    Returns ``{"incident": record, "automation": [rule results]}``
    (see :func:`run_registration_rules`).
    """
    require(
        session,
        user=user,
        client_ip=client_ip,
        roles=roles_for("incident_write"),
        action="incident_create",
    )
    rec = create_incident(session, **fields, created_by=user.username, agency_id=user.agency_id)
    audit(
        session,
        action="incident_create",
        user=user,
        client_ip=client_ip,
        incident_id=rec["id"],
        case_number=rec["case_number"],
        detail={"kind": rec["kind"], "priority": rec["priority"]},
    )
    auto = run_registration_rules(session, user=user, client_ip=client_ip, incident=rec)
    return {"incident": rec, "automation": auto}


def change_incident(
    session: Session, *, user: User, client_ip: str, incident_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change an incident (e.g. close it): only its agency or the centre, from a registered
    address (refusals audited); audited ``incident_update`` with the changes."""
    incident = get_incident(session, incident_id)
    authorize_incident(
        session, user=user, client_ip=client_ip, incident=incident, action="incident_update"
    )
    rec = update_incident(session, incident_id, changes)
    audit(
        session,
        action="incident_update",
        user=user,
        client_ip=client_ip,
        incident_id=incident_id,
        case_number=rec["case_number"],
        detail={"changes": changes},
    )
    return rec
