"""The search vocabulary: what a prompt can name, from the profile enumerations and the demo
population's tables. The prompt parser, the seeder's tables and bench/search_quality.py
all read it from here."""

from __future__ import annotations

from types import MappingProxyType

from matching.core.domain.profile import JobLevel
from matching.core.domain.vocabulary_tables import (
    CITIES,
    INDUSTRY_TABLE,
    INTEREST_THEMES,
    NETWORKING_GOALS,
    SENIOR_SKILLS,
    WORLD_LANGUAGES,
)

INTERESTS: frozenset[str] = frozenset(t for tags in INTEREST_THEMES.values() for t in tags)
SKILLS: frozenset[str] = frozenset(
    {s for i in INDUSTRY_TABLE for r in i.roles for s in r.skills}
    | {s for i in INDUSTRY_TABLE for s in i.shared_skills}
    | set(SENIOR_SKILLS)
)
INDUSTRIES: frozenset[str] = frozenset(i.name for i in INDUSTRY_TABLE)
GOALS: frozenset[str] = frozenset(NETWORKING_GOALS)
LANGUAGES: frozenset[str] = frozenset(
    {"english", *WORLD_LANGUAGES, *(lang for c in CITIES for lang in c.languages)}
)
# Role families by their mid-level title ("software engineer") and its head noun ("engineer").
ROLES: frozenset[str] = frozenset(
    {r.title.lower() for i in INDUSTRY_TABLE for r in i.roles}
    | {r.title.lower().split()[-1] for i in INDUSTRY_TABLE for r in i.roles}
)

# Words for the enumerations, as people write them (plural forms are stemmed by the parser).
GENDER_WORDS: MappingProxyType[str, str] = MappingProxyType(
    {
        "women": "female", "woman": "female", "female": "female", "females": "female",
        "ladies": "female", "lady": "female", "girls": "female",
        "men": "male", "man": "male", "male": "male", "males": "male", "guys": "male",
        "gentlemen": "male",
        "non binary": "non_binary", "nonbinary": "non_binary", "enby": "non_binary",
        "enbies": "non_binary",
    }
)  # fmt: skip
LEVEL_WORDS: MappingProxyType[str, JobLevel] = MappingProxyType(
    {
        "intern": "intern", "interns": "intern", "internship": "intern",
        "entry level": "entry", "junior": "entry", "juniors": "entry", "graduate": "entry",
        "graduates": "entry",
        "mid level": "mid", "mid career": "mid",
        "senior": "senior", "seniors": "senior",
        "lead": "lead", "leads": "lead",
        "manager": "manager", "managers": "manager",
        "director": "director", "directors": "director",
        "vp": "vp", "vps": "vp", "vice president": "vp", "vice presidents": "vp",
        "executive": "executive", "executives": "executive", "exec": "executive",
        "execs": "executive", "c level": "executive", "ceo": "executive", "ceos": "executive",
        "founder": "founder", "founders": "founder", "co founder": "founder",
        "co founders": "founder", "cofounder": "founder", "cofounders": "founder",
    }
)  # fmt: skip
# Verbs whose object is who a person helps, not who they are ("mentor founders"), and the
# goal each names.
GOAL_VERBS: MappingProxyType[str, str] = MappingProxyType(
    {
        "mentor": "mentorship", "mentors": "mentorship", "mentoring": "mentorship",
        "mentorship": "mentorship",
        "hire": "hiring", "hires": "hiring", "hiring": "hiring",
        "invest in": "investing", "invests in": "investing", "investing in": "investing",
        "investor": "investing", "investors": "investing",
    }
)  # fmt: skip
# Goals named as what someone is after, read before the level words they contain.
GOAL_PHRASES: MappingProxyType[str, str] = MappingProxyType(
    {
        "a cofounder": "find a cofounder", "a co founder": "find a cofounder",
        "cofounder search": "find a cofounder", "a mentor": "find a mentor",
        "job hunting": "job seeking", "looking for a job": "job seeking",
        "raising": "fundraising", "raising money": "fundraising",
    }
)  # fmt: skip
