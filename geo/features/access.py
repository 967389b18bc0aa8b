"""The access rules for GIS clients' reads, through THE gate (:mod:`geo.access.gate`).

A collection the caller's role may not read answers exactly like an unknown one (404, same
message), yet the refusal is audited (``denied``, with the real reason in the record's detail).
Reads of personal-data collections (``Collection.audited``: incidents) are written to the audit
log as ``view`` records, in the request's transaction, before the answer leaves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from geo.access import gate
from geo.access.audit import audit
from geo.errors import Forbidden, NotFound
from geo.features.collections import COLLECTIONS, Collection
from geo.models.access import User

#: The ``access`` name of these reads in audit records' detail.
ACCESS = "ogc_features"
#: Most feature ids listed in one audit record (the count is always there).
AUDIT_MAX_IDS = 1000


def open_collection(
    session: Session, *, user: User, client_ip: str | None, collection_id: str
) -> Collection:
    """The collection ``collection_id`` for ``user`` after the gate's checks (role, registered
    address). Unknown and not-permitted ids raise the same :class:`NotFound`; the latter is
    audited as ``denied`` first."""
    c = next((c for c in COLLECTIONS if c.id == collection_id), None)
    hidden = NotFound(f"no collection {collection_id[:80]!r}", field="collectionId")
    if c is None:
        raise hidden
    try:
        gate.authorize(
            session,
            user=user,
            client_ip=client_ip,
            permission=c.permission,
            action="read_features",
            detail={"collection": c.id},
        )
    except Forbidden as e:
        if e.detail.get("code") == "role":  # audited as denied; answered as unknown
            raise hidden from None
        raise
    return c


def record_read(
    session: Session,
    *,
    user: User,
    client_ip: str | None,
    collection: Collection,
    ids: list[Any],
    query: dict[str, str] | None = None,
    feature_id: str | None = None,
) -> None:
    """Audit a read of a personal-data collection (``view``: collection, query, the ids
    returned); nothing for other collections."""
    if not collection.audited:
        return
    detail: dict[str, Any] = {
        "access": ACCESS,
        "collection": collection.id,
        "returned": len(ids),
        "ids": [str(i) for i in ids[:AUDIT_MAX_IDS]],
    }
    if query:
        detail["query"] = query
    incident_id = None
    if feature_id is not None and collection.id == "incidents" and ids:
        incident_id = int(ids[0])
    audit(
        session,
        action="view",
        user=user,
        client_ip=client_ip,
        incident_id=incident_id,
        reason=f"GIS client read of {collection.id}",
        detail=detail,
    )
