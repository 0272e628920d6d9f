"""Settings.from_env: defaults, typed values, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from matching.core.domain.profile import FACTORS
from matching.core.settings import Settings, SettingsError, known_env_names


def _error(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    return str(info.value)


def test_defaults_from_an_empty_mapping() -> None:
    s = Settings.from_env({})
    assert s.database.url is None
    assert s.redis.url is None
    assert s.kafka.bootstrap_servers is None
    assert s.kafka.matching_topic == "matching.events"
    assert s.model.model_path is None
    assert s.model.device == "auto"
    assert s.index.exact_max == 20_000
    assert s.index.artifacts_dir == Path("artifacts")
    assert s.matching.similarity_threshold == 0.0
    assert s.matching.candidate_pool == 200
    assert s.matching.weights == {
        "profile_similarity": 0.3,
        "interest_overlap": 0.25,
        "location_proximity": 0.2,
        "industry_alignment": 0.15,
        "activity_compatibility": 0.1,
    }
    assert list(s.matching.weights) == list(FACTORS)
    assert s.serving.log_level == "INFO"
    assert s.serving.cors_origin_list == []


def test_values_are_parsed_to_their_types(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@db/matching",
            "REDIS_URL": "rediss://cache:6380/0",
            "ML_MODEL_PATH": str(tmp_path),
            "MATCHING_EMBEDDER_DEVICE": "cpu",
            "MATCHING_INDEX_EXACT_MAX": "0",
            "MATCHING_HNSW_EF_SEARCH": "64",
            "MATCHING_ARTIFACTS_DIR": str(tmp_path / "art"),
            "SIMILARITY_THRESHOLD": "0.25",
            "MAX_MATCHES_PER_USER": "7",
            "ALGORITHM_WEIGHTS_PROFILE": "0.5",
            "ALGORITHM_WEIGHTS_INTERESTS": "0.05",
            "LOG_LEVEL": "debug",
            "CORS_ORIGINS": " https://a.example, ,https://b.example ",
            "PATH": "/usr/bin",  # not ours: ignored
        }
    )
    assert s.database.url == "postgresql://u@db/matching"
    assert s.redis.url == "rediss://cache:6380/0"
    assert s.model.model_path == str(tmp_path)
    assert s.model.device == "cpu"
    assert s.index.exact_max == 0
    assert s.index.hnsw_ef_search == 64
    assert s.index.artifacts_dir == tmp_path / "art"
    assert s.matching.similarity_threshold == 0.25
    assert s.matching.max_matches_per_user == 7
    assert s.matching.weights["profile_similarity"] == 0.5
    assert s.matching.weights["interest_overlap"] == 0.05
    assert s.serving.log_level == "DEBUG"
    assert s.serving.cors_origin_list == ["https://a.example", "https://b.example"]


def test_to_env_round_trips() -> None:
    s = Settings.from_env({"MATCHING_HNSW_M": "16", "SIMILARITY_THRESHOLD": "0.3"})
    env = s.to_env()
    assert env["MATCHING_HNSW_M"] == "16"
    assert "DATABASE_URL" not in env  # None is not written
    assert set(env) <= known_env_names()
    again = Settings.from_env(env)
    assert again.to_env() == env
    assert again.index.hnsw_m == 16


def test_extra_known_names_are_accepted() -> None:
    s = Settings.from_env({"MATCHING_HOME": "/x", "MATCHING_COMPOSITION": "single"})
    assert s.index.exact_max == 20_000


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("MATCHING_CANDIDATE_POL", "MATCHING_CANDIDATE_POOL"),
        ("ALGORITHM_WEIGHT_PROFILE", "ALGORITHM_WEIGHTS_PROFILE"),
        ("SIMILARITY_TRESHOLD", "SIMILARITY_THRESHOLD"),
        ("MAX_MATCHES_PER_USR", "MAX_MATCHES_PER_USER"),
    ],
)
def test_unknown_own_names_are_typos_with_a_suggestion(typo: str, suggestion: str) -> None:
    message = _error({typo: "1"})
    assert f"{typo}: unknown setting (did you mean {suggestion}?)" in message


def test_unknown_name_without_a_close_match_has_no_suggestion() -> None:
    message = _error({"MATCHING_ZZZZZZZZZZZZZZZZZZZZZZZZ": "1"})
    assert "MATCHING_ZZZZZZZZZZZZZZZZZZZZZZZZ: unknown setting" in message
    assert "did you mean" not in message


def test_names_of_other_services_are_ignored() -> None:
    s = Settings.from_env({"ALGORITHMS": "x", "MATCHES_MAX": "3", "KAFKA_UNKNOWN": "1"})
    assert s.matching.max_matches_per_user == 100


def test_shared_auth_prefixes_refuse_only_near_misses() -> None:
    """AUTH_* and INTERNAL_API_* are the platform's names too: only a near miss is a typo."""
    s = Settings.from_env({"AUTH_SERVICE_URL": "http://auth", "INTERNAL_API_BASE_URL": "x"})
    assert s.matching.max_matches_per_user == 100
    message = _error({"AUTH_ALGORITM": "HS256"})
    assert "AUTH_ALGORITM: unknown setting (did you mean AUTH_ALGORITHM?)" in message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SIMILARITY_THRESHOLD": "2"}, "SIMILARITY_THRESHOLD='2': Input should be less than"),
        ({"MATCHING_HNSW_M": "abc"}, "MATCHING_HNSW_M='abc': Input should be a valid integer"),
        ({"MATCHING_HNSW_M": "2"}, "MATCHING_HNSW_M='2': Input should be greater than or equal"),
        ({"MATCHING_CANDIDATE_POOL": "5"}, "MATCHING_CANDIDATE_POOL='5'"),
        ({"MATCHING_DEFAULT_DISTANCE_KM": "0"}, "MATCHING_DEFAULT_DISTANCE_KM='0'"),
        ({"MATCHING_DB_POOL_MAX": "0"}, "MATCHING_DB_POOL_MAX='0'"),
        ({"MATCHING_EMBEDDER_DEVICE": "tpu"}, "MATCHING_EMBEDDER_DEVICE='tpu'"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='loud'"),
        ({"KAFKA_MATCHING_TOPIC": ""}, "KAFKA_MATCHING_TOPIC=''"),
        ({"MATCHING_MAX_BODY_BYTES": "10"}, "MATCHING_MAX_BODY_BYTES='10'"),
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL='mysql://db/x': must start with postgres"),
        ({"REDIS_URL": "http://cache"}, "REDIS_URL='http://cache': must start with redis://"),
        ({"ML_MODEL_PATH": "/no/such/model"}, "ML_MODEL_PATH='/no/such/model': no model folder"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], expected: str) -> None:
    message = _error(env)
    assert message.startswith("invalid settings:\n  ")
    assert expected in message
    assert "Value error," not in message


