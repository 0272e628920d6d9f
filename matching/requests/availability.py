"""Weekly availability as quarter-hour bins of one concrete UTC window.

Both sides' weekly slots are placed on the real local dates of the window and converted to
UTC with zoneinfo, so a week in which one side's clocks change (and the other's do not)
overlaps as it really will, not as a fixed offset would say.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

BIN = timedelta(minutes=15)
DAYS = 7
BINS = DAYS * 24 * 4

# (day_of_week 0=Monday, start minute, end minute, IANA zone)
WeeklySlot = tuple[int, int, int, str]


def window_start(now: datetime) -> datetime:
    """The window is the 7 days from the UTC midnight at or before `now`."""
    utc = now.astimezone(UTC)
    return datetime(utc.year, utc.month, utc.day, tzinfo=UTC)


def _local(day: date, minute: int, zone: ZoneInfo) -> datetime:
    if minute >= 24 * 60:  # "24:00": midnight at the end of the day
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)


def bins(slots: Iterable[WeeklySlot], start: datetime) -> np.ndarray:
    """A bool mask of the window's bins that any slot covers (partly covered bins count)."""
    mask = np.zeros(BINS, dtype=bool)
    first = start.date() - timedelta(days=1)  # a zone ahead of UTC starts its week earlier
    for dow, lo, hi, tz in slots:
        zone = ZoneInfo(tz)
        for offset in range(DAYS + 2):
            day = first + timedelta(days=offset)
            if day.weekday() != dow:
                continue
            a = (_local(day, lo, zone).astimezone(UTC) - start) // BIN
            b = -((start - _local(day, hi, zone).astimezone(UTC)) // BIN)  # ceiling
            a, b = max(a, 0), min(b, BINS)
            if a < b:
                mask[a:b] = True
    return mask


def matrix(per_row: Sequence[Sequence[WeeklySlot]], start: datetime) -> np.ndarray:
    """One row of bins per provider (uint8, for a column-sum of the request's bins)."""
    out = np.zeros((len(per_row), BINS), dtype=np.uint8)
    for row, slots in enumerate(per_row):
        if slots:
            out[row] = bins(slots, start)
    return out


def request_slots(
    days: Sequence[int], slots: Sequence[tuple[int, int]], tz: str
) -> list[WeeklySlot]:
    """The client's days x time slots, as weekly slots in their zone."""
    return [(d, lo, hi, tz) for d in sorted(set(days)) for lo, hi in slots]


def overlap_fraction(providers: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Per provider row, the share of the wanted bins they are available in."""
    idx = np.flatnonzero(wanted)
    if idx.size == 0:
        return np.zeros(providers.shape[0], dtype=np.float64)
    hits = providers[:, idx].sum(axis=1, dtype=np.int64)
    return np.asarray(hits / idx.size, dtype=np.float64)
