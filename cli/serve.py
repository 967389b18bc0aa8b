"""``goldentime serve``: run the API with uvicorn (one worker; see docs/benchmarks.md)."""

from __future__ import annotations

import typer

from geo.settings import get_settings


def serve(
    host: str = typer.Option(None, help="Bind address (default GOLDENTIME_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default PORT or 8000)."),
) -> None:
    """Serve the HTTP API and the maps."""
    import uvicorn

    s = get_settings()
    host = host or s.host
    port = port or s.port
    base = f"http://{host}:{port}"
    typer.echo(
        f"goldentime serving on {base}\n"
        f"  API docs:     {base}/docs\n"
        f"  health:       {base}/health\n"
        f"  cameras:      {base}/api/cameras?bbox=127.30,36.30,127.40,36.40\n"
    )
    uvicorn.run("api.main:app", host=host, port=port, log_level="info", proxy_headers=False)


def register(app: typer.Typer) -> None:
    app.command()(serve)
