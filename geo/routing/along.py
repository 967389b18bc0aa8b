"""Cameras along a route, in one compiled pass (numba) over the edge -> cameras CSR.

``RoadGraph.ce_ptr`` / ``ce_cam`` / ``ce_f0`` / ``ce_f1`` hold, per edge, the cameras whose view
covers a stretch ``[f0, f1]`` of it (``camera_edges``, from the one view model). For each piece
of a route (an edge traversed from ``pf0`` to ``pf1``) the seen stretch meets the traversed one;
its ends are mapped to metres along the route and reduced per camera (first metre seen, last
metre seen). The numpy version of the same made about 35 array calls per route, which cost more
than the route itself once the search came from the contraction hierarchy.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def along_kernel(
    pe: np.ndarray,
    pf0: np.ndarray,
    pf1: np.ndarray,
    cum: np.ndarray,
    pm: np.ndarray,
    ce_ptr: np.ndarray,
    ce_cam: np.ndarray,
    ce_f0: np.ndarray,
    ce_f1: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(camera, first metre, last metre along the route) per camera seeing the route, by
    camera id; ``cum``/``pm``: metres before each piece / of each piece."""
    tot = 0
    for i in range(pe.size):
        tot += ce_ptr[pe[i] + 1] - ce_ptr[pe[i]]
    cams = np.empty(tot, np.int64)
    s_m = np.empty(tot)
    e_m = np.empty(tot)
    k = 0
    for i in range(pe.size):
        a0, a1 = pf0[i], pf1[i]
        lo, hi = min(a0, a1), max(a0, a1)
        span = hi - lo
        for r in range(ce_ptr[pe[i]], ce_ptr[pe[i] + 1]):
            a, b = max(lo, ce_f0[r]), min(hi, ce_f1[r])
            if b < a:
                continue
            d0 = d1 = 0.0
            if span > 0:
                if a1 >= a0:
                    d0, d1 = (a - a0) / span, (b - a0) / span
                else:
                    d0, d1 = (a0 - b) / span, (a0 - a) / span
            cams[k] = ce_cam[r]
            s_m[k] = cum[i] + d0 * pm[i]
            e_m[k] = cum[i] + d1 * pm[i]
            k += 1
    order = np.argsort(cams[:k], kind="mergesort")
    oc = np.empty(k, np.int64)
    os_ = np.empty(k)
    oe = np.empty(k)
    m = -1
    for j in range(k):
        r = order[j]
        if m < 0 or oc[m] != cams[r]:
            m += 1
            oc[m], os_[m], oe[m] = cams[r], s_m[r], e_m[r]
        else:
            os_[m] = min(os_[m], s_m[r])
            oe[m] = max(oe[m], e_m[r])
    return oc[: m + 1], os_[: m + 1], oe[: m + 1]


def warm() -> None:
    """Compile (or load from numba's cache) :func:`along_kernel` (and the route unpacking
    kernels, :mod:`geo.routing.unpack`) off the request path."""
    from geo.routing import kernel, unpack

    z, f = np.zeros(1, np.int64), np.zeros(1)
    along_kernel(z, f, f, f, f, np.zeros(2, np.int64), z, f, f)
    unpack.warm()
    kernel.warm()
