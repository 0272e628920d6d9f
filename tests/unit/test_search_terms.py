"""Reading a prompt's structured part into SearchTerms, its chips' round trip, the named-term
rule, and the platform's preference vocabulary (company-size words, show_me)."""

from __future__ import annotations

from typing import Any

import pytest
from factories import make_person
from pydantic import ValidationError

from matching.core.domain import vocabulary
from matching.core.domain.person import PreferenceView
from matching.core.domain.profile import (
    COMPANY_SIZE_BANDS,
    COMPANY_SIZES,
    JOB_LEVELS,
    PLATFORM_JOB_LEVELS,
    Preferences,
    company_size_bands,
)
from matching.core.domain.prompt_reader import read_ages, read_terms
from matching.core.domain.search_terms import SearchTerms, named_hits, singular, stem

pytestmark = pytest.mark.unit


def _read(prompt: str) -> dict[str, Any]:
    return read_terms(prompt).model_dump(exclude_defaults=True)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # the prompt: "founders" are whom they mentor, not who they are
        (
            "women who love hiking and mentor founders near me",
            {"genders": ["female"], "interests": ["hiking"], "networking_goals": ["mentorship"]},
        ),
        ("men into chess", {"genders": ["male"], "interests": ["chess"]}),
        ("non-binary climbers", {"genders": ["non_binary"], "interests": ["climbing"]}),
        ("Ladies who do YOGA", {"genders": ["female"], "interests": ["yoga"]}),
        # skills read as interests (matched against interests and skills)
        ("people who know python and sql", {"interests": ["python", "sql"]}),
        ("machine learning folks", {"interests": ["machine learning"]}),  # not "learning"
        ("trail running", {"interests": ["trail running"]}),  # not "running"
        ("hikers who like to hike", {"interests": ["hiking"]}),  # one stem, read once
        ("podcasts lovers", {"interests": ["podcasts"]}),  # as written, not "podcasting"
        ("podcasting experts", {"interests": ["podcasting"]}),
        ("people hiring", {"networking_goals": ["hiring"]}),
        ("people hiring senior backend engineers", {"networking_goals": ["hiring"]}),
        ("people hiring backend engineers", {"networking_goals": ["hiring"]}),
        (
            "people who mentor founders and women who hike",
            {"networking_goals": ["mentorship"], "genders": ["female"], "interests": ["hiking"]},
        ),
        ("anyone looking for a cofounder", {"networking_goals": ["find a cofounder"]}),
        (
            "juniors looking for a mentor",
            {"job_levels": ["entry"], "networking_goals": ["find a mentor"]},
        ),
        ("people open to partnerships", {"networking_goals": ["partnerships"]}),
        ("fintech founders", {"industries": ["fintech"], "job_levels": ["founder"]}),
        ("people in real estate", {"industries": ["real estate"]}),
        (
            "senior engineers",
            {"job_levels": ["senior"], "roles": ["engineer"]},
        ),
        ("product managers", {"roles": ["product manager"]}),  # not the level "manager"
        ("VPs and directors", {"job_levels": ["vp", "director"]}),
        ("c-level executives", {"job_levels": ["executive"]}),
        ("spanish speakers", {"languages": ["spanish"]}),
        ("people who speak German and French", {"languages": ["german", "french"]}),
        ("designers in their 30s", {"roles": ["designer"], "age_min": 30, "age_max": 39}),
    ],
)
def test_every_kind_of_attribute_is_read(prompt: str, expected: dict[str, Any]) -> None:
    assert _read(prompt) == expected


@pytest.mark.parametrize(
    "prompt",
    [
        "someone nice to talk to",
        "manhattan menus and womenswear",  # words containing "man", "men", "women"
        "people who go places",  # "go" the skill is too ambiguous to read
        "designing things",  # "design" the industry is named as a word, not a stem
        "",
    ],
)
def test_prompts_that_name_nothing_read_as_nothing(prompt: str) -> None:
    assert _read(prompt) == {}


def test_a_prompt_naming_more_terms_than_a_request_may_send_keeps_the_first() -> None:
    skills = sorted(t for t in vocabulary.SKILLS if t.isalpha() and t not in vocabulary.INTERESTS)
    prompt = " ".join(skills[:70])[:500]
    terms = read_terms(prompt)
    assert len(terms.interests) == 50
    assert SearchTerms.model_validate(terms.model_dump()) == terms


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("not founders, but designers", {"roles": ["designer"]}),
        ("no men please", {}),
        ("yoga without smokers", {"interests": ["yoga"]}),
    ],
)
def test_negated_terms_are_not_read(prompt: str, expected: dict[str, Any]) -> None:
    assert _read(prompt) == expected


@pytest.mark.parametrize(
    ("text", "ages"),
    [
        ("in their 30s", (30, 39)),
        ("people in their twenties", (20, 29)),
        ("early 40s", (40, 43)),
        ("late 20s", (27, 29)),
        ("aged 25-35", (25, 35)),
        ("ages 40 to 30", (30, 40)),
        ("between 28 and 33", (28, 33)),
        ("under 30", (None, 29)),
        ("younger than 25", (None, 24)),
        ("over 50", (51, None)),
        ("40+", (40, None)),
        ("over 30 and under 40", (31, 39)),
        ("over 60 and under 30", (None, None)),  # contradictory: nothing
        ("under 10", (None, 16)),  # clamped to the youngest allowed
        ("within 30 km", (None, None)),
        ("under 30 km", (None, None)),  # a distance, not an age
        ("hiking", (None, None)),
    ],
)
def test_ages(text: str, ages: tuple[int | None, int | None]) -> None:
    assert read_ages(text) == ages


