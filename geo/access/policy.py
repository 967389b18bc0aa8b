"""THE policy: what a video request or push may grant, who may change or request on an incident,
and the automation rules. Read by the gate (:mod:`geo.access.gate`) and the request workflows
(:mod:`geo.access.requests`); nothing else decides these.

What a request may grant without a supervisor (numbers from :mod:`geo.settings`):

* **window**: the recorded window starts at most ``policy_window_before_s`` (2 h) before the
  incident's ``occurred_at`` and ends at most ``policy_window_after_s`` (1 h) after it, and never
  after now (recorded video does not exist yet; a window into the future would be a standing
  grant of whatever is recorded next);
* **live**: only while the incident is open (the gate ends live view when it is closed);
* **expiry**: at most ``share_ttl_s`` (24 h) from now;
* **cameras**: at most ``policy_max_cameras`` (10).

An officer's request beyond any of these is not refused: it becomes a share in approval
``pending`` that opens nothing until an operator or admin (permission ``approve_request``)
approves it, possibly narrowed, or refuses it; each decision is audited with approver and reason.
A push by the centre beyond the same caps is refused (422 naming the field): the centre is the
approver, so it has nobody to ask, and a wider grant must go through an officer's request and
another person's approval.

Incidents are owned by the agency of the user who registered them (``incidents.agency_id``;
``null`` = the control centre). Only that agency or the centre (permission
``incident_write_any``) may change one; other agencies' officers may request video on it only
once it is shared with their agency (``incident_shares``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.access.roles import has_permission
from geo.errors import InvalidInput
from geo.models.access import Agency, Share, User
from geo.settings import get_settings
from geo.times import now_utc

#: Approval states of a share: within policy, waiting, decided.
APPROVALS = ("auto", "pending", "approved", "refused")


@dataclass(frozen=True)
class Limits:
    """The numbers of the policy (from settings, so tests and centres can tune them)."""

    window_before_s: int
    window_after_s: int
    ttl_s: int
    max_cameras: int


def limits() -> Limits:
    """The policy's numbers as configured now."""
    s = get_settings()
    return Limits(
        window_before_s=s.policy_window_before_s,
        window_after_s=s.policy_window_after_s,
        ttl_s=s.share_ttl_s,
        max_cameras=s.policy_max_cameras,
    )


@dataclass
class Decision:
    """What a request asked for, and whether the policy grants it without approval.

    ``approval`` is ``'auto'`` (within policy) or ``'pending'``; ``reasons`` say why it is
    pending, one per broken cap, and ``fields`` name the input each reason is about.
    """

    approval: str
    start: dt.datetime
    end: dt.datetime
    live: bool
    expires_at: dt.datetime
    k: int
    reasons: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)

    @property
    def within_policy(self) -> bool:
        return self.approval == "auto"

    def as_dict(self) -> dict[str, Any]:
        return {
            "approval": self.approval,
            "reasons": list(self.reasons),
            "fields": list(self.fields),
            "policy": policy_dict(),
        }


def span(seconds: float) -> str:
    """A duration as people say it: ``45 s``, ``90 min``, ``25 h``, ``29 days``."""
    s = abs(float(seconds))

    def num(x: float) -> str:
        r = round(x, 1)
        return str(int(r)) if r == int(r) else str(r)

    if s < 120:
        return f"{num(s)} s"
    if s < 2 * 3600 and not (s >= 3600 and s % 3600 == 0):
        return f"{num(s / 60)} min"
    if s < 72 * 3600:
        return f"{num(s / 3600)} h"
    return f"{num(s / 86400)} days"


def policy_dict() -> dict[str, Any]:
    """The policy's numbers as JSON (for answers and docs)."""
    lim = limits()
    return {
        "window_before_incident_s": lim.window_before_s,
        "window_after_incident_s": lim.window_after_s,
        "max_expiry_s": lim.ttl_s,
        "max_cameras": lim.max_cameras,
        "live": "only while the incident is open",
    }


