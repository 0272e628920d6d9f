"""Request and response bodies of pairing's routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

# What a pool may be called: it is a path segment, a Redis key part and a Kafka field.
POOL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
PoolName = Annotated[str, Field(pattern=POOL_PATTERN, description="lowercase, 1-63 chars")]


class SeekerCriteria(BaseModel):
    """Pool-specific criteria a seeker asks of a partner (on top of their preferences)."""

    model_config = ConfigDict(extra="forbid")

    age_min: int | None = Field(default=None, ge=18, le=120)
    age_max: int | None = Field(default=None, ge=18, le=120)
    max_distance_km: float | None = Field(default=None, gt=0, le=20_000)

    @model_validator(mode="after")
    def _range(self) -> SeekerCriteria:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError("age_min must not exceed age_max")
        return self


class SeekerCreate(BaseModel):
    """Opt in: a user opts themselves in; the platform names `user_id`."""

    model_config = ConfigDict(extra="forbid")

    user_id: UUID | None = None
    criteria: SeekerCriteria = SeekerCriteria()


class SeekerPublic(BaseModel):
    pool: str
    user_id: UUID
    criteria: SeekerCriteria
    cycles_waited: int
    joined_at: datetime


class PoolPublic(BaseModel):
    pool: str
    created: bool


class YourWait(BaseModel):
    """The caller's place in the pool."""

    waiting: bool
    cycles_waited: int | None = None
    prioritised: bool = False
    # The share of seekers paired in the last cycle (1.0 when prioritised and anyone was);
    # None before the first cycle.
    estimated_chance: float | None = None


class PoolStatus(BaseModel):
    pool: str
    size: int
    next_cycle_at: datetime | None
    last_cycle_id: int | None
    you: YourWait | None


class PairingPublic(BaseModel):
    cycle_id: int
    pool: str
    partner_id: UUID
    score: float
    status: Literal["pending", "completed", "failed"]
    created_at: datetime


class CyclePublic(BaseModel):
    """One cycle of a pool: running until its result is written, then completed (every pair's
    side effects done) or failed (its runner died before the result)."""

    cycle_id: int
    status: Literal["running", "completed", "failed"]
    started_at: datetime
    finished_at: datetime | None
    seekers: int
    pairs: int
    optimal_total: float | None
    greedy_total: float | None


class PoolCycles(BaseModel):
    pool: str
    cycles: list[CyclePublic]


class RecentCycles(BaseModel):
    """The last cycles of each pool that has run one, pools by name, cycles newest first."""

    pools: list[PoolCycles]


class PairingHistory(BaseModel):
    user_id: UUID
    pairings: list[PairingPublic]
