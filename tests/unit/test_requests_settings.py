"""RequestsSettings: the issue's names, defaults and the errors that name the variable."""

from __future__ import annotations

import pytest

from matching.core.settings import Settings, SettingsError


def test_defaults_are_the_issues() -> None:
    r = Settings.from_env({}).requests
    assert r.weights == {
        "skill_match": 0.3,
        "experience": 0.25,
        "rating": 0.2,
        "availability": 0.15,
        "price": 0.1,
    }
    assert (r.min_match_score, r.max_matches, r.result_ttl_s) == (0.6, 10, 3600)
    assert (r.requests_topic, r.replies_topic, r.errors_topic) == (
        "matching-requests",
        "matching-responses",
        "matching-errors",
    )
    assert r.rates == {"USD": 1.0, "EUR": 1.08, "GBP": 1.27}


def test_weights_and_rates_are_read_from_their_names() -> None:
    env = {
        "SKILL_MATCH_WEIGHT": "0.5",
        "PRICE_WEIGHT": "0.0",
        "EXPERIENCE_WEIGHT": "0.15",
        "MATCHING_CURRENCY_RATES": "usd=1, chf=1.1",
    }
    r = Settings.from_env(env).requests
    assert r.weights["skill_match"] == 0.5 and r.rates == {"USD": 1.0, "CHF": 1.1}
    assert Settings.from_env(env).to_env()["SKILL_MATCH_WEIGHT"] == "0.5"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SKILL_MATCH_WEIGHT": "0.9"}, "must sum to 1"),
        ({"MIN_MATCH_SCORE": "1.5"}, "MIN_MATCH_SCORE"),
        ({"MATCHING_CURRENCY_RATES": "USD=1,EURO=2"}, "MATCHING_CURRENCY_RATES"),
        ({"MATCHING_CURRENCY_RATES": "USD=-1"}, "positive"),
        ({"MAX_MATCHES_PER_REQUESTS": "5"}, "did you mean MAX_MATCHES_PER_REQUEST"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)
