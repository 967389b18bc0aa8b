"""A camera's view from the direction texts of its source: Korean 촬영방면정보 and OSM
``camera:direction``.

:func:`kr_direction` takes a 촬영방면정보 text as a view only where it is one (all-round, degrees, a
compass word) and says which kind it was, so the standard-data report can count them;
:func:`osm_direction` reads OSM's degrees or cardinal letters. Headings are degrees clockwise from
north.
"""

from __future__ import annotations

import re

from geo.load.common import parse_float

OSM_CARDINAL = {
    "N": 0.0,
    "NNE": 22.5,
    "NE": 45.0,
    "ENE": 67.5,
    "E": 90.0,
    "ESE": 112.5,
    "SE": 135.0,
    "SSE": 157.5,
    "S": 180.0,
    "SSW": 202.5,
    "SW": 225.0,
    "WSW": 247.5,
    "W": 270.0,
    "WNW": 292.5,
    "NW": 315.0,
    "NNW": 337.5,
}

_KR_COMPASS = {
    "북동": 45.0,
    "동북": 45.0,
    "남동": 135.0,
    "동남": 135.0,
    "남서": 225.0,
    "서남": 225.0,
    "북서": 315.0,
    "서북": 315.0,
    "동": 90.0,
    "서": 270.0,
    "남": 180.0,
    "북": 0.0,
}
_RE_ALL_ROUND = re.compile(
    r"^(360(도|°|º)?(전방면|전방위|전방향|전방|방향|방면|회전)?|전방위|전방향)$"
)
_RE_DEGREES = re.compile(r"^(?:방위각)?(\d{1,3}(?:\.\d+)?)(?:도|°|º)(?:방향|방면|향)?$")
_RE_COMPASS = re.compile(
    r"^정?("
    + "|".join(sorted(_KR_COMPASS, key=len, reverse=True))
    + r")(?:쪽|측|향)?(?:방향|방면)?$"
)


def kr_direction(text: str | None) -> tuple[float | None, float | None, str]:
    """Heading, field of view and kind of a 촬영방면정보 text, taken only where it is a direction.

    ``"360°"``, ``"360도 전방면"`` -> all-round (fov 360); ``"45°"``, ``"270도 방향"`` -> heading in
    degrees; ``"북동"``, ``"동측"``, ``"남쪽 방향"`` -> compass heading. Anything else (landmarks such
    as ``"서대전농협 뒷길"``, ``"좌우양방향"``, ``"반경 2~3m"``) is not a direction: ``(None, None,
    "text")``, and the text stays in ``raw``. Kinds: ``all-round``, ``degrees``, ``compass``, ``text``,
    ``empty``.
    """
    t = re.sub(r"\s+", "", text or "")
    if not t:
        return None, None, "empty"
    if _RE_ALL_ROUND.match(t):
        return None, 360.0, "all-round"
    if m := _RE_DEGREES.match(t):
        deg = float(m.group(1))
        if deg < 360.0:
            return deg, None, "degrees"
        return None, None, "text"
    if m := _RE_COMPASS.match(t):
        return _KR_COMPASS[m.group(1)], None, "compass"
    return None, None, "text"


def _kr_heading(text: str) -> tuple[float | None, float | None]:
    """(heading_deg, fov_deg) of a 촬영방면정보 text (see :func:`kr_direction`)."""
    heading, fov, _ = kr_direction(text)
    return heading, fov


def osm_direction(value: str | None) -> float | None:
    """OSM ``camera:direction``: degrees ('135', '45;90' -> first) or a cardinal ('NE')."""
    if not value:
        return None
    v = value.split(";")[0].strip().upper()
    if v in OSM_CARDINAL:
        return OSM_CARDINAL[v]
    f = parse_float(v)
    return None if f is None else f % 360.0
