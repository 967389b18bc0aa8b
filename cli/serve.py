"""``goldentime serve``: run the API with uvicorn (``--workers``; see docs/benchmarks.md)."""

from __future__ import annotations

import typer

from geo.settings import get_settings


def serve(
    host: str = typer.Option(None, help="Bind address (default GOLDENTIME_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default PORT or 8000)."),
    workers: int = typer.Option(
        None, help="Worker processes (default GOLDENTIME_WORKERS, else one per CPU core)."
    ),
) -> None:
    """Serve the HTTP API and the maps."""
    from api.server import check_keys, resolve_workers
    from api.server import serve as run
    from geo.errors import GoldentimeError

    try:
        kid = check_keys()  # a weak GOLDENTIME_SECRET_KEY: refuse, saying what to do
    except GoldentimeError as e:
        typer.secho(f"error: {e.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    s = get_settings()
    n = resolve_workers(s.workers if workers is None else workers)
    host = host or s.host
    port = port or s.port
    base = f"http://{host}:{port}"
    typer.echo(
        f"goldentime serving on {base}\n"
        f"  API docs:     {base}/docs\n"
        f"  health:       {base}/health\n"
        f"  cameras:      {base}/api/cameras?bbox=127.30,36.30,127.40,36.40\n"
        f"  workers:      {n}\n"
        f"  signing key:  {kid} (goldentime keys list|rotate)\n"
    )
    run("api.main:app", host=host, port=port, workers=n)


def register(app: typer.Typer) -> None:
    app.command()(serve)