def evaluate_request(
    *,
    incident: dict[str, Any],
    user: User,
    start: dt.datetime,
    end: dt.datetime,
    live: bool,
    expires_at: dt.datetime,
    k: int,
    now: dt.datetime | None = None,
) -> Decision:
    """Whether a request on ``incident`` for the window ``[start, end]``, ``live``, lasting until
    ``expires_at``, of ``k`` cameras, is within policy (``approval='auto'``) or needs a
    supervisor (``'pending'``, with the reasons). ``user`` is the requester (the same caps apply
    to every role today). Times must be timezone-aware.
    """
    now = now or now_utc()
    lim = limits()
    occurred: dt.datetime = incident["occurred_at"]
    reasons: list[str] = []
    fields: list[str] = []

    def over(why: str, fld: str) -> None:
        reasons.append(why)
        fields.append(fld)

    before = (occurred - start).total_seconds()
    if before > lim.window_before_s:
        over(
            f"window starts {span(before)} before the incident "
            f"(policy: {span(lim.window_before_s)})",
            "start",
        )
    after = (end - occurred).total_seconds()
    if after > lim.window_after_s:
        over(
            f"window ends {span(after)} after the incident (policy: {span(lim.window_after_s)})",
            "end",
        )
    if end > now:
        over(
            f"window ends {span((end - now).total_seconds())} in the future "
            "(policy: recorded video up to now)",
            "end",
        )
    ttl = (expires_at - now).total_seconds()
    if ttl > lim.ttl_s:
        over(f"share would last {span(ttl)} (policy: at most {span(lim.ttl_s)})", "expires_at")
    if k > lim.max_cameras:
        over(f"{k} cameras requested (policy: at most {lim.max_cameras})", "k")
    if live and incident.get("status") != "open":
        over("live view only while the incident is open", "live")
    return Decision(
        approval="pending" if reasons else "auto",
        start=start,
        end=end,
        live=live,
        expires_at=expires_at,
        k=k,
        reasons=reasons,
        fields=fields,
    )


def enforce_for_push(decision: Decision) -> None:
    """A centre's push must be within policy: :class:`InvalidInput` naming the first field
    beyond it (all reasons in ``detail.reasons``) otherwise."""
    if decision.reasons:
        raise InvalidInput(
            "push beyond policy: " + "; ".join(decision.reasons),
            field=decision.fields[0],
            reasons=decision.reasons,
        )


def check_approval(
    share: Share,
    *,
    start: dt.datetime | None,
    end: dt.datetime | None,
    expires_at: dt.datetime | None,
    live: bool | None,
    now: dt.datetime | None = None,
) -> tuple[dt.datetime | None, dt.datetime | None, dt.datetime, bool]:
    """The values an approval grants: the request's, or narrower ones the approver gives.

    An approver narrows, never widens: the window must lie inside the requested one, the expiry
    not after the requested one, live only if requested. The granted window must end by now and
    the expiry lie in the future. :class:`InvalidInput` naming the field otherwise.
    """
    now = now or now_utc()
    s = start if start is not None else share.past_start
    e = end if end is not None else share.past_end
    if (s is None) != (e is None):
        raise InvalidInput("give both start and end of the window", field="start")
    if s is not None and e is not None:
        if s > e:
            raise InvalidInput("start must not be after end", field="start")
        if share.past_start is None or share.past_end is None:
            raise InvalidInput("the request asked for no recorded window", field="start")
        if s < share.past_start:
            raise InvalidInput(
                f"an approval may narrow the requested window, not widen it: start is before "
                f"{share.past_start.isoformat()}",
                field="start",
            )
        if e > share.past_end:
            raise InvalidInput(
                f"an approval may narrow the requested window, not widen it: end is after "
                f"{share.past_end.isoformat()}",
                field="end",
            )
        if e > now:
            raise InvalidInput(
                "an approved window must end by now (recorded video only); give an earlier end",
                field="end",
            )
    exp = expires_at if expires_at is not None else share.expires_at
    if exp <= now:
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    if exp > share.expires_at:
        raise InvalidInput(
            f"an approval may not extend the requested expiry {share.expires_at.isoformat()}",
            field="expires_at",
        )
    lv = share.live if live is None else live
    if lv and not share.live:
        raise InvalidInput("the request did not ask for live view", field="live")
    return s, e, exp, lv


