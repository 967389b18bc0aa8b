"""``goldentime db start|stop|status|migrate|url``: the embedded cluster and the schema."""

from __future__ import annotations

import typer

from cli.common import domain_errors
from geo import embedded
from geo.db import database_url, uses_embedded

db_app = typer.Typer(
    help="Manage the embedded PostGIS cluster and the schema.", no_args_is_help=True
)


@db_app.command()
@domain_errors
def start() -> None:
    """Install PostGIS/pgRouting if missing, init and start the embedded cluster, create the DB."""
    if not uses_embedded():
        typer.echo("DATABASE_URL is set: using the external server, nothing to start.")
    else:
        c = embedded.start()
        typer.echo(f"embedded PostGIS running: data {c.data_dir}, socket {c.socket_dir}")
    embedded.ensure_database(database_url())


@db_app.command()
def stop() -> None:
    """Stop the embedded cluster."""
    embedded.stop()
    typer.echo("stopped")


@db_app.command()
def status() -> None:
    """Say whether the embedded cluster runs and where."""
    if not uses_embedded():
        typer.echo(f"external database: {database_url()}")
        return
    c = embedded.cluster()
    state = "running" if embedded.is_running(c) else "stopped"
    typer.echo(
        f"embedded PostGIS {state}\n  data:   {c.data_dir}\n  socket: {c.socket_dir}\n"
        f"  log:    {c.log_file}\n  url:    {c.url()}"
    )
    if state == "stopped":
        raise typer.Exit(1)


@db_app.command()
@domain_errors
def migrate() -> None:
    """Create the database and extensions if missing, then apply every Alembic migration."""
    from geo.schema import migrate as _migrate

    _migrate()
    typer.echo("schema up to date")


@db_app.command()
def url() -> None:
    """Print the database URL every command uses."""
    typer.echo(database_url())


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
