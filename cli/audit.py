"""``goldentime audit verify|tail``: check the audit log's hash chain, read the newest records."""

from __future__ import annotations

import json

import typer

audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)


@audit_app.command()
def verify(as_json: bool = typer.Option(False, "--json", help="print the report as JSON")) -> None:
    """Recompute the hash chain; report the first tampered or missing row (exit 1 if any)."""
    from geo.access.audit import verify_chain
    from geo.db import get_engine

    with get_engine().connect() as conn:
        report = verify_chain(conn)
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    elif report.ok:
        typer.echo(f"audit chain OK: {report.checked} records verified")
    else:
        where = []
        if report.first_bad_id is not None:
            where.append(f"id {report.first_bad_id}")
        if report.first_bad_seq is not None:
            where.append(f"seq {report.first_bad_seq}")
        typer.secho(
            f"audit chain BROKEN at {', '.join(where) or 'the end'}: {report.problem} "
            f"({report.checked} records checked)",
            fg=typer.colors.RED,
            err=True,
        )
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command()
def tail(n: int = typer.Option(20, "-n", help="how many records")) -> None:
    """Print the newest audit records."""
    from geo.access.audit import query_audit
    from geo.db import session_scope

    with session_scope() as s:
        rows, _ = query_audit(s, limit=n)
    for r in reversed(rows):
        cams = ",".join(str(c) for c in r["camera_ids"] or [])
        typer.echo(
            f"{r['seq'] or '-':>6} {r['at']:%Y-%m-%d %H:%M:%S} {r['action']:<14} "
            f"{r['username'] or '-':<14} {r['client_ip'] or '-':<15} "
            f"{r['case_number'] or '-'} cams[{cams}] {r['reason'] or ''}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
