"""A deterministic, realistic demo population for seeding, load tests and simulations.

`generate_population(n, seed=...)` streams `SeedPerson`s: the same n, seed and `now` always give
the same people (ids included), and the first k people of a larger run equal a run of k. People
work in one of 16 industries at fictitious companies (so colleagues and competitors exist), live
around 12 cities, speak the local languages, and pick interests mostly from one or two favourite
themes, so similarity structure is there to be found. Profiles are built without validation
(`model_construct`) from already-normalised tables; the unit tests prove they validate.
"""

from __future__ import annotations

import math
import random
import uuid
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from matching.core.domain.profile import (
    COMPANY_SIZES,
    FACTORS,
    JOB_LEVELS,
    AlgorithmWeights,
    CompanySize,
    Gender,
    JobLevel,
    Preferences,
    ProfileFields,
    ProfileIn,
)
from matching.core.domain.vocabulary_tables import (
    ACTIVITY,
    CITIES,
    COMPANY_SIZE_WEIGHT,
    DISPLAY,
    FEMALE_NAMES,
    FOUNDER_TITLES,
    GOAL_COMPLEMENTS,
    GOAL_TEMPLATES,
    GOAL_WEIGHTS,
    INDUSTRY_PHRASE,
    INDUSTRY_TABLE,
    INTEREST_TEMPLATES,
    INTEREST_THEMES,
    JOB_LEVEL_TABLE,
    LAST_NAMES,
    MALE_NAMES,
    NETWORKING_GOALS,
    NEUTRAL_NAMES,
    SENIOR_SKILLS,
    STAGE_OF_LEVEL,
    THEME_WEIGHT,
    WORK_TEMPLATES,
    WORLD_LANGUAGES,
    City,
    Company,
    Industry,
    Role,
)

__all__ = [
    "CITIES",
    "COMPANIES",
    "DEFAULT_NOW",
    "GOAL_COMPLEMENTS",
    "INDUSTRIES",
    "INTEREST_THEMES",
    "NETWORKING_GOALS",
    "City",
    "Company",
    "SeedPerson",
    "favourite_themes",
    "generate_population",
    "theme_of",
]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

DEFAULT_NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
INDUSTRIES: tuple[str, ...] = tuple(i.name for i in INDUSTRY_TABLE)
COMPANIES: dict[str, tuple[Company, ...]] = {i.name: i.companies for i in INDUSTRY_TABLE}

# Rates of missing profile fields.
P_NO_BIO, P_NO_LOCATION, P_NO_AGE, P_NO_COMPANY = 0.10, 0.05, 0.08, 0.15
P_NO_HEADLINE, P_NO_INTERESTS, P_NO_GOALS = 0.03, 0.03, 0.05
P_PHOTO = 0.8  # decided from the person's id, not the stream: earlier draws stay the same
# Rates of preferences being set.
P_AGE_RANGE, P_DISTANCE, P_PREF_LANGUAGES, P_PREF_INDUSTRIES = 0.60, 0.70, 0.30, 0.10
P_PREF_LEVELS, P_PREF_SIZES, P_EXCLUDE_COLLEAGUES, P_EXCLUDE_COMPETITORS = 0.05, 0.03, 0.20, 0.05
P_PREF_INTERESTS, P_PREF_GOALS, P_WEIGHTS = 0.30, 0.50, 0.05

JITTER_SIGMA_KM, JITTER_MAX_KM, KM_PER_DEGREE = 10.0, 30.0, 111.32
MAX_ACCOUNT_DAYS = 3 * 365
DISTANCES_KM = (10.0, 25.0, 25.0, 50.0, 50.0, 50.0, 75.0, 100.0, 100.0, 150.0, 200.0)
SMALL_SIZES: frozenset[CompanySize] = frozenset({"1-10", "11-50", "51-200"})


@dataclass(frozen=True, slots=True)
class SeedPerson:
    id: uuid.UUID
    profile: ProfileIn
    created_at: datetime  # tz-aware UTC
    last_active_at: datetime  # tz-aware UTC, >= created_at


