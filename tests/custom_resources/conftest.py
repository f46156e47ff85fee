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
from typing import Any, NamedTuple

import pytest

from tests.custom_resources.fakes import (
    SERVED_CONNECTORS,
    STACK_ID,
    FakeChimeSdkMediaPipelines,
    FakeChimeSdkVoice,
)
from tests.support import LAMBDA_ROOT, add_handler_paths, load_handler, use_offline_aws

FUNCTION_ROOT = LAMBDA_ROOT / "custom_resources"
TYPE_MODULES = ("voice_profile_domain", "media_insights_configuration", "streaming_association")

Invoke = Callable[..., dict[str, Any]]
#: The key of every on_event answer that the framework passes to isComplete (cfn_custom_resource).
COMPLETION_KEY = "ChimeSpeakerSearchCompletion"
#: The construct's Provider: isComplete every 30 s, at most 100 retries (50 minutes), see _shared.py.
QUERY_INTERVAL_S = 30.0
MAX_ATTEMPTS = 100


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
    """Offline boto3, the function's own stack and the connectors its template's associations name
    (the construct sets STACK_ID and VOICE_CONNECTOR_IDS)."""
    use_offline_aws(monkeypatch, {"STACK_ID": STACK_ID, "VOICE_CONNECTOR_IDS": ",".join(SERVED_CONNECTORS)})


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
    # A configuration delete's wait spans invocations on the wall clock: the same fake clock.
    monkeypatch.setattr(load("media_insights_configuration"), "_wall_clock", clock)
    for name in TYPE_MODULES:
        load(name)._client.cache_clear()
    load("streaming_association")._configuration_client.cache_clear()


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
def pipelines(clock: FakeClock) -> FakeChimeSdkMediaPipelines:
    return FakeChimeSdkMediaPipelines(clock)


#: The Lambda time left of an invocation in the tests: the construct's on_event timeout.
FUNCTION_TIMEOUT_S = 180.0


@pytest.fixture
def invoke(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock, pipelines: FakeChimeSdkMediaPipelines
) -> Invoke:
    """Run ``index.on_event`` for ``module``'s type; ``remaining_s``: Lambda time left (None: no context).

    The answer is returned without ``COMPLETION_KEY`` when that is ``{}`` (nothing awaited), as the
    framework would reduce it for CloudFormation; ``raw=True`` returns it as on_event gave it. A streaming
    association reads configuration tags from ``pipelines``, or from ``configuration_client``.
    """

    def run(
        module: ModuleType,
        client: Any,
        event: dict[str, Any],
        *,
        remaining_s: float | None = FUNCTION_TIMEOUT_S,
        raw: bool = False,
        configuration_client: Any = None,
    ) -> dict[str, Any]:
        monkeypatch.setattr(module, "_client", lambda: client)
        if hasattr(module, "_configuration_client"):
            tags_client = pipelines if configuration_client is None else configuration_client
            monkeypatch.setattr(module, "_configuration_client", lambda: tags_client)
        event = {**event, "ResourceType": module.RESOURCE_TYPE}
        context = None if remaining_s is None else FakeContext(clock, remaining_s)
        result: dict[str, Any] = load("index").on_event(event, context)
        if not raw and result.get(COMPLETION_KEY) == {}:
            result = {k: v for k, v in result.items() if k != COMPLETION_KEY}
        return result

    return run


class Outcome(NamedTuple):
    """What the Provider framework reports to CloudFormation, and when (on the fake clock)."""

    status: str  # "SUCCESS" | "FAILED"
    reason: str
    response: dict[str, Any]
    checks: int  # isComplete calls
    elapsed_s: float


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch, clock: FakeClock, pipelines: FakeChimeSdkMediaPipelines) -> Any:
    """The Provider framework around ``index.on_event`` (aws-cdk-lib 2.275, runtime/framework.js and the
    waiter state machine), on the fake clock: onEvent, then isComplete at once and every ``interval_s``
    after a "not complete", at most ``max_attempts`` retries, then the timeout handler's FAILED."""

    def run(
        module: ModuleType,
        client: Any,
        event: dict[str, Any],
        *,
        interval_s: float = QUERY_INTERVAL_S,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> Outcome:
        monkeypatch.setattr(module, "_client", lambda: client)
        if hasattr(module, "_configuration_client"):
            monkeypatch.setattr(module, "_configuration_client", lambda: pipelines)
        index = load("index")
        request = {**event, "ResourceType": module.RESOURCE_TYPE}
        started = clock.now
        try:
            answer = index.on_event(request, FakeContext(clock, FUNCTION_TIMEOUT_S))
        except Exception as exc:  # the framework reports the error as FAILED
            return Outcome("FAILED", str(exc), {}, 0, clock.now - started)
        physical_id = answer.get("PhysicalResourceId") or request.get("PhysicalResourceId")
        if request["RequestType"] == "Delete" and physical_id != request.get("PhysicalResourceId"):
            return Outcome("FAILED", "DELETE: cannot change the physical resource ID", {}, 0, 0.0)
        merged = {**request, **answer, "PhysicalResourceId": physical_id}
        for check in range(max_attempts + 1):
            try:
                result = index.on_event(merged, FakeContext(clock, FUNCTION_TIMEOUT_S))
            except Exception as exc:
                return Outcome("FAILED", str(exc), {}, check + 1, clock.now - started)
            if result.get("IsComplete"):
                response = {**merged, **result, "Data": {**merged.get("Data", {}), **result.get("Data", {})}}
                return Outcome("SUCCESS", "", response, check + 1, clock.now - started)
            if result.get("Data"):
                return Outcome(
                    "FAILED", '"Data" is not allowed if "IsComplete" is "False"', {}, check + 1, 0.0
                )
            if check < max_attempts:
                clock.now += interval_s
        return Outcome("FAILED", "Operation timed out", {}, max_attempts + 1, clock.now - started)

    return run
