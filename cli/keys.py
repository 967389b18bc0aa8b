"""``goldentime keys rotate|list``: the token signing keys in the state folder."""

from __future__ import annotations

import datetime as dt

import typer

from cli.common import domain_errors

keys_app = typer.Typer(
    help="Token signing keys (made on first run, rotated here).", no_args_is_help=True
)


@keys_app.command("list")
@domain_errors
def list_() -> None:
    """Show each key still verifying tokens: id, created, current (the one that signs)."""
    from geo.access.keys import ENV_KID, grace_s, key_ring, keys_dir

    ring = key_ring()
    typer.echo(f"keys in {keys_dir()} (a retired key verifies for {grace_s()} s after rotation):")
    if not ring.keys:
        typer.echo("  none yet (made on first `goldentime serve` or `goldentime keys rotate`)")
    for key in sorted(
        ring.keys.values(), key=lambda k: k.created_at or dt.datetime.max.replace(tzinfo=dt.UTC)
    ):
        created = key.created_at.isoformat() if key.created_at else "GOLDENTIME_SECRET_KEY"
        mark = "current" if ring.current is not None and key.kid == ring.current.kid else ""
        typer.echo(f"  {key.kid:<28} {created:<32} {mark}")
    if ENV_KID in ring.keys:
        typer.echo("GOLDENTIME_SECRET_KEY is set: it signs; the files' keys only verify")


@keys_app.command("rotate")
@domain_errors
def rotate() -> None:
    """Make a new signing key; the previous ones keep verifying until the longest token
    lifetime has passed (nobody is logged out at once), then they are deleted."""
    from geo.access.keys import grace_s, keys_dir
    from geo.access.keys import rotate as do_rotate
    from geo.settings import get_settings

    key = do_rotate()
    typer.echo(
        f"new signing key {key.kid} in {keys_dir()}; previous keys verify for {grace_s()} s more"
    )
    if get_settings().secret_key is not None:
        typer.secho(
            "note: GOLDENTIME_SECRET_KEY is set and keeps signing; unset it to sign with the new key",
            fg=typer.colors.YELLOW,
            err=True,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