def _below(rng: random.Random, n: int) -> int:
    """A uniform int in [0, n): one C-level random() call, several times faster than randrange."""
    return int(rng.random() * n)


def _between(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def _choice(rng: random.Random, seq: Sequence[T]) -> T:
    return seq[int(rng.random() * len(seq))]


def _sample(rng: random.Random, seq: Sequence[T], k: int) -> list[T]:
    """k distinct items in random order (a partial Fisher-Yates shuffle)."""
    pool = list(seq)
    n = len(pool)
    for i in range(k):
        j = i + int(rng.random() * (n - i))
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]


def _is_plain(cls: type[BaseModel]) -> bool:
    """No aliases, private attributes or post-init hook: `__dict__` is the whole state."""
    return not (
        cls.__pydantic_post_init__ or cls.__private_attributes__ or cls.__pydantic_root_model__
    ) and all(
        f.alias is None and f.validation_alias is None for f in cls.__pydantic_fields__.values()
    )


def _construct(cls: type[M], values: dict[str, Any]) -> M:
    """`cls.model_construct(**values)` without its per-field alias/default loop (that loop was
    ~15% of the generator's time): for trusted, normalised values naming every field of a plain
    model. Anything else falls back to `model_construct`."""
    if not _PLAIN.get(cls, False) or values.keys() != cls.__pydantic_fields__.keys():
        return cls.model_construct(**values)
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


class _Weighted(Generic[T]):
    """Weighted choice with precomputed cumulative weights (one random() per pick)."""

    __slots__ = ("_cum", "_items", "_total")

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        self._items = tuple(items)
        self._cum = tuple(accumulate(weights))
        self._total = self._cum[-1]

    def pick(self, rng: random.Random) -> T:
        return self._items[bisect(self._cum, rng.random() * self._total)]


@dataclass(frozen=True, slots=True)
class _Plan:
    """Per-industry tables derived once from the vocabulary."""

    industry: Industry
    phrase: str
    roles: tuple[tuple[Role, tuple[str, ...]], ...]  # each role with the shared skills it lacks
    companies: _Weighted[Company]
    small_companies: _Weighted[Company]
    themes: _Weighted[str]


@dataclass(slots=True)  # not frozen: frozen __init__ costs a setattr call per field
class _Draft:
    """The drawn facts about one person that the text and preferences are written from."""

    plan: _Plan
    role: Role
    level: JobLevel
    age: int
    title: str
    company: Company | None
    city: City
    languages: list[str]
    skills: list[str]
    themes: tuple[str, ...]
    interests: list[str]
    goals: list[str]


def _plan(industry: Industry) -> _Plan:
    small = [c for c in industry.companies if c.size in SMALL_SIZES] or list(industry.companies)
    boost = dict(industry.theme_boost)
    themes = list(INTEREST_THEMES)
    return _Plan(
        industry=industry,
        phrase=INDUSTRY_PHRASE.get(industry.name, industry.name),
        roles=tuple(
            (role, tuple(s for s in industry.shared_skills if s not in role.skills))
            for role in industry.roles
        ),
        companies=_Weighted(
            industry.companies, [COMPANY_SIZE_WEIGHT[c.size] for c in industry.companies]
        ),
        small_companies=_Weighted(small, [COMPANY_SIZE_WEIGHT[c.size] for c in small]),
        themes=_Weighted(themes, [THEME_WEIGHT[t] * boost.get(t, 1.0) for t in themes]),
    )


