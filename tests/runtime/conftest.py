"""Fixtures for the speaker-search runtime tests.

Every test gets an isolated AWS environment (fake credentials, us-east-1, no profile, no
endpoint overrides) and a freshly reset handler module whose backoff sleeps are recorded instead
of slept and whose jitter is seeded.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import aws_calls
import clients
import pytest
from botocore.stub import Stubber

from tests.runtime.fake_aws import FakeAws
from tests.runtime.helpers import Stubs
from tests.support import load_handler, use_offline_aws

HANDLER_ENV = {
    "VOICE_PROFILE_DOMAIN_ID": "vpd-0123456789",
    "CALL_LEG": "Caller",
    "VOICE_CONNECTOR_IDS": "vc-one, vc-two",
    "EVENT_BUS_NAME": "speaker-bus",
    "SEARCH_ID": "search-abc",
    "LOG_LEVEL": "DEBUG",
}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    use_offline_aws(monkeypatch, HANDLER_ENV)


@dataclass
class SleepRecorder:
    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, sleeps: SleepRecorder) -> Iterator[ModuleType]:
    """The handler module, reset to the test environment, with instant deterministic backoff."""
    mod = load_handler("speaker_search")
    monkeypatch.setattr(aws_calls, "_sleep", sleeps)
    monkeypatch.setattr(aws_calls, "_rng", random.Random(1234))
    mod.reset_for_tests()
    yield mod
    mod.reset_for_tests()


@pytest.fixture
def stubs(handler: ModuleType) -> Iterator[Stubs]:
    """botocore Stubbers on the handler's real clients (requests are validated against the models).

    Also captures every PutEvents request so tests can inspect the Detail JSON itself.
    """
    chime, events = clients.chime(), clients.events()
    captured: list[dict[str, Any]] = []
    events.meta.events.register(
        "before-parameter-build.events.PutEvents", lambda params, **_: captured.append(params)
    )
    with Stubber(chime) as chime_stub, Stubber(events) as events_stub:
        yield Stubs(chime_stub, events_stub, captured)
        chime_stub.assert_no_pending_responses()
        events_stub.assert_no_pending_responses()


@pytest.fixture
def fake_aws(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAws]:
    """A local fake AWS on 127.0.0.1 that the handler's real clients talk to over HTTP.

    Client timeouts are shortened so slow-response faults cost fractions of a second.
    """
    fake = FakeAws().start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CHIME_SDK_VOICE", fake.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", fake.url)
    monkeypatch.setattr(clients, "CONNECT_TIMEOUT_S", 0.5)
    monkeypatch.setattr(clients, "READ_TIMEOUT_S", 0.3)
    monkeypatch.setattr(clients, "SAFETY_MARGIN_S", 0.2)
    handler.reset_for_tests()
    try:
        yield fake
    finally:
        fake.stop()
