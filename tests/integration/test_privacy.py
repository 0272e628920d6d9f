"""Privacy by default: what others can learn of a location, what events and dead letters hold."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from matching.core.domain.geo import cell_centre, haversine_km, public_km_array
from matching.core.domain.profile import ProfileIn
from matching.core.events.consumer import Rejected, dead_letter_body
from matching.core.events.handlers import apply_update
from tests.integration.conftest import App
from tests.support import profile_body

KM_PER_DEG_LAT = 111.195
# A cell's centre near Berlin, and two people in that cell 400 m apart.
CELL = cell_centre(52.5, 13.4)
NORTH = (CELL[0] + 0.2 / KM_PER_DEG_LAT, CELL[1] + 0.001)
SOUTH = (CELL[0] - 0.2 / KM_PER_DEG_LAT, CELL[1] - 0.001)
PROMPT = "people who like hiking"


def _offset(point: tuple[float, float], north_km: float, east_km: float) -> tuple[float, float]:
    east = east_km / (KM_PER_DEG_LAT * math.cos(math.radians(point[0])))
    return point[0] + north_km / KM_PER_DEG_LAT, point[1] + east


async def _put(app: App, name: str, point: tuple[float, float], **fields: Any) -> str:
    uid = str(uuid.uuid4())
    body = profile_body(name, latitude=point[0], longitude=point[1], **fields)
    response = await app.client.put(f"/v1/profiles/{uid}", json=body)
    assert response.status_code == 201, response.text
    return uid


async def _search(app: App, origin: tuple[float, float], radius: float) -> dict[str, Any]:
    """Who a radius search from `origin` finds, by id, with their candidate entries."""
    body = {"prompt": PROMPT, "latitude": origin[0], "longitude": origin[1], "limit": 10}
    response = await app.client.post("/v1/search", json={**body, "max_distance_km": radius})
    assert response.status_code == 200, response.text
    return {c["user_id"]: c for c in response.json()["candidates"]}


async def _smallest_radius(app: App, uid: str, origin: tuple[float, float]) -> float:
    """The attack: bisect the radius until the person just shows up, to 5 m."""
    lo, hi = 0.0, 40.0
    assert uid in await _search(app, origin, hi)
    while hi - lo > 0.005:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if uid in await _search(app, origin, mid) else (mid, hi)
    return hi


@dataclass(frozen=True)
class Estimate:
    feasible: np.ndarray  # (n, 2) candidate points that answer every search as observed
    spread_km: float  # the farthest two of them apart


def _consistent_points(observed: list[tuple[tuple[float, float], int]]) -> Estimate:
    """Every point on a 50 m grid around the first origin that the searches cannot tell apart
    from the person: the attacker's best knowledge, as the rule (public_km) is public."""
    steps = np.arange(-200, 201) / 20  # km
    north, east = (a.ravel() for a in np.meshgrid(steps, steps))
    lat0, lon0 = observed[0][0]
    lat = lat0 + north / KM_PER_DEG_LAT
    lon = lon0 + east / (KM_PER_DEG_LAT * math.cos(math.radians(lat0)))
    ok = np.ones(len(lat), dtype=bool)
    for (o_lat, o_lon), k in observed:
        ok &= public_km_array(np.full(len(lat), o_lat), np.full(len(lat), o_lon), lat, lon) == k
    points = np.column_stack([lat[ok], lon[ok]])
    lo, hi = points.min(axis=0), points.max(axis=0)
    return Estimate(points, haversine_km(lo[0], lo[1], hi[0], hi[1]))


async def test_three_point_trilateration_is_no_better_than_a_km(app: App) -> None:
    target = _offset(CELL, 0.31, -0.27)
    uid = await _put(app, "Target", target)
    origins = [_offset(target, 3.3, 0.4), _offset(target, -1.2, 4.1), _offset(target, -2.6, -3.7)]
    observed = []
    for origin in origins:
        radius = await _smallest_radius(app, uid, origin)
        # the search only ever answers in whole km: the threshold sits on an integer
        assert radius == pytest.approx(round(radius), abs=0.01), radius
        observed.append((origin, round(radius)))
    estimate = _consistent_points(observed)
    assert len(estimate.feasible) > 0
    # the whole cell, at least, answers alike: the best estimate is off by up to ~0.7 km
    assert estimate.spread_km >= 1.0
    centre = estimate.feasible.mean(axis=0)
    worst = max(haversine_km(*centre, *p) for p in estimate.feasible)
    assert worst >= 0.5


