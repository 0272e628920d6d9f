"""Great-circle distances, as unit vectors so a distance filter over 100k people is one dot."""

from __future__ import annotations

import math

import numpy as np

EARTH_RADIUS_KM = 6371.0088


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
