"""The handler's settings, read once per container from its environment variables."""

from __future__ import annotations

import os
from typing import Literal, NamedTuple

CallLeg = Literal["Caller", "Callee"]
CALL_LEGS: tuple[CallLeg, ...] = ("Caller", "Callee")


class Settings(NamedTuple):
    voice_profile_domain_id: str | None
    call_leg: CallLeg | None  # None when CALL_LEG is invalid
    start_error: str | None  # why AnalyticsReady cannot be handled with this configuration
    voice_connector_ids: frozenset[str]
    event_bus_name: str
    search_id: str | None
    # Consent, enrollment and durable state (issues 9 and 10); defaults keep the old behaviour.
    state_table_name: str | None = None  # None: no durable state (starts still work, no consent gate)
    dead_letter_queue_url: str | None = None  # None: permanent failures are redelivered like others
    require_consent: bool = False
    enable_enrollment: bool = False
    request_source: str = "chime-speaker-search.requests"
    voice_tone_analysis: bool = False  # VOICE_TONE_ANALYSIS=true: AnalyticsReady also starts voice tone
    # The entry perimeter (perimeter.py): set, only records of this queue are processed.
    notification_queue_arn: str | None = None
    notification_queue_url: str | None = None
    #: The queue's visibility timeout in whole seconds; None when unset or not a whole number >= 0.
    notification_visibility_timeout_s: int | None = None

    @classmethod
    def from_env(cls) -> Settings:
        domain = os.environ.get("VOICE_PROFILE_DOMAIN_ID", "").strip() or None
        raw_leg = os.environ.get("CALL_LEG", "")
        call_leg = next((leg for leg in CALL_LEGS if leg == raw_leg), None)
        errors = []
        if call_leg is None:
            errors.append(f"CALL_LEG={raw_leg[:64]!r} is invalid; allowed values: {', '.join(CALL_LEGS)}")
        if domain is None:
            errors.append("VOICE_PROFILE_DOMAIN_ID is not set")
        ids = frozenset(i.strip() for i in os.environ.get("VOICE_CONNECTOR_IDS", "").split(",") if i.strip())
        return cls(
            voice_profile_domain_id=domain,
            call_leg=call_leg,
            start_error="; ".join(errors) or None,
            voice_connector_ids=ids,
            event_bus_name=os.environ.get("EVENT_BUS_NAME", "").strip() or "default",
            search_id=os.environ.get("SEARCH_ID") or None,
            state_table_name=os.environ.get("STATE_TABLE_NAME", "").strip() or None,
            dead_letter_queue_url=os.environ.get("DEAD_LETTER_QUEUE_URL", "").strip() or None,
            require_consent=_flag("REQUIRE_CONSENT"),
            enable_enrollment=_flag("ENABLE_ENROLLMENT"),
            request_source=os.environ.get("REQUEST_SOURCE", "").strip() or "chime-speaker-search.requests",
            voice_tone_analysis=_flag("VOICE_TONE_ANALYSIS"),
            notification_queue_arn=os.environ.get("NOTIFICATION_QUEUE_ARN", "").strip() or None,
            notification_queue_url=os.environ.get("NOTIFICATION_QUEUE_URL", "").strip() or None,
            notification_visibility_timeout_s=_seconds("NOTIFICATION_VISIBILITY_TIMEOUT_S"),
        )

    def serves(self, voice_connector_id: str) -> bool:
        return not self.voice_connector_ids or voice_connector_id in self.voice_connector_ids


def _flag(name: str) -> bool:
    """Only an explicit "true" turns a feature on: a typo must not silently open a consent gate."""
    return os.environ.get(name, "").strip().lower() == "true"


def _seconds(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else None


_settings: Settings | None = None


def get() -> Settings:
    """The settings of this container (read on first use)."""
    global _settings  # noqa: PLW0603
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def reset() -> None:
    """Forget the cached settings so the next :func:`get` rereads the environment."""
    global _settings  # noqa: PLW0603
    _settings = None
