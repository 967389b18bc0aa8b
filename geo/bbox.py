"""Bounding boxes given as ``min_lon,min_lat,max_lon,max_lat`` (EPSG:4326)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from geo.errors import InvalidInput


@dataclass(frozen=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @classmethod
    def parse(cls, text: str, *, field: str = "bbox", max_area_km2: float | None = None) -> BBox:
        """Parse ``"min_lon,min_lat,max_lon,max_lat"``, checking ranges and order, and (with
        ``max_area_km2``) the size a route can work on, all naming ``field``."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4:
            raise InvalidInput(
                f"{field} needs 4 numbers min_lon,min_lat,max_lon,max_lat, got {text!r}",
                field=field,
            )
        try:
            a, b, c, d = (float(p) for p in parts)
        except ValueError:
            raise InvalidInput(
                f"{field} has a value that is not a number: {text!r}", field=field
            ) from None
        if not (-180 <= a <= 180 and -180 <= c <= 180 and -90 <= b <= 90 and -90 <= d <= 90):
            raise InvalidInput(
                f"{field} is outside lon -180..180 / lat -90..90: {text!r}", field=field
            )
        if a > c or b > d:
            raise InvalidInput(f"{field} min must not exceed max: {text!r}", field=field)
        box = cls(a, b, c, d)
        if max_area_km2 is not None and not (c - a < 180 and box.area_km2() <= max_area_km2):
            raise InvalidInput(
                f"{field} covers about {box.area_km2():,.0f} km², more than the "
                f"{max_area_km2:,.0f} km² this route works on: use a smaller bbox",
                field=field,
            )
        return box

    def area_km2(self) -> float:
        """Area of the box on the sphere (R = 6371.0088 km) in km²."""
        r = 6371.0088
        dlon = math.radians(self.max_lon - self.min_lon)
        band = math.sin(math.radians(self.max_lat)) - math.sin(math.radians(self.min_lat))
        return r * r * dlon * abs(band)


def check_lat_lon(
    lat: float, lon: float, *, lat_field: str = "lat", lon_field: str = "lon"
) -> None:
    """Raise :class:`InvalidInput` naming the field when a WGS84 coordinate is out of range."""
    if not -90 <= lat <= 90:
        raise InvalidInput(f"{lat_field} must be within -90..90, got {lat}", field=lat_field)
    if not -180 <= lon <= 180:
        raise InvalidInput(f"{lon_field} must be within -180..180, got {lon}", field=lon_field)