async def test_two_people_in_one_cell_answer_every_search_alike(app: App) -> None:
    """A moving origin cannot split them either: everything shown is the cell's."""
    north, south = await _put(app, "North", NORTH), await _put(app, "South", SOUTH)
    assert haversine_km(*NORTH, *SOUTH) > 0.4
    rng = np.random.default_rng(9)
    split = 0
    for _ in range(25):
        origin = _offset(CELL, *rng.uniform(-6, 6, 2))
        # radii an attacker would probe: exactly each one's true distance, and just under
        for radius in (haversine_km(*origin, *NORTH), haversine_km(*origin, *SOUTH)):
            split += (haversine_km(*origin, *NORTH) <= radius) != (
                haversine_km(*origin, *SOUTH) <= radius
            )
            for r in (radius, radius - 0.003):
                found = await _search(app, origin, r)
                assert (north in found) == (south in found), (origin, r)
                if north in found:
                    a, b = found[north], found[south]
                    assert a["reasons"]["distance_km"] == b["reasons"]["distance_km"]
                    assert a["reasons"]["distance_text"] == b["reasons"]["distance_text"]
                    assert a["score_breakdown"] == b["score_breakdown"]
    assert split > 10  # exact distances would have told them apart this often


async def test_distances_shown_are_whole_km(app: App) -> None:
    me = await _put(app, "Me", CELL, preferences={"distance_km": 50})
    near = await _put(app, "Near", _offset(CELL, 0.1, 0.1), company="Near Co")
    far = await _put(app, "Far", _offset(CELL, 12.4, 0.0), company="Far Co")
    response = await app.client.get(f"/v1/users/{me}/discover")
    assert response.status_code == 200, response.text
    shown = {c["user_id"]: c["reasons"] for c in response.json()["candidates"]}
    assert (shown[near]["distance_km"], shown[near]["distance_text"]) == (0, "< 1 km")
    assert shown[far]["distance_km"] in (11, 12, 13)
    assert shown[far]["distance_text"] == f"{shown[far]['distance_km']} km"
    assert "< 1 km away" in shown[near]["summary"]
    search = await _search(app, CELL, 30.0)
    assert search[far]["reasons"]["distance_km"] == shown[far]["distance_km"]


SECRETS = ("Ada Quietwater", "Orchid breeding", "my secret bio line", "orchids")


async def test_events_carry_ids_and_numbers_not_profile_text(app: App) -> None:
    private = {
        "headline": "Orchid breeding at night",
        "bio": "my secret bio line",
        "interests": ["orchids", "hiking"],
    }
    where = _offset(CELL, 0.1, 0.0)
    a = await _put(app, "Ada Quietwater", where, **private)
    b = await _put(app, "Bo Other", CELL, company="Other", interests=["orchids", "hiking"])
    for swiper, swiped in ((a, b), (b, a)):
        body = {"swiper_id": swiper, "swiped_id": swiped, "action": "like"}
        response = await app.client.post("/v1/swipes", json=body)
        assert response.status_code == 200, response.text
    assert response.json()["mutual"] is True
    assert (await app.client.delete(f"/v1/profiles/{a}")).status_code in (200, 204)
    async with app.resources.pool.acquire() as conn:
        rows = await conn.fetch("SELECT event_type, payload FROM event_outbox ORDER BY id")
    kinds = {r["event_type"] for r in rows}
    assert {"swipe.performed", "match.created", "user.erased"} <= kinds
    text = json.dumps([r["payload"] for r in rows])
    for secret in (*SECRETS, f"{where[0]:.3f}"[:-1], f"{where[1]:.3f}"[:-1]):
        assert secret.lower() not in text.lower(), secret
    [created] = [r["payload"] for r in rows if r["event_type"] == "match.created"]
    reason = created["match_reason"]
    assert reason["shared_interest_count"] == 2 and "summary" not in reason


def test_dead_letters_hold_no_payload_and_no_echoed_values() -> None:
    current = ProfileIn.model_validate(profile_body("Ada Quietwater"))
    values = {"name": "Ada Quietwater " * 20, "bio": "my secret bio line", "latitude": 52.51}
    event = {"event_type": "user.updated", "event_id": "e-1", "new_values": values}
    with pytest.raises(Rejected) as raised:
        apply_update(current, ["name", "bio", "latitude"], values)
    assert "Ada Quietwater" in str(raised.value)  # pydantic echoes the input ...

    @dataclass
    class Record:
        topic: str = "user.events"
        partition: int = 2
        offset: int = 41
        timestamp: int = 0
        key: bytes | None = b"a-user-id"
        value: bytes | None = json.dumps(event).encode()

    body = dead_letter_body(Record(), raised.value.reason, str(raised.value), "g")
    text = json.dumps(body)
    for secret in SECRETS:
        assert secret not in text, secret  # ... the dead letter does not
    assert "name" in body["error"] and "string_too_long" in body["error"]
    assert {k: body[k] for k in ("original_topic", "partition", "offset", "key")} == {
        "original_topic": "user.events",
        "partition": 2,
        "offset": 41,
        "key": "a-user-id",
    }
    assert (body["event_type"], body["event_id"]) == ("user.updated", "e-1")
    assert "payload" not in body and body["payload_bytes"] == len(Record().value or b"")