def test_chips_round_trip_through_the_request_schema() -> None:
    terms = read_terms("women in fintech who love hiking, senior engineers in their 30s")
    chips = terms.chips()
    assert {"field": "genders", "value": "female"} in chips
    assert {"field": "age", "value": "30-39"} in chips
    # the client sends the terms back with one chip removed; they validate as sent
    sent = terms.model_dump(mode="json")
    sent["interests"] = []
    back = SearchTerms.model_validate(sent)
    assert back.interests == [] and back.genders == ["female"]
    assert back.industries == ["fintech"] and back.job_levels == ["senior"]
    assert {"field": "interests", "value": "hiking"} not in back.chips()
    assert SearchTerms.model_validate(terms.model_dump(mode="json")) == terms


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"genders": ["woman"]}, ("genders", 0)),
        ({"job_levels": ["boss"]}, ("job_levels", 0)),
        ({"age_min": 40, "age_max": 30}, ("age_max",)),
        ({"age_min": 3}, ("age_min",)),
        ({"colour": "blue"}, ("colour",)),
    ],
)
def test_terms_sent_back_are_validated_by_field(body: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as err:
        SearchTerms.model_validate(body)
    assert err.value.errors()[0]["loc"] == loc


def test_named_hits_count_whole_groups() -> None:
    terms = SearchTerms(
        interests=["hiking"], networking_goals=["mentorship"], roles=["data engineer"]
    )
    groups = terms.groups()
    people = [
        make_person(
            interests=["hiking"], networking_goals=["mentorship"], job_title="Data Engineer"
        ),
        make_person(interests=[], skills=["hiking"], networking_goals=[], job_title="Engineer"),
        make_person(interests=[], networking_goals=[], job_title="Senior Data Engineers"),
        make_person(interests=[], networking_goals=[], job_title=None),
    ]
    assert named_hits(groups, people).tolist() == [3.0, 1.0, 1.0, 0.0]
    assert named_hits((), people).tolist() == [0.0] * 4


def test_stem() -> None:
    assert {stem(w) for w in ("hike", "hikes", "hiking", "hikers")} == {"hik"}
    assert singular("engineers") == singular("engineer") == "engineer"
    assert singular("designing") == "designing" and singular("boss") == "boss"
    assert stem("men") == "men" and stem("go") == "go"


# -- the vocabulary -----------------------------------------------------------------------------


def test_vocabulary_comes_from_the_demo_tables_and_reads_back() -> None:
    assert {"hiking", "yoga", "chess"} <= vocabulary.INTERESTS
    assert {"python", "leadership"} <= vocabulary.SKILLS
    assert {"software", "fintech", "real estate"} <= vocabulary.INDUSTRIES
    assert {"english", "spanish", "german"} <= vocabulary.LANGUAGES
    assert "mentorship" in vocabulary.GOALS and "engineer" in vocabulary.ROLES
    assert set(vocabulary.LEVEL_WORDS.values()) == set(JOB_LEVELS)
    # every single-word interest is read back from a prompt naming it, but for the ambiguous
    # ones and "mentoring", read as the goal it names
    unread = {t for t in vocabulary.INTERESTS if " " not in t and not read_terms(t).interests}
    assert unread == {"film", "history", "languages", "books", "mentoring"}
    assert read_terms("mentoring").networking_goals == ["mentorship"]


def test_company_size_words_are_a_partition_of_the_bands() -> None:
    bands = [b for word in COMPANY_SIZE_BANDS.values() for b in word]
    assert sorted(bands) == sorted(COMPANY_SIZES)
    assert company_size_bands("medium") == ("51-200",)
    assert company_size_bands("large") == ("201-1000", "1001-5000")
    assert company_size_bands("11-50") == ("11-50",)


def test_preferences_accept_the_platforms_vocabulary() -> None:
    prefs = Preferences(
        company_sizes=["medium", "startup", "1-10", "large"], job_levels=list(PLATFORM_JOB_LEVELS)
    )
    assert prefs.company_sizes == ["51-200", "1-10", "201-1000", "1001-5000"]
    assert prefs.job_levels == ["entry", "mid", "senior", "executive", "founder"]
    with pytest.raises(ValidationError) as err:
        Preferences(company_sizes=["huge"])
    assert err.value.errors()[0]["loc"] == ("company_sizes", 0)


def test_show_me_is_validated_deduplicated_and_viewed() -> None:
    prefs = Preferences(show_me=["female", "non_binary", "female"])
    assert prefs.show_me == ["female", "non_binary"]
    assert PreferenceView.from_preferences(prefs).show_me == frozenset({"female", "non_binary"})
    assert Preferences().show_me == []
    with pytest.raises(ValidationError) as err:
        Preferences(show_me=["women"])
    assert err.value.errors()[0]["loc"] == ("show_me", 0)
