"""Bounding boxes given as ``min_lon,min_lat,max_lon,max_lat`` (EPSG:4326)."""

from __future__ import annotations

from dataclasses import dataclass

from geo.errors import InvalidInput


@dataclass(frozen=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @classmethod
    def parse(cls, text: str, *, field: str = "bbox") -> BBox:
        """Parse ``"min_lon,min_lat,max_lon,max_lat"``, checking ranges and order."""
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
        return cls(a, b, c, d)


def check_lat_lon(
    lat: float, lon: float, *, lat_field: str = "lat", lon_field: str = "lon"
) -> None:
    """Raise :class:`InvalidInput` naming the field when a WGS84 coordinate is out of range."""
    if not -90 <= lat <= 90:
        raise InvalidInput(f"{lat_field} must be within -90..90, got {lat}", field=lat_field)
    if not -180 <= lon <= 180:
        raise InvalidInput(f"{lon_field} must be within -180..180, got {lon}", field=lon_field)
