"""Users, agencies and roles: create, list, disable, and the idempotent demo accounts.

Passwords are hashed with argon2id (``pwdlib``); each user carries the IP ranges (CIDR) they may
work from, checked by :mod:`geo.access` on everything that reveals video.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from pwdlib import PasswordHash
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.access.roles import (  # noqa: F401  (re-exported names of the role table)
    AUDIT_ROLES,
    CENTRE_ROLES,
    OFFICER_ROLES,
    REQUEST_ROLES,
    ROLES,
)
from geo.errors import Conflict, InvalidInput, NotFound
from geo.models.access import Agency, User

DEMO_CIDRS = ("127.0.0.1/32", "::1/128")
DEMO_USERS: tuple[tuple[str, str, str], ...] = (
    ("admin", "admin", "Yuseong CCTV centre"),
    ("operator1", "operator", "Yuseong CCTV centre"),
    ("officer1", "police", "Daejeon Yuseong Police"),
    ("fire1", "fire", "Daejeon Yuseong Fire Station"),
    ("investigator1", "investigator", "Daejeon Metropolitan Police Agency"),
    ("planner1", "planner", "Daejeon Metropolitan City"),
    ("auditor1", "auditor", "Daejeon Metropolitan City"),
)


@lru_cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the hash names its own parameters)."""
    if not password:
        raise InvalidInput("password must not be empty", field="password")
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (constant-time in the hash library)."""
    try:
        return bool(_hasher().verify(password, password_hash))
    except Exception:  # a malformed stored hash never authenticates
        return False


_DUMMY_HASH: str | None = None


def burn_password_check(password: str) -> None:
    """Spend the time of one hash check, so unknown users cannot be told apart by timing."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher().hash("not-a-real-password")
    verify_password(password, _DUMMY_HASH)


def parse_cidrs(values: Iterable[str], *, field: str = "allow_ip") -> list[str]:
    """Normalise CIDR strings (``10.0.0.0/8``, ``::1/128``, a bare address = one host)."""
    out: list[str] = []
    for v in values:
        try:
            out.append(str(ipaddress.ip_network(str(v).strip(), strict=False)))
        except ValueError:
            raise InvalidInput(f"{field}: {v!r} is not an IP range (CIDR)", field=field) from None
    return out


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, got {role!r}", field="role")
    return role


def get_or_create_agency(session: Session, name: str) -> Agency:
    """The agency called ``name`` (created when new)."""
    name = name.strip()
    if not name:
        raise InvalidInput("agency must not be empty", field="agency")
    agency = session.execute(select(Agency).where(Agency.name == name)).scalar_one_or_none()
    if agency is None:
        agency = Agency(name=name)
        session.add(agency)
        session.flush()
    return agency


def find_agency(session: Session, name: str) -> Agency:
    agency = session.execute(select(Agency).where(Agency.name == name)).scalar_one_or_none()
    if agency is None:
        raise NotFound(f"agency {name!r} does not exist", field="agency")
    return agency


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    agency: str | None,
    cidrs: Sequence[str],
    full_name: str | None = None,
    disabled: bool = False,
) -> User:
    """Create a user with a hashed password, a role, an agency and registered IP ranges."""
    username = username.strip()
    if not username or len(username) > 64:
        raise InvalidInput("username must be 1..64 characters", field="username")
    check_role(role)
    nets = parse_cidrs(cidrs)
    if session.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"user {username!r} already exists", field="username")
    user = User(
        username=username,
        full_name=full_name,
        password_hash=hash_password(password),
        role=role,
        agency=get_or_create_agency(session, agency) if agency else None,
        allowed_cidrs=nets,
        disabled=disabled,
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"user {username!r} does not exist", field="username")
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def list_users(session: Session) -> list[dict[str, Any]]:
    """Every user as a dict (never the password hash), by username."""
    return [user_dict(u) for u in session.execute(select(User).order_by(User.username)).scalars()]


def user_dict(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role,
        "agency": user.agency_name,
        "allowed_cidrs": user_cidrs(user),
        "disabled": user.disabled,
    }


def user_cidrs(user: User) -> list[str]:
    return [str(c) for c in (user.allowed_cidrs or [])]


def set_disabled(session: Session, username: str, disabled: bool = True) -> User:
    """Disable (or re-enable) a user: a disabled user's tokens stop working at once."""
    user = get_user(session, username)
    user.disabled = disabled
    session.flush()
    return user


def ensure_demo_users(session: Session, *, password: str) -> list[tuple[str, bool]]:
    """Create the demo accounts that do not exist yet; returns ``(username, created)`` pairs.

    Existing accounts are left as they are (their password is not reset).
    """
    out: list[tuple[str, bool]] = []
    for name, role, agency in DEMO_USERS:
        if find_user(session, name) is not None:
            out.append((name, False))
            continue
        create_user(
            session, username=name, password=password, role=role, agency=agency, cidrs=DEMO_CIDRS
        )
        out.append((name, True))
    return out
