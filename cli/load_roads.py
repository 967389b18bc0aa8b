"""``goldentime load roads|buildings FILE``: road networks and building footprints.

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
            ...,
            exists=True,
            dir_okay=False,
            help=".osm, .osm.pbf, .graphml, or road lines as .geojson, .gpkg, .shp",
        ),
        fmt: str = typer.Option(
            None,
            "--format",
            help="osm | pbf | graphml | geojson | gpkg | shp (detected from the name when omitted)",
        ),
        layer: str = typer.Option(None, "--layer", help="GeoPackage layer (default: the first)"),
        crs: str = typer.Option(
            None, "--crs", help="CRS of a line file without one, e.g. EPSG:5186"
        ),
    ) -> None:
        """Load a road network into road_nodes/road_edges: OSM files via osmnx, or line files
        with osmnx edge columns (u, v, key, highway...) or plain lines meeting at end points."""
        from geo.load.lines import load_roads_any

        kw = {k: v for k, v in (("layer", layer), ("crs", crs)) if v}
        _run(load_roads_any, file, fmt=fmt, **kw)

    @load_app.command("buildings")
    @domain_errors
    def buildings(
        file: Path = typer.Argument(
            ...,
            exists=True,
            dir_okay=False,
            help=".osm, .osm.pbf, .geojson, an Overpass .json, or the Korean building .shp",
        ),
        fmt: str = typer.Option(
            None,
            "--format",
            help="osm | pbf | geojson | overpass | kr-building (detected when omitted)",
        ),
        crs: str = typer.Option(None, "--crs", help="CRS of a .shp without a .prj"),
    ) -> None:
        """Load building footprints (OSM, GeoJSON, Overpass JSON, Korean GIS건물통합정보 .shp)."""
        from geo.load.buildings import load_buildings_any

        kw = {"crs": crs} if crs else {}
        _run(load_buildings_any, file, fmt=fmt, **kw)
