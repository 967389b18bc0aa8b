"""Tracks: a trajectory reconstructed from camera sightings, hop by hop, with review windows."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import shapely.geometry
from shapely import LineString
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.routing.graph import get_graph
from geo.routing.routes import cameras_along, route
from geo.routing.snap import Place, place_snap
from geo.routing.speeds import (
    DRIVE_CAP_KPH,
    DRIVE_FAST_FACTOR,
    WALK_RUN_CAP_KPH,
    SpeedRange,
    check_mode,
    drive_cap_kph,
)
from geo.routing.windows import _aware, _window, time_at


def track(
    session: Session,
    *,
    sightings: list[tuple[int, dt.datetime]],
    mode: str = "walk",
    min_kph: float | None = None,
    max_kph: float | None = None,
) -> dict[str, Any]:
    """Reconstruct a trajectory from camera sightings: per hop the route, the speed it needs,
    whether that is feasible for the mode, and the cameras between with the minutes to review.

    A hop is feasible when its average speed is within the mode's cap (walk: WALK_RUN_CAP_KPH,
    a sustained run; drive: DRIVE_FAST_FACTOR x posted speeds, at most DRIVE_CAP_KPH). The window
    of a camera at distance d of a hop of length L between sightings t_a and t_b is
    [t_a + d / v_fast, t_b - (L - d) / v_fast]: the person cannot be there earlier nor later and
    still make both sightings, with v_fast the fastest plausible speed (or the required one).
    """
    mode = check_mode(mode)
    if len(sightings) < 2:
        raise InvalidInput("a track needs at least two sightings", field="sightings")
    for i, (_cam, t) in enumerate(sightings):
        _aware(t, f"sightings.{i}.seen_at")
    for i in range(1, len(sightings)):
        if sightings[i][1] < sightings[i - 1][1]:
            raise InvalidInput("sightings must be in time order", field=f"sightings.{i}.seen_at")
    speeds = SpeedRange.for_mode(mode, min_kph=min_kph, max_kph=max_kph)
    g = get_graph(session)
    snaps = []
    for i, (cam, _t) in enumerate(sightings):
        snaps.append(
            place_snap(session, g, Place(camera_id=cam), mode=mode, field=f"sightings.{i}")
        )
    hops = []
    coords: list[tuple[float, float]] = []
    all_feasible = True
    for i in range(len(sightings) - 1):
        (ca, ta), (cb, tb) = sightings[i], sightings[i + 1]
        r = route(g, start=snaps[i], end=snaps[i + 1], mode=mode)
        dt_s = (tb - ta).total_seconds()
        required = (
            math.inf
            if dt_s <= 0 and r.length_m > 0
            else (r.length_m / dt_s * 3.6 if dt_s > 0 else 0.0)
        )
        fast = speeds.fast(r.piece_speed_kph)
        t_fast = time_at(r, fast, r.length_m)
        if mode == "walk":
            cap = WALK_RUN_CAP_KPH
            feasible = required <= cap
            reason = (
                None
                if feasible
                else f"{r.length_m:.0f} m in {dt_s:.0f} s needs {required:.1f} km/h on foot "
                f"(cap {cap:.0f} km/h, a sustained run)"
            )
            running = feasible and required > speeds.max_kph
        else:
            cap_t = time_at(r, drive_cap_kph(r.piece_speed_kph), r.length_m)
            feasible = dt_s >= cap_t - 1e-6
            reason = (
                None
                if feasible
                else f"{r.length_m:.0f} m in {dt_s:.0f} s needs {required:.1f} km/h average; the fastest "
                f"plausible drive ({DRIVE_FAST_FACTOR:g}x posted speeds, at most "
                f"{DRIVE_CAP_KPH:.0f} km/h) takes {cap_t:.0f} s"
            )
            running = False
        all_feasible &= feasible
        # fastest plausible speed for the windows, at least the one the sightings require
        if mode == "walk":
            v_top = speeds.max_kph
            if math.isfinite(required):
                v_top = max(v_top, required)
            v_fast = np.full(len(fast), v_top)
        else:
            v_fast = fast * (max(1.0, t_fast / dt_s) if dt_s > 0 else 1.0)
        t_total_fast = time_at(r, v_fast, r.length_m)
        cams = []
        for c in cameras_along(g, r, exclude={ca, cb}):
            t0 = ta + dt.timedelta(seconds=time_at(r, v_fast, c.distance_along_m))
            t1 = tb - dt.timedelta(seconds=t_total_fast - time_at(r, v_fast, c.distance_until_m))
            if not feasible:
                t0, t1 = min(t0, t1), max(t0, t1)
            cams.append(
                {
                    "camera_id": c.camera_id,
                    "lon": c.lon,
                    "lat": c.lat,
                    "distance_along_m": round(c.distance_along_m, 1),
                    "distance_until_m": round(c.distance_until_m, 1),
                    **_window(c.camera_id, t0, max(t0, t1)),
                }
            )
        hop_coords = list(r.geometry.coords)
        coords.extend(hop_coords if not coords else hop_coords[1:])
        hops.append(
            {
                "from_camera_id": ca,
                "to_camera_id": cb,
                "from_seen_at": ta.isoformat(),
                "to_seen_at": tb.isoformat(),
                "elapsed_s": round(dt_s, 1),
                "length_m": round(r.length_m, 2),
                "travel_time_s": round(r.travel_time_s, 1),
                "travel_time_fastest_s": round(t_fast, 1),
                "required_speed_kph": None if not math.isfinite(required) else round(required, 2),
                "feasible": bool(feasible),
                "reason": reason,
                "requires_running": bool(running),
                "geometry": shapely.geometry.mapping(r.geometry),
                "cameras_between": cams,
            }
        )
    line = LineString(coords if len(coords) >= 2 else coords * 2)
    return {
        "mode": mode,
        "feasible": bool(all_feasible),
        "hops": hops,
        "length_m": round(sum(h["length_m"] for h in hops), 2),
        "geometry": shapely.geometry.mapping(line),
        "sightings": [
            {"camera_id": c, "seen_at": t.isoformat(), "lon": s.lon, "lat": s.lat}
            for (c, t), s in zip(sightings, snaps, strict=True)
        ],
        "graph_version": g.version,
    }
