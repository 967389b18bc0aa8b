"""``goldentime load roads|buildings FILE``: road network and building footprints from OSM files.

Adds two commands to the ``load`` group of :mod:`cli.load` (one transaction per file).
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import domain_errors


def register(app: typer.Typer) -> None:
    """Add ``load roads`` and ``load buildings`` to the existing ``load`` command group."""
    from cli.load import _run, load_app

    @load_app.command("roads")
    @domain_errors
    def roads(
        file: Path = typer.Argument(
            ..., exists=True, dir_okay=False, help=".osm, .osm.pbf or .graphml"
        ),
        fmt: str = typer.Option(
            None, "--format", help="osm | pbf | graphml (detected from the file name when omitted)"
        ),
    ) -> None:
        """Load a road network (OSM XML, PBF or osmnx graphml) into road_nodes/road_edges."""
        from geo.load.osm import load_roads

        _run(load_roads, file, fmt=fmt)

    @load_app.command("buildings")
    @domain_errors
    def buildings(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, help=".osm or .osm.pbf"),
        fmt: str = typer.Option(None, "--format", help="osm | pbf (detected when omitted)"),
    ) -> None:
        """Load building footprints (building=*) from an OSM file into buildings."""
        from geo.load.osm import load_buildings

        _run(load_buildings, file, fmt=fmt)
