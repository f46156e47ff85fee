"""Fixtures for the custom resource handler tests.

Every test gets an isolated AWS environment (fake credentials, us-east-1, no profile or endpoint
overrides), handler modules with no cached client, a fake clock that only backoff sleeps advance (each
sleep is recorded in ``sleeps``), and seeded jitter. ``invoke(module, client, event)`` runs the real
entry point, ``index.on_event`` of lambda/custom_resources/, with the event's ``ResourceType`` set to
the module's type and ``client`` injected through the module's ``_client()`` getter. ``shared`` is
lambda/_common/cfn_custom_resource.py, the module every handler module imports; its calls go through
lambda/_common/aws_calls.py, whose ``_sleep``, ``_rng`` and ``_clock`` are patched here (the very module
objects the handlers use).
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.fakes import FakeChimeSdkMediaPipelines, FakeChimeSdkVoice
from tests.support import LAMBDA_ROOT, add_handler_paths, load_handler, use_offline_aws

FUNCTION_ROOT = LAMBDA_ROOT / "custom_resources"
TYPE_MODULES = ("voice_profile_domain", "media_insights_configuration", "streaming_association")

Invoke = Callable[..., dict[str, Any]]


def load(module_name: str) -> ModuleType:
    """A module of lambda/custom_resources/ (or lambda/_common/) as the function imports it: top-level.

    ``index`` is loaded as ``handler_custom_resources``: every function has an index.py.
    """
    if module_name == "index":
        return load_handler("custom_resources")
    add_handler_paths("custom_resources")
    return importlib.import_module(module_name)


def shared_module() -> ModuleType:
    """``cfn_custom_resource`` as the handlers import it (top-level: it is deployed beside index.py)."""
    return load("cfn_custom_resource")


class FakeClock:
    """Monotonic time that only moves when a backoff sleep (or a test) advances it."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class FakeContext:
    """The Lambda context's one method the handlers use, on the fake clock."""

    def __init__(self, clock: FakeClock, remaining_s: float) -> None:
        self._clock = clock
        self._deadline = clock.now + remaining_s

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - self._clock.now) * 1000)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    use_offline_aws(monkeypatch)


@pytest.fixture
def shared() -> ModuleType:
    return shared_module()


@pytest.fixture
def index() -> ModuleType:
    return load("index")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def quiet_handlers(monkeypatch: pytest.MonkeyPatch, sleeps: list[float], clock: FakeClock) -> None:
    """No real sleeping (a sleep advances the fake clock), reproducible jitter, no client left over."""

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += seconds

    # The one backoff sleep, jitter source and clock of every handler in the library.
    calls = load("aws_calls")
    monkeypatch.setattr(calls, "_sleep", sleep)
    monkeypatch.setattr(calls, "_clock", clock)
    monkeypatch.setattr(calls, "_rng", random.Random(1234))
    for name in TYPE_MODULES:
        load(name)._client.cache_clear()


class SmallJitter:
    """Jitter that always picks 1 % of the allowed backoff: many short sleeps fill a budget closely."""

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * 0.01


@pytest.fixture
def small_jitter(monkeypatch: pytest.MonkeyPatch) -> float:
    """Backoff sleeps of 1 % of their maximum; returns the longest such sleep (1 % of the cap)."""
    calls = load("aws_calls")
    monkeypatch.setattr(calls, "_rng", SmallJitter())
    return float(shared_module().BACKOFF_CAP_S) * 0.01


@pytest.fixture
def domain_handler() -> ModuleType:
    return load("voice_profile_domain")


@pytest.fixture
def configuration_handler() -> ModuleType:
    return load("media_insights_configuration")


@pytest.fixture
def association_handler() -> ModuleType:
    return load("streaming_association")


@pytest.fixture
def voice() -> FakeChimeSdkVoice:
    return FakeChimeSdkVoice()


@pytest.fixture
def pipelines() -> FakeChimeSdkMediaPipelines:
    return FakeChimeSdkMediaPipelines()


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Invoke:
    """Run ``index.on_event`` for ``module``'s type; ``remaining_s``: Lambda time left (None: no context)."""

    def run(
        module: ModuleType, client: Any, event: dict[str, Any], *, remaining_s: float | None = 720.0
    ) -> dict[str, Any]:
        monkeypatch.setattr(module, "_client", lambda: client)
        event = {**event, "ResourceType": module.RESOURCE_TYPE}
        context = None if remaining_s is None else FakeContext(clock, remaining_s)
        result: dict[str, Any] = load("index").on_event(event, context)
        return result

    return run