_PLANS = _Weighted([_plan(i) for i in INDUSTRY_TABLE], [i.weight for i in INDUSTRY_TABLE])
_LEVELS = _Weighted(JOB_LEVEL_TABLE, [row[1] for row in JOB_LEVEL_TABLE])
_CITIES = _Weighted(CITIES, [c.weight for c in CITIES])
_GENDERS: _Weighted[Gender | None] = _Weighted(
    ["female", "male", "non_binary", "other", "prefer_not_to_say", None],
    [46, 46, 2, 0.5, 1.5, 4],
)
_GOALS = {stage: _Weighted(NETWORKING_GOALS, w) for stage, w in GOAL_WEIGHTS.items()}
_THEME_OF = {tag: theme for theme, tags in INTEREST_THEMES.items() for tag in tags}
_PLAIN: dict[type[BaseModel], bool] = {m: _is_plain(m) for m in (ProfileIn, Preferences)}
_ALL_NAMES = FEMALE_NAMES + MALE_NAMES + NEUTRAL_NAMES
# Every ordered choice of one or two favourite themes -> the other themes / their interests.
_THEME_CHOICES: list[tuple[str, ...]] = [(a,) for a in INTEREST_THEMES] + [
    (a, b) for a in INTEREST_THEMES for b in INTEREST_THEMES if a != b
]
_OTHER_THEMES = {c: tuple(t for t in INTEREST_THEMES if t not in c) for c in _THEME_CHOICES}
_THEME_POOL = {c: tuple(tag for t in c for tag in INTEREST_THEMES[t]) for c in _THEME_CHOICES}
# The Rayleigh CDF at JITTER_MAX_KM: radii are drawn from u in [0, this) to truncate there.
_JITTER_U_MAX = 1.0 - math.exp(-0.5 * (JITTER_MAX_KM / JITTER_SIGMA_KM) ** 2)
_SENIOR_LEVELS = frozenset(JOB_LEVELS[JOB_LEVELS.index("lead") :])
_TITLE_FORMATS: dict[str, str] = {
    "intern": "{area} Intern",
    "entry": "Junior {title}",
    "mid": "{title}",
    "senior": "Senior {title}",
    "lead": "Lead {title}",
    "manager": "{area} Manager",
    "director": "Director of {area}",
    "vp": "VP of {area}",
}


def theme_of(interest: str) -> str | None:
    """The interest theme a (normalised) interest belongs to, if it is one of ours."""
    return _THEME_OF.get(interest)


def favourite_themes(person: SeedPerson | ProfileFields) -> tuple[str, ...]:
    """The themes a person drew at least two interests from, most-represented first.

    For generated people this recovers exactly the one or two favourite themes: off-theme
    interests are drawn at most one per other theme."""
    profile = person.profile if isinstance(person, SeedPerson) else person
    counts: dict[str, int] = {}
    for tag in profile.interests:
        theme = _THEME_OF.get(tag)
        if theme is not None:
            counts[theme] = counts.get(theme, 0) + 1
    order = list(INTEREST_THEMES)
    liked = [t for t, c in counts.items() if c >= 2]
    return tuple(sorted(liked, key=lambda t: (-counts[t], order.index(t))))


# -- drawing the facts ------------------------------------------------------------------------


def _title(rng: random.Random, industry: Industry, role: Role, level: JobLevel) -> str:
    if level == "executive":
        return _choice(rng, industry.executive_titles)
    if level == "founder":
        return _choice(rng, FOUNDER_TITLES)
    return _TITLE_FORMATS[level].format(title=role.title, area=role.area)


def _name(rng: random.Random, gender: Gender | None) -> str:
    if gender == "female":
        pool = FEMALE_NAMES if rng.random() < 0.9 else NEUTRAL_NAMES
    elif gender == "male":
        pool = MALE_NAMES if rng.random() < 0.9 else NEUTRAL_NAMES
    else:
        pool = _ALL_NAMES
    return f"{_choice(rng, pool)} {_choice(rng, LAST_NAMES)}"


def _location(rng: random.Random, city: City) -> tuple[float, float]:
    """A point around the city centre: a 2-d gaussian (sigma JITTER_SIGMA_KM) truncated at
    JITTER_MAX_KM, drawn in polar form (Rayleigh radius, uniform bearing), then km -> degrees."""
    radius = JITTER_SIGMA_KM * math.sqrt(-2.0 * math.log(1.0 - rng.random() * _JITTER_U_MAX))
    bearing = math.tau * rng.random()
    lat = city.lat + radius * math.cos(bearing) / KM_PER_DEGREE
    lon = city.lon + radius * math.sin(bearing) / (KM_PER_DEGREE * math.cos(math.radians(city.lat)))
    return round(lat * 1e5) / 1e5, round(lon * 1e5) / 1e5  # ~1 m; round(x, 5) is 2x slower


