"""The queue definition: validation of criteria, keys, relaxation and items."""

from __future__ import annotations

import json

import pytest

from matching.core.settings import Settings, SettingsError
from matching.queue.definition import QueueDefinition


def _definition(**env: str) -> QueueDefinition:
    return QueueDefinition.from_settings(Settings.from_env(env).queue)


def test_default_definition_checks_every_field_and_names_it() -> None:
    d = _definition()
    assert d.problem({"difficulty": "easy", "topic": "arrays"}) is None
    assert d.problem({"difficulty": "easy"}) == ("criteria.topic", "criteria.topic: required")
    field, message = d.problem({"difficulty": "brutal", "topic": "arrays"}) or ("", "")
    assert field == "criteria.difficulty" and "easy, medium, hard" in message
    assert d.problem({"difficulty": "easy", "topic": "arrays", "x": "1"})[0] == "criteria.x"  # type: ignore[index]
    assert d.key({"topic": "sql", "difficulty": "hard"}) == "hard|sql"
    assert d.criteria("hard|sql") == {"difficulty": "hard", "topic": "sql"}
    assert len(d.all_keys()) == 3 * 8


def test_relaxation_waits_and_only_as_each_field_allows() -> None:
    d = _definition()
    after = d.relax_after(10.0)
    assert after == {"difficulty": 10.0, "topic": 20.0}
    assert d.relaxation("easy|sql", "easy|sql", 0, after) == {}
    assert d.relaxation("easy|sql", "medium|sql", 9, after) is None
    assert d.relaxation("easy|sql", "medium|sql", 10, after) == {"difficulty": "adjacent"}
    assert d.relaxation("easy|sql", "hard|sql", 100, after) is None  # not adjacent
    assert d.relaxation("easy|sql", "easy|trees", 15, after) is None
    assert d.relaxation("easy|sql", "medium|trees", 20, after) == {
        "difficulty": "adjacent",
        "topic": "any",
    }


def test_a_platform_defines_its_own_queue_and_items() -> None:
    custom = {
        "fields": [{"name": "game", "values": ["chess", "go"]}],
        "items": [{"id": "opening-1", "criteria": {"game": "chess"}}, {"id": "any-1"}],
    }
    d = _definition(MATCHING_QUEUE_DEFINITION=json.dumps(custom))
    assert d.all_keys() == ["chess", "go"] and d.relax_after(5) == {}
    assert d.relaxation("chess", "go", 1e9, {}) is None
    assert {d.item_for({"game": "chess"}, i) for i in range(4)} == {"opening-1", "any-1"}
    assert d.item_for({"game": "go"}, 7) == "any-1"


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        '{"fields": 3}',
        '{"fields": []}',
        '{"fields": [{"name": "a", "values": ["x", "x"]}]}',
        '{"fields": [{"name": "a", "values": ["x|y"]}]}',
        '{"fields": [{"name": "a", "values": ["x"], "relax": "sideways"}]}',
    ],
)
def test_a_bad_definition_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="MATCHING_QUEUE_DEFINITION"):
        _definition(MATCHING_QUEUE_DEFINITION=value)


def test_queue_settings_are_read_by_their_names() -> None:
    queue = Settings.from_env(
        {"MATCHING_TIMEOUT_SECONDS": "30", "CONFIRM_MATCH_TIMEOUT_SECONDS": "45"}
    ).queue
    assert (queue.matching_timeout_s, queue.confirm_timeout_s) == (30, 45)
    with pytest.raises(SettingsError, match="CONFIRM_MATCH_TIMEOUT_SECOND"):
        Settings.from_env({"CONFIRM_MATCH_TIMEOUT_SECOND": "45"})
