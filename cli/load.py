"""``goldentime load cameras|incidents|sample FILE``: bring files users have into PostGIS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from sqlalchemy.orm import Session

from cli.common import domain_errors

load_app = typer.Typer(
    help="Load data files into PostGIS (one transaction per file).", no_args_is_help=True
)


def _run(loader: Any, path: Path, **kw: Any) -> None:
    from geo.db import get_engine

    with Session(get_engine()) as s, s.begin():
        report = loader(s, path=path, progress=True, **kw)
    typer.echo(report.summary())


@load_app.command("cameras")
@domain_errors
def cameras(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV/XLSX/OSM/PBF/GeoJSON"),
    fmt: str = typer.Option(
        None,
        "--format",
        help="kr-standard | daejeon-2015 | daejeon-2015-clean "
        "| kr-traffic-api | osm | geojson (detected when omitted)",
    ),
) -> None:
    """Load cameras: Korean CCTV standard data (CP949/UTF-8/XLSX), Daejeon 2015, OSM, GeoJSON."""
    from geo.load.bulk import bulk_eligible, load_national
    from geo.load.cameras import load_cameras

    if bulk_eligible(file, fmt):  # standard-data CSV: COPY path, views after the commit
        load_national(file, fmt=fmt, progress=True, on_loaded=lambda r: typer.echo(r.summary()))
        return
    _run(load_cameras, file, fmt=fmt)


@load_app.command("incidents")
@domain_errors
def incidents(
    file: Path = typer.Argument(..., exists=True, dir_okay=False),
    fmt: str = typer.Option(None, "--format", help="kr-accidents | csv | geojson"),
    crs: str = typer.Option(None, "--crs", help="CRS of x/y columns, e.g. EPSG:5179"),
    kind: str = typer.Option("other", "--kind", help="kind when the file has no kind column"),
    tz: str = typer.Option("Asia/Seoul", "--tz", help="time zone of times without an offset"),
    source: str = typer.Option(None, "--source", help="source label (default file:<name>)"),
) -> None:
    """Load incidents: Yuseong accidents (EPSG:5179), or CSV/GeoJSON with lat/lon or x/y + --crs."""
    from geo.load.incidents import load_incidents

    _run(load_incidents, file, fmt=fmt, crs=crs, kind=kind, tz=tz, source=source)


@load_app.command("sample")
@domain_errors
def sample(force: bool = typer.Option(False, help="re-load files loaded before")) -> None:
    """Load the bundled sample data (Daejeon, Yuseong, Helsinki) once."""
    from geo.load.sample import load_sample

    load_sample(force=force)


@load_app.command("matches")
@domain_errors
def matches(
    within_m: float = typer.Option(30.0, "--within-m", help="largest distance of a pair (m)"),
    out: Path = typer.Option(None, "--out", help="CSV to write (default .goldentime/reports/)"),
) -> None:
    """Report candidate matches of the same camera across sources and their decisions
    (camera loads merge the likely ones; this command changes nothing)."""
    from geo.db import get_engine
    from geo.load.merge import match_candidates, match_summary, write_match_report

    with Session(get_engine()) as s:
        pairs = match_candidates(s, within_m=within_m)
    for pair, counts in match_summary(pairs).items():
        typer.echo(f"{pair}: " + ", ".join(f"{n} {d}" for d, n in counts.items()))
    typer.echo(f"candidate pairs: {len(pairs)}; report: {write_match_report(pairs, out)}")


def register(app: typer.Typer) -> None:
    app.add_typer(load_app, name="load")
