"""In-memory routing on the road network: the one road-distance engine (DESIGN decision 9).

Routes, tracks, reachable sets, camera review windows and the nearest-camera ranking's road
distances all ask this package, with one snapping rule, one set of metres-per-degree constants
and one speed model; pgRouting stays in the database as the reference the tests and benchmarks
compare against.

Modes
    ``walk``  every edge both ways except motorways; constant speed (default 5 km/h, plausible
              range 3-7 km/h); the shortest path by length.
    ``drive`` drivable edges only, one-way streets respected; each edge at its ``speed_kph``
              (OSM maxspeed or class default); the fastest path by travel time.

Parts
    :mod:`~geo.routing.graph`      RoadGraph / ModeGraph, build, cache, background rebuilds
    :mod:`~geo.routing.snap`       Snap, Place, the snapping rule, metres-per-degree constants
    :mod:`~geo.routing.speeds`     the speed model (nominal speeds, SpeedRange)
    :mod:`~geo.routing.search`     one-to-one, one-to-many, many-to-many shortest paths
    :mod:`~geo.routing.routes`     Route, find_route, cameras_along
    :mod:`~geo.routing.windows`    review windows and their playback links
    :mod:`~geo.routing.track`      trajectories from sightings
    :mod:`~geo.routing.reach`      reachable sets and isochrones
    :mod:`~geo.routing.distances`  one place to many: the nearest-camera ranking
"""

from __future__ import annotations

from shapely import LineString  # noqa: F401  (R.LineString: tests build synthetic routes)

from geo.routing.distances import DISTANCE_MODE, road_distance_matrix_m, road_distances_m
from geo.routing.graph import (
    MAIN_PIECE_SHARE,
    WALK_EXCLUDED,
    ModeGraph,
    RoadGraph,
    _cache,
    build_graph,
    cached_graph,
    get_graph,
    graph_for_url,
    graph_key,
    graph_version,
    refresh_in_background,
    url_key,
    wait_for_rebuild,
)
from geo.routing.reach import (
    ISOCHRONE_BUFFER_M,
    ISOCHRONE_HULL_RATIO,
    ISOCHRONE_MINUTES,
    ISOCHRONE_STEP_M,
    isochrone,
    reachable,
    reachable_times,
)
from geo.routing.routes import (
    CameraPass,
    Piece,
    Route,
    cameras_along,
    find_route,
    route,
    route_places,
)
from geo.routing.search import (
    DETOUR_FACTOR,
    SMALL_GRAPH_NODES,
    _tree_cache,
    many_to_many,
    one_to_many,
    one_to_one,
)
from geo.routing.snap import (
    AT_NODE_M,
    M_PER_DEG_LAT,
    M_PER_DEG_LON_EQ,
    MAX_SNAP_M,
    Place,
    Snap,
    camera_point,
    deg_box,
    local_m_per_deg,
    place_snap,
    snap,
    snap_ends,
)
from geo.routing.speeds import (
    DRIVE_CAP_KPH,
    DRIVE_FAST_FACTOR,
    DRIVE_SLOW_FACTOR,
    DRIVE_SLOW_MIN_KPH,
    MODES,
    WALK_RUN_CAP_KPH,
    WALK_SPEED_KPH,
    WALK_SPEED_RANGE_KPH,
    Mode,
    SpeedRange,
)
from geo.routing.track import track
from geo.routing.windows import clip_link, time_at

__all__ = [
    "AT_NODE_M",
    "DETOUR_FACTOR",
    "DISTANCE_MODE",
    "DRIVE_CAP_KPH",
    "DRIVE_FAST_FACTOR",
    "DRIVE_SLOW_FACTOR",
    "DRIVE_SLOW_MIN_KPH",
    "ISOCHRONE_BUFFER_M",
    "ISOCHRONE_HULL_RATIO",
    "ISOCHRONE_MINUTES",
    "ISOCHRONE_STEP_M",
    "MAIN_PIECE_SHARE",
    "MAX_SNAP_M",
    "MODES",
    "M_PER_DEG_LAT",
    "M_PER_DEG_LON_EQ",
    "SMALL_GRAPH_NODES",
    "WALK_EXCLUDED",
    "WALK_RUN_CAP_KPH",
    "WALK_SPEED_KPH",
    "WALK_SPEED_RANGE_KPH",
    "CameraPass",
    "Mode",
    "ModeGraph",
    "Piece",
    "Place",
    "RoadGraph",
    "Route",
    "Snap",
    "SpeedRange",
    "_cache",
    "_tree_cache",
    "build_graph",
    "cached_graph",
    "camera_point",
    "cameras_along",
    "clip_link",
    "deg_box",
    "find_route",
    "get_graph",
    "graph_for_url",
    "graph_key",
    "graph_version",
    "isochrone",
    "local_m_per_deg",
    "many_to_many",
    "one_to_many",
    "one_to_one",
    "place_snap",
    "reachable",
    "reachable_times",
    "refresh_in_background",
    "road_distance_matrix_m",
    "road_distances_m",
    "route",
    "route_places",
    "snap",
    "snap_ends",
    "time_at",
    "track",
    "url_key",
    "wait_for_rebuild",
]
