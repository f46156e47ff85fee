"""Fixtures for the attachment guard's tests (lambda/attachment_guard/).

Each test gets offline boto3, the guard's modules loaded as Lambda loads them (top-level, beside
``aws_calls`` and ``streaming_settings``), a fake clock that only backoff sleeps advance, seeded jitter,
and ``run(event)``: the real entry point with its clients replaced by stateful fakes. ``voice`` is the
custom-resource tests' fake of chime-sdk-voice (streaming configurations, model-validated requests, fault
injection, hooks for another writer's moves); ``events`` is a fake EventBridge PutEvents (below).
``GUARD_SEARCHES`` holds the searches the test sets with ``configure`` (default: :func:`search`).
"""

from __future__ import annotations

import importlib
import io
import json
import random
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.conftest import FakeClock, FakeContext
from tests.custom_resources.fakes import FakeChimeSdkMediaPipelines, FakeChimeSdkVoice, FakeService
from tests.support import add_handler_paths, load_handler, use_offline_aws

#: searchIds are the construct's node address: "c8" and 40 hex characters.
SEARCH_ID = "c8" + "1" * 40
OTHER_SEARCH_ID = "c8" + "2" * 40
CONFIGURATION_ARN = FakeChimeSdkMediaPipelines.arn("telephony-SpeakerSearch-Configuration")
OTHER_CONFIGURATION_ARN = FakeChimeSdkMediaPipelines.arn("contact-centre-transcription")
VC, VC2, VC3 = "abcdef1ghij2klmno3pqr4", "bcdefg1ghij2klmno3pqr5", "cdefgh1ghij2klmno3pqr6"
BUS = "telephony-bus"
#: The guard's timeout (attachment_guard.GUARD_TIMEOUT).
FUNCTION_TIMEOUT_S = 120.0


#: GUARD_SEARCHES' prefix: the ARN of the account's and Region's configurations up to the name.
PREFIX = CONFIGURATION_ARN.rsplit("/", 1)[0] + "/"


def search(
    search_id: str = SEARCH_ID,
    *,
    vcs: tuple[str, ...] = (VC,),
    repair: bool = True,
    hours: int | str = 24,
    arn: str = CONFIGURATION_ARN,
    bus: str = BUS,
) -> dict[str, Any]:
    """One item of GUARD_SEARCHES' searches, as the construct writes it (``arn``: PREFIX + its name)."""
    assert arn.startswith(PREFIX)
    name = arn.removeprefix(PREFIX)
    return {"id": search_id, "bus": bus, "name": name, "hours": hours, "repair": repair, "vcs": list(vcs)}


def environment(*searches: dict[str, Any]) -> str:
    """GUARD_SEARCHES with ``searches``."""
    return json.dumps({"prefix": PREFIX, "searches": list(searches)})


def load(module_name: str) -> ModuleType:
    """A module of lambda/attachment_guard/ (or lambda/_common/) as the function imports it."""
    if module_name == "index":
        return load_handler("attachment_guard")
    add_handler_paths("attachment_guard")
    return importlib.import_module(module_name)


class FakeEvents(FakeService):
    """EventBridge PutEvents: model-validated requests, the entries put, failed entries on request."""

    SERVICE = "events"
    MUTATING = frozenset({"PutEvents"})

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[dict[str, Any]] = []
        self.failed_entry_codes: list[str] = []  # the next entries fail with these codes, in order

    def put_events(self, **kwargs: Any) -> dict[str, Any]:
        self._enter("PutEvents", kwargs)
        results, failed = [], 0
        for entry in kwargs["Entries"]:
            if self.failed_entry_codes:
                results.append({"ErrorCode": self.failed_entry_codes.pop(0), "ErrorMessage": "fake"})
                failed += 1
            else:
                self.entries.append(entry)
                results.append({"EventId": f"event-{len(self.entries)}"})
        return {"FailedEntryCount": failed, "Entries": results}

    def details(self) -> list[dict[str, Any]]:
        return [json.loads(entry["Detail"]) for entry in self.entries]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch, clock: FakeClock, sleeps: list[float]) -> Iterator[ModuleType]:
    """The guard's index, offline, on the fake clock, with no cached searches or clients."""
    use_offline_aws(monkeypatch)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += seconds

    calls = load("aws_calls")
    monkeypatch.setattr(calls, "_sleep", sleep)
    monkeypatch.setattr(calls, "_clock", clock)
    monkeypatch.setattr(calls, "_rng", random.Random(1234))
    index = load("index")
    index.reset_for_tests()
    yield index
    load("guard_searches").reset()  # the clients may be patched by now: only the searches


@pytest.fixture
def voice() -> FakeChimeSdkVoice:
    fake = FakeChimeSdkVoice()
    fake.connectors.update({VC, VC2, VC3})
    return fake


@pytest.fixture
def events() -> FakeEvents:
    return FakeEvents()


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Where the guard's EMF lines go."""
    out = io.StringIO()
    monkeypatch.setattr(load("guard_report"), "out", out)
    return out


def metric_lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line]


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch, guard: ModuleType) -> Callable[..., None]:
    """Set GUARD_SEARCHES to ``searches`` (items of :func:`search`) or to a raw string."""

    def set_searches(*searches: dict[str, Any], raw: str | None = None) -> None:
        monkeypatch.setenv("GUARD_SEARCHES", raw if raw is not None else environment(*searches))
        load("guard_searches").reset()

    return set_searches


Run = Callable[..., dict[str, Any]]


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch,
    guard: ModuleType,
    voice: FakeChimeSdkVoice,
    events: FakeEvents,
    clock: FakeClock,
    emf: io.StringIO,
    configure: Callable[..., None],
) -> Run:
    """Invoke the guard with ``event`` (default: the scheduled input for SEARCH_ID) and the fakes."""
    configure(search())
    monkeypatch.setattr(guard, "_voice", lambda: voice)
    monkeypatch.setattr(guard, "_events", lambda: events)

    def invoke(event: Any = None, *, remaining_s: float | None = FUNCTION_TIMEOUT_S) -> dict[str, Any]:
        payload = {"searchId": SEARCH_ID} if event is None else event
        context = None if remaining_s is None else FakeContext(clock, remaining_s)
        result: dict[str, Any] = guard.handler(payload, context)
        return result

    return invoke
