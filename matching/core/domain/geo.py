"""Great-circle distances, as unit vectors so a distance filter over 100k people is one dot.

Anything one person learns about another's location goes through `public_km`: both points
snapped to a ~1 km grid cell, the distance between the cells in whole km rounded down. Only
rounding the distance would not do: an attacker moving a search origin until the rounded
value flips finds points at an exact distance, and three of those give the exact location;
with snapped cells the most any sequence of searches can reveal is the person's cell.
"""

from __future__ import annotations

import math

import numpy as np

EARTH_RADIUS_KM = 6371.0088
CELL_KM = 1.0  # the side of the grid cells locations are snapped to before any distance
_ROW_KM = 2 * math.pi * EARTH_RADIUS_KM  # around the equator
_LAT_STEP = CELL_KM * 360.0 / _ROW_KM  # one cell of latitude, in degrees
# Cells one above another are exactly whole km apart; without this, float noise would floor
# 1.0 km to 0 or 1 by the last bit, and the scalar and array forms could disagree.
_WHOLE_KM_EPS = 1e-6


def unit_vector(latitude: float, longitude: float) -> tuple[float, float, float]:
    lat, lon = math.radians(latitude), math.radians(longitude)
    return (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def haversine_km_array(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    """haversine_km element-wise over arrays; NaN where a coordinate is NaN (unknown)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    out: np.ndarray = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return out


def cos_of_distance(distance_km: float) -> float:
    """The dot product of two unit vectors that are `distance_km` apart (float64 resolves ~1 m)."""
    return math.cos(min(distance_km / EARTH_RADIUS_KM, math.pi))


def distances_km(xyz: np.ndarray, origin: tuple[float, float, float]) -> np.ndarray:
    dots = np.clip(xyz @ np.asarray(origin, dtype=np.float64), -1.0, 1.0)
    return np.arccos(dots) * EARTH_RADIUS_KM


def cell_centre(latitude: float, longitude: float) -> tuple[float, float]:
    """The centre of the grid cell holding the point: rows CELL_KM of latitude high, each cut
    into as many equal columns as fit CELL_KM wide at its centre (near-square everywhere)."""
    row = math.floor((latitude + 90.0) / _LAT_STEP)
    lat = min(90.0, -90.0 + (row + 0.5) * _LAT_STEP)
    cols = max(1.0, math.floor(_ROW_KM * math.cos(math.radians(lat)) / CELL_KM))
    step = 360.0 / cols
    col = math.floor((longitude + 180.0) / step) % cols
    return lat, -180.0 + (col + 0.5) * step


def cell_centres(latitude: np.ndarray, longitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cell_centre element-wise; NaN stays NaN (a unit test pins the two together)."""
    row = np.floor((np.asarray(latitude, dtype=np.float64) + 90.0) / _LAT_STEP)
    lat = np.minimum(90.0, -90.0 + (row + 0.5) * _LAT_STEP)
    cols = np.maximum(1.0, np.floor(_ROW_KM * np.cos(np.radians(lat)) / CELL_KM))
    step = 360.0 / cols
    col = np.mod(np.floor((np.asarray(longitude, dtype=np.float64) + 180.0) / step), cols)
    out: tuple[np.ndarray, np.ndarray] = (lat, -180.0 + (col + 0.5) * step)
    return out


def public_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The distance others see, score and filter by: between the two points' cells, in whole
    km rounded down (0: under 1 km)."""
    d = haversine_km(*cell_centre(lat1, lon1), *cell_centre(lat2, lon2))
    return float(math.floor(d + _WHOLE_KM_EPS))


def public_km_array(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    """public_km element-wise; NaN where a coordinate is NaN (unknown)."""
    d = haversine_km_array(*cell_centres(lat1, lon1), *cell_centres(lat2, lon2))
    out: np.ndarray = np.floor(d + _WHOLE_KM_EPS)
    return out
