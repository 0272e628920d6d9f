"""Availability overlap in UTC across zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from matching.requests import availability as av

MON_9_TO_17 = (0, 9 * 60, 17 * 60)


def _hours(mask: np.ndarray, start: datetime) -> list[tuple[str, str]]:
    """The covered bins as (first, end) UTC clock strings of each run."""
    runs, idx = [], np.flatnonzero(mask)
    if idx.size == 0:
        return runs
    breaks = np.flatnonzero(np.diff(idx) > 1)
    for lo, hi in zip(np.r_[0, breaks + 1], np.r_[breaks, idx.size - 1], strict=True):
        a = start + av.BIN * int(idx[lo])
        b = start + av.BIN * (int(idx[hi]) + 1)
        runs.append((a.strftime("%a %H:%M"), b.strftime("%a %H:%M")))
    return runs


def test_window_starts_at_utc_midnight() -> None:
    start = av.window_start(datetime(2026, 3, 4, 15, 30, tzinfo=UTC))
    assert start == datetime(2026, 3, 4, tzinfo=UTC)


def test_a_new_york_monday_is_five_hours_later_in_utc_in_winter() -> None:
    start = av.window_start(datetime(2026, 1, 5, tzinfo=UTC))  # a Monday
    mask = av.bins([(*MON_9_TO_17, "America/New_York")], start)
    assert _hours(mask, start) == [("Mon 14:00", "Mon 22:00")]


def test_the_week_new_york_moves_to_summer_time_and_london_does_not() -> None:
    # 2026-03-08: the US springs forward; the UK only on 2026-03-29.
    before = av.window_start(datetime(2026, 3, 2, tzinfo=UTC))
    after = av.window_start(datetime(2026, 3, 9, tzinfo=UTC))
    ny = [(*MON_9_TO_17, "America/New_York")]
    assert _hours(av.bins(ny, before), before) == [("Mon 14:00", "Mon 22:00")]
    assert _hours(av.bins(ny, after), after) == [("Mon 13:00", "Mon 21:00")]
    # A Londoner free Monday 13:00-14:00 local: no overlap before the change, a full hour after.
    london = av.request_slots([0], [(13 * 60, 14 * 60)], "Europe/London")
    ny_before, ny_after = av.matrix([ny], before), av.matrix([ny], after)
    assert av.overlap_fraction(ny_before, av.bins(london, before))[0] == 0.0
    assert av.overlap_fraction(ny_after, av.bins(london, after))[0] == 1.0


def test_a_slot_across_the_night_of_the_change_is_an_hour_shorter() -> None:
    # Berlin springs forward on Sunday 2026-03-29 at 02:00: 00:00-06:00 local is 5 real hours.
    start = av.window_start(datetime(2026, 3, 23, tzinfo=UTC))
    mask = av.bins([(6, 0, 6 * 60, "Europe/Berlin")], start)
    assert int(mask.sum()) == 5 * 4
    assert _hours(mask, start) == [("Sat 23:00", "Sun 04:00")]


def test_a_request_in_tokyo_meets_a_provider_in_los_angeles_the_day_before() -> None:
    start = av.window_start(datetime(2026, 6, 1, tzinfo=UTC))
    # Los Angeles Monday 17:00-19:00 (PDT, UTC-7) is Tuesday 09:00-11:00 in Tokyo (UTC+9).
    provider = av.matrix([[(0, 17 * 60, 19 * 60, "America/Los_Angeles")]], start)
    tokyo_tuesday = av.bins(av.request_slots([1], [(9 * 60, 10 * 60)], "Asia/Tokyo"), start)
    tokyo_monday = av.bins(av.request_slots([0], [(9 * 60, 10 * 60)], "Asia/Tokyo"), start)
    assert av.overlap_fraction(provider, tokyo_tuesday)[0] == 1.0
    assert av.overlap_fraction(provider, tokyo_monday)[0] == 0.0


def test_partial_overlap_is_the_share_of_the_requested_time() -> None:
    start = av.window_start(datetime(2026, 6, 1, tzinfo=UTC))
    provider = av.matrix([[(2, 10 * 60, 12 * 60, "UTC")], []], start)
    wanted = av.bins(av.request_slots([2], [(11 * 60, 15 * 60)], "UTC"), start)
    assert av.overlap_fraction(provider, wanted).tolist() == [0.25, 0.0]


def test_end_of_day_midnight_is_accepted() -> None:
    start = av.window_start(datetime(2026, 6, 1, tzinfo=UTC))
    mask = av.bins([(0, 22 * 60, 24 * 60, "UTC")], start)
    assert _hours(mask, start) == [("Mon 22:00", "Tue 00:00")]
