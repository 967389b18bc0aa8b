"""Bounded input types for the edge: every id, offset, string, time and coordinate a route takes.

Each type carries its bounds into the OpenAPI (``minimum``/``maximum``/``maxLength``/``pattern``)
and into validation, so bad input is a 422 naming the field before a handler runs, and nothing
out of range reaches the database or the audit log (issue 11, finding 10):

- ids are database ``integer`` columns: ``1..2^31-1`` (a larger id was a 500 from PostgreSQL);
- offsets and counts are bounded (an offset of 2^63 was a 500);
- strings have a maximum length and no NUL or other control character (``SafeStr``; ``SafeText``
  also allows tab and line breaks, for reasons and descriptions);
- times lie within :data:`geo.times.SANE_YEARS` (year 1 or 9999 overflowed time-zone arithmetic);
  a time without an offset is KST, as everywhere (:mod:`geo.times`);
- floats are finite; latitude and longitude within WGS84's ranges; speeds bounded away from 0
  (1e-300 km/h made travel times infinite).

Use them as parameter and body-field types (``camera_id: Int32Id``, ``limit: Limit = 1000``);
FastAPI reads the constraints from the type, so a ``Query(...)``/``Field(...)`` may still add a
description or a tighter bound.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from annotated_types import Interval
from pydantic import AfterValidator, AllowInfNan, StringConstraints

from geo.times import SANE_YEARS

#: The largest value of a PostgreSQL ``integer`` column (ids).
MAX_INT32 = 2**31 - 1
#: The largest paging offset accepted.
MAX_OFFSET = 1_000_000

#: No C0 control character (NUL included) and no DEL.
NO_CONTROL = r"^[^\x00-\x1F\x7F]*$"
#: As :data:`NO_CONTROL`, but tab, line feed and carriage return are allowed (free text).
NO_CONTROL_TEXT = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F]*$"

#: A database id (``integer`` primary key).
Int32Id = Annotated[int, Interval(ge=1, le=MAX_INT32)]
#: A paging offset.
Offset = Annotated[int, Interval(ge=0, le=MAX_OFFSET)]
#: A short single-line string (names, filters, case numbers): at most 200 characters.
SafeStr = Annotated[str, StringConstraints(max_length=200, pattern=NO_CONTROL)]
#: Free text (reasons, descriptions): at most 4000 characters, line breaks allowed.
SafeText = Annotated[str, StringConstraints(max_length=4000, pattern=NO_CONTROL_TEXT)]
#: A bbox string ``min_lon,min_lat,max_lon,max_lat``, parsed (ranges, size) by :mod:`geo.bbox`.
BBoxStr = Annotated[str, StringConstraints(max_length=200, pattern=NO_CONTROL)]

#: A finite float (no NaN, no infinity).
FiniteFloat = Annotated[float, AllowInfNan(False)]
#: WGS84 latitude in degrees.
Lat = Annotated[float, Interval(ge=-90, le=90), AllowInfNan(False)]
#: WGS84 longitude in degrees.
Lon = Annotated[float, Interval(ge=-180, le=180), AllowInfNan(False)]
#: A distance or radius in metres (0 .. 100 km).
DistanceM = Annotated[float, Interval(ge=0, le=100_000), AllowInfNan(False)]
#: A plausible speed of a person or vehicle in km/h (bounded away from 0).
SpeedKph = Annotated[float, Interval(ge=0.1, le=400), AllowInfNan(False)]


def _sane_datetime(t: dt.datetime) -> dt.datetime:
    lo, hi = SANE_YEARS
    if not lo <= t.year <= hi:
        raise ValueError(f"the year must be within {lo}..{hi}, got {t.year}")
    return t


#: A time stamp (ISO 8601; without an offset it is KST) within :data:`geo.times.SANE_YEARS`.
SaneDatetime = Annotated[dt.datetime, AfterValidator(_sane_datetime)]