# --- who may change, share or request on an incident -------------------------------------------

#: action -> the permission (geo.access.roles) it needs before the ownership rule.
INCIDENT_ACTIONS: dict[str, str] = {
    "incident_update": "incident_write",
    "incident_share": "incident_write",
    "video_request": "video_request",
}


def _owner_name(session: Session, incident: dict[str, Any]) -> str:
    aid = incident.get("agency_id")
    if aid is None:
        return "the control centre"
    name = session.execute(select(Agency.name).where(Agency.id == aid)).scalar_one_or_none()
    return repr(name) if name is not None else f"agency {aid}"


def owns_incident(user: User, incident: dict[str, Any]) -> bool:
    """Whether ``user``'s agency owns ``incident`` (users without an agency own none)."""
    return user.agency_id is not None and incident.get("agency_id") == user.agency_id


def shared_with(session: Session, incident_id: int, agency_id: int | None) -> bool:
    """Whether the incident is shared with ``agency_id``."""
    from geo.models.policy import IncidentShare

    if agency_id is None:
        return False
    return session.get(IncidentShare, (incident_id, agency_id)) is not None


def incident_refusal(
    session: Session, *, user: User, incident: dict[str, Any], action: str
) -> str | None:
    """``None`` when ``user`` may do ``action`` on ``incident`` under the ownership rules, else
    why not. Changing or sharing: the owning agency or the centre (``incident_write_any``).
    Requesting video: the owning agency, or an agency the incident is shared with."""
    if action not in INCIDENT_ACTIONS:
        raise KeyError(action)  # a typo must fail loudly, never grant
    if owns_incident(user, incident):
        return None
    iid = incident["id"]
    owner = _owner_name(session, incident)
    if action == "video_request":
        if shared_with(session, iid, user.agency_id):
            return None
        mine = repr(user.agency_name) if user.agency_name else "a user without an agency"
        return (
            f"incident {iid} belongs to {owner} and is not shared with {mine}: "
            "ask its agency or the control centre to share it"
        )
    if has_permission(user.role, "incident_write_any"):
        return None
    verb = "change" if action == "incident_update" else "share"
    return (
        f"incident {iid} belongs to {owner}: only that agency or the control centre may {verb} it"
    )


def live_refusal(session: Session, share: Share) -> str | None:
    """``None`` while ``share`` may give live view under the policy, else why not: live view of
    an incident's share ends when the incident is closed."""
    if share.incident_id is None:
        return None
    from geo.models import Incident

    status = session.execute(
        select(Incident.status).where(Incident.id == share.incident_id)
    ).scalar_one_or_none()
    if status is not None and status != "open":
        return f"share {share.id}: live view ended when incident {share.incident_id} was closed"
    return None


# --- automation rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AutomationRule:
    """Something the service does by itself on an event, as the user who caused it.

    ``setting`` names the boolean in :mod:`geo.settings` that switches the rule off.
    """

    name: str
    setting: str
    description: str
    applies: Callable[[dict[str, Any], User], bool]


def _p1_police(incident: dict[str, Any], user: User) -> bool:
    return (
        incident.get("kind") == "police"
        and int(incident.get("priority") or 0) == 1
        and has_permission(user.role, "auto_video_request")
    )


#: The rules run when an incident is registered (each audited as the registering user, with
#: ``detail.automation`` naming the rule).
ON_INCIDENT_REGISTERED: tuple[AutomationRule, ...] = (
    AutomationRule(
        name="p1_police_auto_request",
        setting="policy_rule_p1_police_auto_request",
        description="a priority-1 police incident registered by a police officer makes its "
        "video request on registration, for that officer",
        applies=_p1_police,
    ),
)


def rule_enabled(rule: AutomationRule) -> bool:
    return bool(getattr(get_settings(), rule.setting))


def rules_on_registration(incident: dict[str, Any], user: User) -> list[AutomationRule]:
    """The enabled rules that fire when ``user`` registers ``incident``."""
    return [r for r in ON_INCIDENT_REGISTERED if rule_enabled(r) and r.applies(incident, user)]
