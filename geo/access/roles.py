"""THE role table: which role may do what. No role list lives anywhere else.

Every permission the product checks is a row here; :func:`roles_for` answers "who may", and the
gate (:mod:`geo.access.gate`) is the only caller that refuses. The migration that created the
``users.role`` check constraint (0002) copies :data:`ROLES`; a new role needs a migration too.
"""

from __future__ import annotations

#: Every role a user can have.
ROLES: tuple[str, ...] = (
    "operator",
    "police",
    "fire",
    "disaster",
    "investigator",
    "planner",
    "auditor",
    "admin",
)

#: permission -> the roles that hold it. ``admin`` is the centre's administrator.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    # the control centre: monitor live without a share, push shares, masks, alerts, recorder
    "centre": ("operator", "admin"),
    # see video at all (officers through a share; the centre also live without one)
    "video": ("operator", "admin", "police", "fire", "disaster", "investigator"),
    # monitor live video without a share (every view still audited)
    "monitor_live": ("operator", "admin"),
    # raise the one-click video request from an incident
    "video_request": ("police", "fire", "disaster"),
    # approve or refuse a video request beyond policy
    "approve_request": ("operator", "admin"),
    # incidents they register may trigger automatic video requests (geo.access.policy rules)
    "auto_video_request": ("police",),
    # register incidents and change their own agency's incidents
    "incident_write": ("operator", "admin", "police", "fire", "disaster", "investigator"),
    # change any agency's incident (the centre)
    "incident_write_any": ("operator", "admin"),
    # read incidents (positions and case numbers of emergencies)
    "incident_read": (
        "operator",
        "admin",
        "police",
        "fire",
        "disaster",
        "investigator",
        "planner",
        "auditor",
    ),
    # follow a person's movements: routes, tracks, reachable sets (each audited, with a case)
    "trace": ("investigator", "police", "admin"),
    # read the audit log and export it
    "audit_read": ("auditor", "admin"),
    # coverage, gaps, siting
    "planning": ("planner", "admin"),
    # read the camera registry (positions, purposes; stream URLs only with "stream_urls")
    "cameras_read": ROLES,
    # see cameras' stream URLs (credentials of the recorders' sources)
    "stream_urls": ("admin",),
    # manage users
    "users_admin": ("admin",),
    # base map layers for GIS clients (roads, buildings: public OpenStreetMap data)
    "map_read": ROLES,
    # an incident's case number and description (planners see position, kind and time only)
    "incident_details": (
        "operator",
        "admin",
        "police",
        "fire",
        "disaster",
        "investigator",
        "auditor",
    ),
}

#: Officers who receive video through shares.
OFFICER_ROLES: tuple[str, ...] = ("police", "fire", "disaster", "investigator")


def roles_for(permission: str) -> tuple[str, ...]:
    """The roles holding ``permission``; :class:`KeyError` for an unknown permission (a typo
    must fail loudly, never grant)."""
    return PERMISSIONS[permission]


def has_permission(role: str | None, permission: str) -> bool:
    """Whether ``role`` holds ``permission``."""
    return role is not None and role in PERMISSIONS[permission]


# Names the code used before the table; each is one row of it.
CENTRE_ROLES = roles_for("centre")
VIDEO_ROLES = roles_for("video")
MONITOR_ROLES = roles_for("monitor_live")
REQUEST_ROLES = roles_for("video_request")
AUDIT_ROLES = roles_for("audit_read")
PLANNING_ROLES = roles_for("planning")
INCIDENT_WRITE_ROLES = roles_for("incident_write")
TRACE_ROLES = roles_for("trace")
