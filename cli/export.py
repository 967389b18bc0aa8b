"""``goldentime export verify|public-key``: check an evidence ZIP, print the evidence key."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.common import domain_errors

export_app = typer.Typer(help="Evidence exports (signed, watermarked clips).", no_args_is_help=True)


@export_app.command()
def verify(
    file: Path = typer.Argument(..., help="the evidence ZIP", exists=False),
    public_key: Path | None = typer.Option(
        None,
        "--public-key",
        help="PEM of the service's evidence key (GET /api/evidence/public-key); "
        "without it the key inside the ZIP is used, which proves integrity but not origin",
    ),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Check the manifest's Ed25519 signature and the clip's SHA-256; print OK or exactly what
    failed (exit 1)."""
    from geo.video.export import verify_evidence

    pem: bytes | None = None
    if public_key is not None:
        try:
            pem = public_key.read_bytes()
        except OSError as e:
            typer.secho(f"FAILED: cannot read public key {public_key}: {e}", fg="red", err=True)
            raise typer.Exit(1) from None
    rep = verify_evidence(file, public_key=pem)
    if as_json:
        typer.echo(json.dumps(rep.to_dict(), ensure_ascii=False))
    elif rep.ok:
        m = rep.manifest or {}
        user = (m.get("user") or {}).get("username")
        typer.echo(
            f"OK: {file.name}: signature valid, {(m.get('file') or {}).get('name')} SHA-256 "
            f"matches; camera {m.get('camera_id')}, share {m.get('share_id')}, case "
            f"{m.get('case_number') or '-'}, exported by {user} at {m.get('exported_at')}, "
            f"audit record {m.get('audit_id')}"
        )
        typer.echo(f"key: {rep.key_sha256} ({rep.key_source})")
    else:
        typer.secho(f"FAILED: {file}", fg="red", err=True)
        for p in rep.problems:
            typer.secho(f"  - {p}", fg="red", err=True)
        if rep.key_sha256:
            typer.echo(f"key: {rep.key_sha256} ({rep.key_source})", err=True)
    if not rep.ok:
        raise typer.Exit(1)


@export_app.command("public-key")
@domain_errors
def public_key_cmd() -> None:
    """Print the service's evidence public key (PEM), creating the key pair on first use."""
    from geo.video.export import key_fingerprint, load_public_key, public_key_pem

    pem = public_key_pem()
    typer.echo(pem.decode(), nl=False)
    typer.echo(f"# sha256 {key_fingerprint(load_public_key(pem))}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
