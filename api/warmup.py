"""Warm-ups at server start, in a background thread: startup never waits for them.

Two things cost the first request seconds unless done beforehand: the in-memory camera index
behind national-scale cluster tiles (:func:`geo.tiles.camera_index`, about 7 s at a million
cameras) and the numba JIT of the road-distance engine (:mod:`geo.pathfinding`: loading its
cache, or compiling it on a fresh checkout, seconds to a minute), and of the cameras-along
kernel of route answers (:mod:`geo.routing.along`). Each step is tried on its own;
a failure is logged (the request that needs it then pays the cost, or reports the error as it
would have anyway), never fatal. ``GOLDENTIME_WARMUP=0`` turns them off (the tests do).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("goldentime.warmup")

_started = threading.Lock()
_thread: threading.Thread | None = None
#: Step name -> "ok" / the error's text, as the last warm-up left them (read by tests and logs).
results: dict[str, str] = {}


def warm_camera_index() -> None:
    """Build the camera tile index of the service's database (committed rows)."""
    from geo.db import new_session
    from geo.tiles import camera_index

    with new_session() as s:
        camera_index(s)
        s.rollback()


def warm_pathfinding() -> None:
    """Run contraction-hierarchy preparation and one query on a 3-node graph, so numba compiles
    (or loads from its cache) every function a route query uses."""
    import numpy as np

    import geo.pathfinding as pf

    indptr = np.array([0, 1, 2, 2], dtype=np.int64)
    indices = np.array([1, 2], dtype=np.int64)
    weights = np.array([1.0, 2.0])
    p = pf.prepare(indptr, indices, weights)
    pf.one_to_one(p, [(0, 0.0)], [(2, 0.0)])
    pf.one_to_many(p, [(0, 0.0)], [[(1, 0.0)], [(2, 0.0)]])


def warm_along() -> None:
    """Compile (or load from numba's cache) the cameras-along kernel of route answers."""
    from geo.routing.along import warm

    warm()


def warm_road_distances() -> None:
    """Compile (or load from numba's cache) the nearest ranking's one-to-many search."""
    from geo.routing.targeted import warm

    warm()


STEPS: dict[str, Callable[[], None]] = {
    "camera_index": warm_camera_index,
    "pathfinding": warm_pathfinding,
    "along": warm_along,
    "road_distances": warm_road_distances,
}


def run_warmups(steps: dict[str, Callable[[], None]] | None = None) -> dict[str, str]:
    """Run each warm-up step in turn; errors are logged and recorded, never raised."""
    for name, step in (steps or STEPS).items():
        t0 = time.perf_counter()
        try:
            step()
        except Exception as e:  # a warm-up must never take the server down
            results[name] = f"{type(e).__name__}: {e}"
            log.warning("warm-up %s failed: %s", name, results[name])
        else:
            results[name] = "ok"
            log.info("warm-up %s done in %.1f s", name, time.perf_counter() - t0)
    return dict(results)


def start_warmups() -> threading.Thread | None:
    """Start the warm-ups in a daemon thread, once per process (``None`` when turned off or
    already started). Returns at once."""
    global _thread
    from geo.settings import get_settings

    if not get_settings().warmup:
        return None
    with _started:
        if _thread is not None:
            return None
        _thread = threading.Thread(target=run_warmups, name="goldentime-warmup", daemon=True)
        _thread.start()
        return _thread
