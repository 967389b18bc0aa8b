"""Road network and building footprints from OSM files (``.osm`` XML, ``.osm.pbf``) or an osmnx
``.graphml``, via osmnx: the one import for OSM loading.

Roads become ``road_nodes`` / ``road_edges`` in the layout pgRouting takes as-is: one row per edge
geometry, ``cost = length_m`` and ``reverse_cost = length_m`` on two-way streets, ``-1`` on one-way
streets (osmnx's u->v / v->u twin edges are folded into one row). Node ids are OSM node ids, so they
are stable across re-loads and shared between overlapping extracts.

The code lives in four modules, each re-exported here so that ``geo.load.osm`` stays the name
callers use:

* :mod:`geo.load.osm_tags`: tag parsers (``maxspeed``, ``height``, ``building:levels``) and the
  speed / drivable-class tables shared with the other road and building loaders;
* :mod:`geo.load.osm_files`: the format of a road file, pyosmium's cleaning pass (ways cut at the
  extract's edge keep their longest run of present nodes, which osmnx needs) and the osmnx graph;
* :mod:`geo.load.osm_roads`: graph -> rows, :func:`load_roads` and the common end of every road
  load (:func:`prune_road_area`, :func:`finish_roads_load`);
* :mod:`geo.load.osm_buildings`: ``building=*`` footprints and :func:`load_buildings`.
"""

from __future__ import annotations

from geo.load.osm_buildings import load_buildings, read_buildings
from geo.load.osm_files import ROAD_FORMATS, detect_road_format, osm_to_clean_xml, read_road_graph
from geo.load.osm_roads import finish_roads_load, graph_rows, load_roads, prune_road_area
from geo.load.osm_tags import (
    DEFAULT_SPEED_KPH,
    DRIVABLE_HIGHWAYS,
    MAXSPEED_WORDS,
    MPH,
    NO_ACCESS,
    NON_DRIVABLE_SPEED_KPH,
    WKT_DECIMALS,
    parse_height_m,
    parse_levels,
    parse_maxspeed,
)

__all__ = [
    "DEFAULT_SPEED_KPH",
    "DRIVABLE_HIGHWAYS",
    "MAXSPEED_WORDS",
    "MPH",
    "NON_DRIVABLE_SPEED_KPH",
    "NO_ACCESS",
    "ROAD_FORMATS",
    "WKT_DECIMALS",
    "detect_road_format",
    "finish_roads_load",
    "graph_rows",
    "load_buildings",
    "load_roads",
    "osm_to_clean_xml",
    "parse_height_m",
    "parse_levels",
    "parse_maxspeed",
    "prune_road_area",
    "read_buildings",
    "read_road_graph",
]