def _languages(rng: random.Random, city: City) -> list[str]:
    primary, *others = city.languages
    langs: dict[str, None] = {}
    if rng.random() < 0.95:
        langs[primary] = None
    for lang in others:
        if rng.random() < 0.4:
            langs[lang] = None
    if "english" not in city.languages and rng.random() < 0.8:
        langs["english"] = None
    if rng.random() < 0.3:
        langs[_choice(rng, WORLD_LANGUAGES)] = None
    return list(langs) or [primary]


def _skills(rng: random.Random, role: Role, shared: tuple[str, ...], level: JobLevel) -> list[str]:
    skills = _sample(rng, role.skills, _between(rng, 2, 4))
    skills += _sample(rng, shared, _between(rng, 1, 3))
    if level in _SENIOR_LEVELS and rng.random() < 0.5:
        skills.append(_choice(rng, SENIOR_SKILLS))
    return skills


def _favourite(rng: random.Random, plan: _Plan) -> tuple[str, ...]:
    first = plan.themes.pick(rng)
    if rng.random() < 0.45:
        return (first,)
    second = first
    while second == first:
        second = plan.themes.pick(rng)
    return first, second


def _interests(rng: random.Random, themes: tuple[str, ...]) -> list[str]:
    """Two to four interests from each favourite theme (listed first, as people do), then at
    most one from each of up to two other themes."""
    picked = _sample(rng, INTEREST_THEMES[themes[0]], _between(rng, 2, 4))
    if len(themes) > 1:
        picked += _sample(rng, INTEREST_THEMES[themes[1]], _between(rng, 2, 3))
    for theme in _sample(rng, _OTHER_THEMES[themes], _choice(rng, (0, 0, 1, 1, 1, 2))):
        picked.append(_choice(rng, INTEREST_THEMES[theme]))
    return picked


def _goals(rng: random.Random, level: JobLevel) -> list[str]:
    table = _GOALS[STAGE_OF_LEVEL[level]]
    wanted = _choice(rng, (1, 1, 2, 2, 2, 3))
    goals: dict[str, None] = {}
    while len(goals) < wanted:
        goals[table.pick(rng)] = None
    return list(goals)


def _draft(rng: random.Random) -> _Draft:
    plan = _PLANS.pick(rng)
    level, _, mean_age, sd_age, youngest = _LEVELS.pick(rng)
    role, shared = _choice(rng, plan.roles)
    themes = _favourite(rng, plan)
    city = _CITIES.pick(rng)
    company = None
    if rng.random() >= P_NO_COMPANY:
        company = (plan.small_companies if level == "founder" else plan.companies).pick(rng)
    return _Draft(
        plan=plan,
        role=role,
        level=level,
        age=min(65, max(youngest, round(rng.gauss(mean_age, sd_age)))),
        title=_title(rng, plan.industry, role, level),
        company=company,
        city=city,
        languages=_languages(rng, city),
        skills=_skills(rng, role, shared, level),
        themes=themes,
        interests=[] if rng.random() < P_NO_INTERESTS else _interests(rng, themes),
        goals=[] if rng.random() < P_NO_GOALS else _goals(rng, level),
    )


# -- writing the text -------------------------------------------------------------------------


def _article(word: str) -> str:
    return "an" if word[0] in "AEIOU" else "a"


def _role_phrase(d: _Draft) -> str:
    if d.company is None:
        return f"{_article(d.title)} {d.title}"
    if d.level in ("executive", "founder") and d.title != "Co-founder":
        return f"the {d.title} of {d.company.name}"
    return f"{_article(d.title)} {d.title} at {d.company.name}"


def _headline(d: _Draft) -> str:
    if d.company is not None:
        return f"{d.title} at {d.company.name}"
    return f"{d.title} | {d.plan.industry.name.title()}"


