"""The handler's settings, read once per container from its environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

CallLeg = Literal["Caller", "Callee"]
CALL_LEGS: tuple[CallLeg, ...] = ("Caller", "Callee")


@dataclass(frozen=True)
class Settings:
    voice_profile_domain_id: str | None
    call_leg: CallLeg | None  # None when CALL_LEG is invalid
    start_error: str | None  # why AnalyticsReady cannot be handled with this configuration
    voice_connector_ids: frozenset[str]
    event_bus_name: str
    search_id: str | None
    voice_tone_analysis: bool = False  # VOICE_TONE_ANALYSIS=true: AnalyticsReady also starts voice tone

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
            voice_tone_analysis=os.environ.get("VOICE_TONE_ANALYSIS", "").strip().lower() == "true",
        )

    def serves(self, voice_connector_id: str) -> bool:
        return not self.voice_connector_ids or voice_connector_id in self.voice_connector_ids


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
