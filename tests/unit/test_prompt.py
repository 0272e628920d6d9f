"""What a search prompt says besides its meaning: a radius, and which terms it names."""

from __future__ import annotations

import pytest

from matching.core.domain.prompt import (
    MAX_RADIUS_KM,
    NEAR_ME_KM,
    PromptHints,
    mentioned,
    normalise,
    parse_prompt,
)


@pytest.mark.parametrize(
    ("prompt", "radius_km"),
    [
        ("hikers near me", NEAR_ME_KM),
        ("NEAR ME", NEAR_ME_KM),
        ("nearby founders", NEAR_ME_KM),
        ("designers close to me please", NEAR_ME_KM),
        ("anyone around me?", NEAR_ME_KM),
        ("people in my area", NEAR_ME_KM),
        ("someone near by", NEAR_ME_KM),
        ("within 10 miles", 16.09344),
        ("within 10 mi", 16.09344),
        ("within 1 mile", 1.609344),
        ("Within 5KM of Berlin", 5.0),
        ("within 2.5 km", 2.5),
        ("within 3 kilometres", 3.0),
        ("within 7 kilometers and near me", 7.0),  # an explicit radius wins
        ("within 0 km", 0.1),  # never below 100 m
    ],
)
def test_radius(prompt: str, radius_km: float) -> None:
    hints = parse_prompt(prompt)
    assert hints.radius_km == pytest.approx(radius_km)
    assert hints.near_me is True


@pytest.mark.parametrize(
    "prompt",
    [
        "within 99999999999999999999 miles",
        "within 20001 km",
        "within " + "9" * 400 + " km",  # float() of this is inf
        "within 12500 miles",
    ],
)
def test_absurd_radii_are_clamped_to_the_maximum(prompt: str) -> None:
    assert parse_prompt(prompt) == PromptHints(radius_km=MAX_RADIUS_KM, near_me=True)
    assert MAX_RADIUS_KM == 20_000.0


def test_a_number_that_is_not_plain_digits_is_no_radius() -> None:
    assert parse_prompt("within 1e400 km") == PromptHints(radius_km=None, near_me=False)


def test_near_me_is_fifty_km() -> None:
    assert NEAR_ME_KM == 50.0
    assert parse_prompt("within 10 miles").radius_km == pytest.approx(16.09, abs=0.005)


@pytest.mark.parametrize(
    "prompt",
    [
        "machine learning engineers",
        "near mexico",  # "near" alone is a place, not a radius
        "within ten miles",  # only digits
        "engineers within 20 minutes",  # not a distance unit
        "within 10 milestones",
        "",
    ],
)
def test_no_radius(prompt: str) -> None:
    assert parse_prompt(prompt) == PromptHints(radius_km=None, near_me=False)


def test_normalise_keeps_words_digits_plus_and_hash() -> None:
    text = "Looking for Hikers & C++/C# devs in FinTech; machine-learning folks 2025!"
    assert (
        normalise(text) == " looking for hikers c++ c# devs in fintech machine learning folks 2025 "
    )
    assert normalise("") == "  "


def test_mentioned_finds_whole_words_and_stems() -> None:
    prompt = normalise("Looking for Hikers & C++ devs in FinTech; machine-learning folks")
    terms = frozenset({"hiking", "c++", "fintech", "machine learning", "Machine-Learning", "golf"})
    assert mentioned(terms, prompt) == {
        "hiking",  # hikers ~ hiking
        "c++",
        "fintech",
        "machine learning",
        "Machine-Learning",  # the original term is returned, matched on its normal form
    }


@pytest.mark.parametrize(
    ("term", "prompt", "found"),
    [
        ("running", "a runner", True),
        ("designer", "designing things", True),
        ("ai", "AI folks", True),
        ("ai", "said the painter", False),  # whole words only
        ("art", "startups", False),
        ("go", "going out", False),  # stems keep at least three letters
        ("chess", "chess club", True),
        ("", "anything", False),
        ("!!!", "!!!", False),  # nothing left after normalising
        ("photography", "photos", False),
    ],
)
def test_mentioned_cases(term: str, prompt: str, found: bool) -> None:
    result = mentioned(frozenset({term}), normalise(prompt))
    assert result == (frozenset({term}) if found else frozenset())