def _listing(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _interest_sentence(rng: random.Random, interests: list[str]) -> str:
    template = _choice(rng, INTEREST_TEMPLATES)
    if "{nouns}" in template:
        return template.format(nouns=_listing([DISPLAY.get(i, i) for i in interests[:3]]))
    first, second = interests[0], interests[1]
    return template.format(a1=ACTIVITY.get(first, first), a2=ACTIVITY.get(second, second))


def _bio(rng: random.Random, d: _Draft) -> str:
    """A work sentence, then one or both of an interests sentence and a goal sentence."""
    years = max(1, d.age - 22 - _between(rng, 0, 3))
    fields = {
        "role": _role_phrase(d),
        "ind": d.plan.phrase,
        "years": "One year" if years == 1 else f"{years} years",
        "s1": d.skills[0],
        "s2": d.skills[1],
        "s3": d.skills[2],
    }
    extra: list[str] = []
    if d.interests:
        extra.append(_interest_sentence(rng, d.interests))
    if d.goals:
        extra.append(_choice(rng, GOAL_TEMPLATES[d.goals[0]]).format_map(fields))
    if len(extra) == 2 and rng.random() < 0.35:
        extra.pop(_below(rng, 2))
    elif len(extra) == 2 and rng.random() < 0.5:
        extra.reverse()
    return " ".join([_choice(rng, WORK_TEMPLATES).format_map(fields), *extra])


# -- preferences ------------------------------------------------------------------------------


def _age_range(rng: random.Random, age: int) -> tuple[int, int]:
    low = max(18, age - _between(rng, 2, 10))
    high = min(99, age + _between(rng, 2, 12))
    if rng.random() < 0.5:  # slider users land on round numbers
        low, high = max(18, low - low % 5), min(99, high + (-high) % 5)
    return low, high


def _distance(rng: random.Random) -> float:
    return float(_between(rng, 10, 200)) if rng.random() < 0.15 else _choice(rng, DISTANCES_KM)


def _pref_languages(rng: random.Random, d: _Draft) -> list[str]:
    if rng.random() < 0.7:
        return d.languages[:1]
    return _sample(rng, d.languages, _between(rng, 1, len(d.languages)))


def _pref_industries(rng: random.Random, d: _Draft) -> list[str]:
    own = d.plan.industry.name
    picked = _sample(rng, [i for i in INDUSTRIES if i != own], _between(rng, 0, 2))
    return [own, *picked] if rng.random() < 0.75 or not picked else picked


def _pref_levels(d: _Draft) -> list[JobLevel]:
    """Mentees look a few levels up; others around their own level."""
    at = JOB_LEVELS.index(d.level)
    low, high = (at + 1, at + 3) if "find a mentor" in d.goals else (at - 1, at + 1)
    return list(JOB_LEVELS[max(0, low) : high + 1]) or [d.level]


def _pref_sizes(rng: random.Random, d: _Draft) -> list[CompanySize]:
    at = COMPANY_SIZES.index(d.company.size) if d.company else _below(rng, len(COMPANY_SIZES))
    return list(COMPANY_SIZES[max(0, at - _between(rng, 0, 1)) : at + 1 + _between(rng, 0, 1)])


def _pref_goals(d: _Draft) -> list[str]:
    return list(dict.fromkeys(c for goal in d.goals for c in GOAL_COMPLEMENTS[goal]))


def _weights(rng: random.Random) -> AlgorithmWeights:
    factors = _sample(rng, FACTORS, _between(rng, 1, len(FACTORS)))
    return AlgorithmWeights(**{f: _between(rng, 0, 20) / 20 for f in factors})


def _preferences(rng: random.Random, d: _Draft) -> Preferences:
    """Each preference is set at its own rate (the P_* constants); most stay unset."""
    r = rng.random
    age_min, age_max = _age_range(rng, d.age) if r() < P_AGE_RANGE else (None, None)
    return _construct(
        Preferences,
        {
            "age_min": age_min,
            "age_max": age_max,
            "distance_km": _distance(rng) if r() < P_DISTANCE else None,
            "industries": _pref_industries(rng, d) if r() < P_PREF_INDUSTRIES else [],
            "job_levels": _pref_levels(d) if r() < P_PREF_LEVELS else [],
            "company_sizes": _pref_sizes(rng, d) if r() < P_PREF_SIZES else [],
            "interests": (
                _sample(rng, _THEME_POOL[d.themes], _between(rng, 2, 4))
                if r() < P_PREF_INTERESTS
                else []
            ),
            "networking_goals": _pref_goals(d) if d.goals and r() < P_PREF_GOALS else [],
            "languages": _pref_languages(rng, d) if r() < P_PREF_LANGUAGES else [],
            "exclude_colleagues": r() < P_EXCLUDE_COLLEAGUES,
            "exclude_competitors": r() < P_EXCLUDE_COMPETITORS,
            "show_me": [],  # a networking population: everyone may be shown
            "algorithm_weights": _weights(rng) if r() < P_WEIGHTS else None,
        },
    )


# -- assembling people ------------------------------------------------------------------------


def _timestamps(rng: random.Random, now: datetime) -> tuple[datetime, datetime]:
    """Sign-ups skewed to recent; most people were active in the last days, some drifted off."""
    account_s = int(MAX_ACCOUNT_DAYS * 86_400 * rng.random() ** 1.5)
    if rng.random() < 0.7:
        idle_s = min(account_s, int(rng.expovariate(1 / (4 * 86_400))))
    else:
        idle_s = int(account_s * rng.random())
    return now - timedelta(seconds=account_s), now - timedelta(seconds=idle_s)


def _photo_url(person_id: uuid.UUID) -> str | None:
    """A placeholder photo address for P_PHOTO of the people (has_photo varies)."""
    if (person_id.int >> 64) % 1000 >= P_PHOTO * 1000:
        return None
    return f"https://photos.example.com/{person_id}.jpg"


def _profile(rng: random.Random, d: _Draft, photo_url: str | None) -> ProfileIn:
    gender = _GENDERS.pick(rng)
    lat, lon = (None, None) if rng.random() < P_NO_LOCATION else _location(rng, d.city)
    return _construct(
        ProfileIn,
        {
            "name": _name(rng, gender),
            "headline": None if rng.random() < P_NO_HEADLINE else _headline(d),
            "bio": None if rng.random() < P_NO_BIO else _bio(rng, d),
            "industry": d.plan.industry.name,
            "job_title": d.title,
            "job_level": d.level,
            "company": d.company.name if d.company else None,
            "company_size": d.company.size if d.company else None,
            "skills": d.skills,
            "interests": d.interests,
            "networking_goals": d.goals,
            "languages": d.languages,
            "latitude": lat,
            "longitude": lon,
            "age": None if rng.random() < P_NO_AGE else d.age,
            "gender": gender,
            "photo_url": photo_url,
            "preferences": _preferences(rng, d),
        },
    )


def _person(rng: random.Random, now: datetime) -> SeedPerson:
    person_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    draft = _draft(rng)
    profile = _profile(rng, draft, _photo_url(person_id))
    created_at, last_active_at = _timestamps(rng, now)
    return SeedPerson(person_id, profile, created_at, last_active_at)


def _stream(n: int, rng: random.Random, now: datetime) -> Iterator[SeedPerson]:
    for _ in range(n):
        yield _person(rng, now)


def generate_population(
    n: int, *, seed: int = 42, now: datetime | None = None
) -> Iterator[SeedPerson]:
    """Stream n people, deterministic in (n's prefix, seed, now).

    `now` (tz-aware; default DEFAULT_NOW so runs are reproducible) anchors sign-up and
    last-active times; pass the real time when seeding a live system."""
    if n < 0:
        raise ValueError("n must not be negative")
    if now is None:
        now = DEFAULT_NOW
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return _stream(n, random.Random(seed), now.astimezone(UTC))