def test_weights_must_sum_to_one() -> None:
    message = _error({"ALGORITHM_WEIGHTS_PROFILE": "0.9"})
    assert "ALGORITHM_WEIGHTS_* must sum to 1, they sum to 1.600" in message


def test_weights_that_sum_to_one_are_accepted() -> None:
    s = Settings.from_env(
        {
            "ALGORITHM_WEIGHTS_PROFILE": "0.2",
            "ALGORITHM_WEIGHTS_INTERESTS": "0.2",
            "ALGORITHM_WEIGHTS_LOCATION": "0.2",
            "ALGORITHM_WEIGHTS_INDUSTRY": "0.2",
            "ALGORITHM_WEIGHTS_ACTIVITY": "0.2",
        }
    )
    assert sum(s.matching.weights.values()) == pytest.approx(1.0)


def test_every_problem_is_reported_at_once() -> None:
    message = _error(
        {"MATCHING_FOO_BAR": "1", "REDIS_URL": "x", "MATCHING_HNSW_M": "2", "LOG_LEVEL": "no"}
    )
    lines = message.splitlines()[1:]
    assert len(lines) == 4
    assert any(line.strip().startswith("MATCHING_FOO_BAR: unknown setting") for line in lines)
    assert any(line.strip().startswith("REDIS_URL='x'") for line in lines)
    assert any(line.strip().startswith("MATCHING_HNSW_M='2'") for line in lines)
    assert any(line.strip().startswith("LOG_LEVEL='no'") for line in lines)


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


def test_from_env_without_a_mapping_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MATCHING_HNSW_M", "48")
    assert Settings.from_env().index.hnsw_m == 48
    monkeypatch.setenv("MATCHING_HNSW_MM", "48")
    with pytest.raises(SettingsError, match="MATCHING_HNSW_MM: unknown setting"):
        Settings.from_env()


def test_an_explicit_mapping_is_the_whole_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    monkeypatch.setenv("MATCHING_HNSW_M", "64")
    s = Settings.from_env({})
    assert s.serving.log_level == "INFO"
    assert s.index.hnsw_m == 32


def test_an_invalid_process_variable_does_not_fail_an_explicit_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "loud")
    assert Settings.from_env({}).serving.log_level == "INFO"
