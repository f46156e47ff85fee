"""How the handler reads its environment (settings.py, outcomes.apply_log_level), rule by rule.

Found by `make mutation`: each rule below could change without any other test noticing.
"""

from __future__ import annotations

import logging

import outcomes
import pytest
import settings
from settings import Settings

VARIABLES = (
    "VOICE_PROFILE_DOMAIN_ID",
    "CALL_LEG",
    "VOICE_CONNECTOR_IDS",
    "EVENT_BUS_NAME",
    "SEARCH_ID",
    "STATE_TABLE_NAME",
    "DEAD_LETTER_QUEUE_URL",
    "REQUIRE_CONSENT",
    "ENABLE_ENROLLMENT",
    "REQUEST_SOURCE",
    "LOG_LEVEL",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment with none of the handler's variables set."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    settings.reset()
    return monkeypatch


def test_nothing_set_means_no_start_possible_and_documented_defaults(env: pytest.MonkeyPatch) -> None:
    s = Settings.from_env()
    assert s.voice_profile_domain_id is None
    assert s.call_leg is None
    assert (
        s.start_error
        == "CALL_LEG='' is invalid; allowed values: Caller, Callee; VOICE_PROFILE_DOMAIN_ID is not set"
    )
    assert s.voice_connector_ids == frozenset()
    assert (s.event_bus_name, s.search_id) == ("default", None)
    assert (s.state_table_name, s.dead_letter_queue_url) == (None, None)
    assert (s.require_consent, s.enable_enrollment) == (False, False)
    assert s.request_source == "chime-speaker-search.requests"


def test_a_valid_configuration_has_no_start_error(env: pytest.MonkeyPatch) -> None:
    env.setenv("VOICE_PROFILE_DOMAIN_ID", "  vpd-1 ")
    env.setenv("CALL_LEG", "Callee")
    s = Settings.from_env()
    assert (s.voice_profile_domain_id, s.call_leg, s.start_error) == ("vpd-1", "Callee", None)


@pytest.mark.parametrize("leg", ["caller", " Caller", "Agent"])
def test_call_leg_must_match_exactly(env: pytest.MonkeyPatch, leg: str) -> None:
    env.setenv("VOICE_PROFILE_DOMAIN_ID", "vpd-1")
    env.setenv("CALL_LEG", leg)
    s = Settings.from_env()
    assert s.call_leg is None
    assert s.start_error == f"CALL_LEG={leg!r} is invalid; allowed values: Caller, Callee"


def test_an_invalid_call_leg_is_quoted_in_at_most_64_characters(env: pytest.MonkeyPatch) -> None:
    env.setenv("VOICE_PROFILE_DOMAIN_ID", "vpd-1")
    env.setenv("CALL_LEG", "x" * 100)
    assert (
        Settings.from_env().start_error == f"CALL_LEG={'x' * 64!r} is invalid; allowed values: Caller, Callee"
    )


def test_a_blank_domain_is_not_set(env: pytest.MonkeyPatch) -> None:
    env.setenv("VOICE_PROFILE_DOMAIN_ID", "   ")
    env.setenv("CALL_LEG", "Caller")
    s = Settings.from_env()
    assert (s.voice_profile_domain_id, s.start_error) == (None, "VOICE_PROFILE_DOMAIN_ID is not set")


def test_connector_list_is_trimmed_and_empty_entries_ignored(env: pytest.MonkeyPatch) -> None:
    env.setenv("VOICE_CONNECTOR_IDS", " vc-a, ,vc-b ,,")
    s = Settings.from_env()
    assert s.voice_connector_ids == frozenset({"vc-a", "vc-b"})
    assert s.serves("vc-a")
    assert not s.serves("vc-c")
    assert not s.serves(" vc-a")
    env.setenv("VOICE_CONNECTOR_IDS", " , ")
    assert Settings.from_env().serves("anything")


@pytest.mark.parametrize(
    ("variable", "attribute"),
    [("STATE_TABLE_NAME", "state_table_name"), ("DEAD_LETTER_QUEUE_URL", "dead_letter_queue_url")],
)
def test_optional_names_are_trimmed_and_blank_means_unset(
    env: pytest.MonkeyPatch, variable: str, attribute: str
) -> None:
    env.setenv(variable, "   ")
    assert getattr(Settings.from_env(), attribute) is None
    env.setenv(variable, " value-1 ")
    assert getattr(Settings.from_env(), attribute) == "value-1"


def test_search_id_and_request_source(env: pytest.MonkeyPatch) -> None:
    env.setenv("SEARCH_ID", "")
    env.setenv("REQUEST_SOURCE", "  ")
    s = Settings.from_env()
    assert (s.search_id, s.request_source) == (None, "chime-speaker-search.requests")
    env.setenv("SEARCH_ID", "search-9")
    env.setenv("REQUEST_SOURCE", " my.requests ")
    s = Settings.from_env()
    assert (s.search_id, s.request_source) == ("search-9", "my.requests")


@pytest.mark.parametrize(
    ("value", "on"),
    [
        ("true", True),
        (" TRUE ", True),
        ("True", True),
        ("yes", False),
        ("1", False),
        ("", False),
        ("truee", False),
    ],
)
@pytest.mark.parametrize(
    ("variable", "attribute"),
    [("REQUIRE_CONSENT", "require_consent"), ("ENABLE_ENROLLMENT", "enable_enrollment")],
)
def test_only_an_explicit_true_turns_a_feature_on(
    env: pytest.MonkeyPatch, variable: str, attribute: str, value: str, on: bool
) -> None:
    env.setenv(variable, value)
    assert getattr(Settings.from_env(), attribute) is on


def test_settings_are_read_once_until_reset(env: pytest.MonkeyPatch) -> None:
    env.setenv("SEARCH_ID", "first")
    first = settings.get()
    env.setenv("SEARCH_ID", "second")
    assert settings.get() is first
    settings.reset()
    assert settings.get().search_id == "second"


@pytest.mark.parametrize(
    ("value", "level"),
    [(None, logging.INFO), ("debug", logging.DEBUG), ("ERROR", logging.ERROR), ("verbose", logging.INFO)],
)
def test_log_level_defaults_to_info_accepts_any_case_and_ignores_unknown_names(
    env: pytest.MonkeyPatch, value: str | None, level: int
) -> None:
    if value is not None:
        env.setenv("LOG_LEVEL", value)
    before = outcomes.logger.level
    outcomes.logger.setLevel(logging.CRITICAL)
    try:
        outcomes.apply_log_level()
        assert outcomes.logger.level == level
    finally:
        outcomes.logger.setLevel(before)
