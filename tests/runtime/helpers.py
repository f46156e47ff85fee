"""Helpers for the runtime tests (importable, unlike conftest fixtures)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
import settings
from botocore.stub import Stubber


def reconfigure(mod: ModuleType, monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """Change handler environment variables and make the handler reread them (clients are kept)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.reset()


@dataclass
class Stubs:
    chime: Stubber
    events: Stubber
    put_events_calls: list[dict[str, Any]]

    def published_details(self) -> list[dict[str, Any]]:
        return [json.loads(e["Detail"]) for call in self.put_events_calls for e in call["Entries"]]


class FakeContext:
    """The part of the Lambda context the handler uses: a deadline that really counts down."""

    aws_request_id = "req-test"

    def __init__(self, remaining_ms: int) -> None:
        self._deadline = time.monotonic() + remaining_ms / 1000.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def logged(caplog: pytest.LogCaptureFixture, message: str, **match: Any) -> list[logging.LogRecord]:
    """Records with this message whose extra fields equal ``match``."""
    return [
        r
        for r in caplog.records
        if r.getMessage() == message and all(getattr(r, k, None) == v for k, v in match.items())
    ]
