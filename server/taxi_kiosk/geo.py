"""Small-area geometry: WGS-84 latitude/longitude ↔ metres east/north of a reference point (equirectangular; within
a few kilometres the error is far below a car length)."""

from __future__ import annotations

import math

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_320.0


def to_xy(lat: float, lon: float, lat0: float, lon0: float) -> tuple[float, float]:
    """Metres (east, north) of (lat, lon) from (lat0, lon0)."""
    return ((lon - lon0) * M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat0)), (lat - lat0) * M_PER_DEG_LAT)


def to_latlon(x: float, y: float, lat0: float, lon0: float) -> tuple[float, float]:
    """(lat, lon) of the point (east x, north y) metres from (lat0, lon0)."""
    return lat0 + y / M_PER_DEG_LAT, lon0 + x / (M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat0)))


def heading(dx: float, dy: float) -> float:
    """Compass heading in degrees [0, 360) of a move (east dx, north dy); 0 = north, 90 = east."""
    return math.degrees(math.atan2(dx, dy)) % 360.0
