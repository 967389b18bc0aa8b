"""``goldentime users add|list|disable|enable|demo``: accounts, roles, agencies, registered IPs."""

from __future__ import annotations

import os

import typer

from cli.common import domain_errors
from geo.access.roles import ROLES

users_app = typer.Typer(help="Manage users, roles and registered IP ranges.", no_args_is_help=True)

PASSWORD_ENV = "GOLDENTIME_USER_PASSWORD"
DEMO_PASSWORD_ENV = "GOLDENTIME_DEMO_PASSWORD"
DEMO_PASSWORD_DEFAULT = "goldentime-demo"


@users_app.command("add")
@domain_errors
def add(
    name: str = typer.Argument(..., help="login name"),
    role: str = typer.Option(..., "--role", help=f"one of: {', '.join(ROLES)}"),
    agency: str = typer.Option(..., "--agency", help="agency name (created when new)"),
    allow_ip: list[str] = typer.Option(
        ..., "--allow-ip", help="registered IP range (CIDR); repeat for several"
    ),
    full_name: str = typer.Option(None, "--full-name"),
) -> None:
    """Add a user. The password comes from GOLDENTIME_USER_PASSWORD, else a prompt."""
    from geo.access.audit import audit
    from geo.access.users import create_user
    from geo.db import session_scope

    password = os.environ.get(PASSWORD_ENV) or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    with session_scope() as s:
        u = create_user(
            s,
            username=name,
            password=password,
            role=role,
            agency=agency,
            cidrs=allow_ip,
            full_name=full_name,
        )
        audit(
            s,
            action="user_add",
            username="cli",
            client_ip="local",
            detail={"user": u.username, "role": u.role, "agency": agency, "allow_ip": allow_ip},
        )
        typer.echo(f"added {u.username} ({u.role}, {agency}) allowed from {', '.join(allow_ip)}")


@users_app.command("list")
def list_() -> None:
    """List users: name, role, agency, registered ranges, disabled."""
    from geo.access.users import list_users
    from geo.db import session_scope

    with session_scope() as s:
        rows = list_users(s)
    if not rows:
        typer.echo("no users (try: goldentime users demo)")
        return
    w = max(len(r["username"]) for r in rows)
    for r in rows:
        flag = "  DISABLED" if r["disabled"] else ""
        typer.echo(
            f"{r['username']:<{w}}  {r['role']:<12}  {r['agency'] or '-'}  "
            f"[{', '.join(r['allowed_cidrs'])}]{flag}"
        )


def _set_disabled(name: str, disabled: bool) -> None:
    from geo.access.audit import audit
    from geo.access.users import set_disabled
    from geo.db import session_scope

    with session_scope() as s:
        u = set_disabled(s, name, disabled)
        audit(
            s,
            action="user_disable",
            username="cli",
            client_ip="local",
            detail={"user": u.username, "disabled": disabled},
        )
    typer.echo(f"{name} {'disabled' if disabled else 'enabled'}")


@users_app.command("disable")
@domain_errors
def disable(name: str = typer.Argument(...)) -> None:
    """Disable a user: their tokens stop working at once."""
    _set_disabled(name, True)


@users_app.command("enable")
@domain_errors
def enable(name: str = typer.Argument(...)) -> None:
    """Re-enable a disabled user."""
    _set_disabled(name, False)


@users_app.command("demo")
@domain_errors
def demo() -> None:
    """Create the demo users (idempotent), allowed from 127.0.0.1/32 and ::1/128, and say how to
    log in. Password: GOLDENTIME_DEMO_PASSWORD (default 'goldentime-demo')."""
    from geo.access.keys import ensure_key
    from geo.access.users import DEMO_CIDRS, DEMO_USERS, ensure_demo_users
    from geo.db import session_scope
    from geo.settings import get_settings

    password = os.environ.get(DEMO_PASSWORD_ENV) or DEMO_PASSWORD_DEFAULT
    if get_settings().secret_key is None:
        ensure_key()  # the signing key the demo's tokens will carry (0600, state folder)
    with session_scope() as s:
        done = dict(ensure_demo_users(s, password=password))
    agencies = {n: (r, a) for n, r, a in DEMO_USERS}
    typer.echo(f"demo users (allowed from {', '.join(DEMO_CIDRS)}):")
    for name, created in done.items():
        role, agency = agencies[name]
        state = "created" if created else "exists (password unchanged)"
        typer.echo(f"  {name:<14} {role:<12} {agency:<36} {state}")
    st = get_settings()
    base = f"http://{st.host}:{st.port}"
    typer.echo(
        f"demo password: {password}\n"
        "log in (OAuth2 password flow) and use the token:\n"
        f"  TOKEN=$(curl -s -d username=officer1 -d 'password={password}' {base}/api/auth/token"
        " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
        f'  curl -s -H "Authorization: Bearer $TOKEN" {base}/api/auth/me'
    )


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
