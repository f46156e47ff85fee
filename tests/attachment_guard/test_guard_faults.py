"""The guard under AWS errors: throttling (429) and server errors (5xx) are retried with backoff inside the
deadline; a read that still fails counts as a failed check (the other connectors are still checked); a
failed repair or a failed event is reported, never raised; the deadline leaves connectors for the next run.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from tests.attachment_guard.conftest import (
    CONFIGURATION_ARN,
    SEARCH_ID,
    VC,
    VC2,
    VC3,
    FakeEvents,
    Run,
    load,
    metric_lines,
    search,
)
from tests.custom_resources.fakes import FakeChimeSdkVoice

GET = "GetVoiceConnectorStreamingConfiguration"
PUT = "PutVoiceConnectorStreamingConfiguration"
DETACHED = {"Disabled": False, "DataRetentionInHours": 24}


def logged(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == message]


@pytest.mark.parametrize(
    "code", ["ThrottledClientException", "ServiceFailureException", "ServiceUnavailableException"]
)
def test_a_throttled_or_failing_read_is_retried_with_backoff(
    run: Run, voice: FakeChimeSdkVoice, sleeps: list[float], code: str
) -> None:
    voice.streaming[VC] = dict(DETACHED)
    voice.fail(GET, code, times=2)
    assert run()["repaired"] == 1
    assert len(sleeps) == 2 and all(0 <= s <= load("guard_check").POLICY.backoff_cap_s for s in sleeps)


@pytest.mark.parametrize("code", ["ThrottledClientException", "ServiceUnavailableException"])
def test_a_throttled_or_failing_write_is_retried_with_the_same_configuration(
    run: Run, voice: FakeChimeSdkVoice, code: str
) -> None:
    voice.streaming[VC] = dict(DETACHED)
    voice.fail(PUT, code, times=2)
    assert run()["repaired"] == 1
    puts = [call for name, call in voice.calls if name == PUT]
    assert len(puts) == 3 and puts[0] == puts[1] == puts[2]


def test_a_read_that_keeps_failing_is_a_failed_check_and_the_next_connector_is_still_checked(
    run: Run,
    configure: Any,
    voice: FakeChimeSdkVoice,
    events: FakeEvents,
    emf: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure(search(vcs=(VC, VC2)))
    voice.fail(GET, "ThrottledClientException", times=load("guard_check").POLICY.max_attempts)
    voice.streaming[VC2] = dict(DETACHED)
    assert run() == {"searchId": SEARCH_ID, "checked": 1, "detached": 1, "repaired": 1, "failed": 1}
    [record] = logged(caplog, "attachment_check_failed")
    assert (record.voiceConnectorId, record.errorCode, record.attempts) == (
        VC,
        "ThrottledClientException",
        load("guard_check").POLICY.max_attempts,
    )
    assert VC not in voice.streaming  # nothing was written for what could not be read
    [line] = metric_lines(emf)
    assert (line["AttachmentCheckFailures"], line["ConfigurationDetached"]) == (1, 1)


@pytest.mark.parametrize("code", ["AccessDeniedException", "ForbiddenException", "BadRequestException"])
def test_a_refused_read_is_not_retried(
    run: Run, voice: FakeChimeSdkVoice, sleeps: list[float], events: FakeEvents, code: str
) -> None:
    voice.fail_always(GET, code)
    assert run()["failed"] == 1
    assert voice.count(GET) == 1 and sleeps == [] and events.entries == []


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "NotFoundException", "BadRequestException", "ThrottledClientException"]
)
def test_a_repair_that_fails_is_reported_with_the_error_code(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents, emf: io.StringIO, code: str
) -> None:
    voice.streaming[VC] = dict(DETACHED)
    voice.fail_always(PUT, code)
    assert run() == {"searchId": SEARCH_ID, "checked": 1, "detached": 1, "repaired": 0, "failed": 0}
    [detail] = events.details()
    assert (detail["repaired"], detail["notRepairedBecause"]) == (False, code)
    [line] = metric_lines(emf)
    assert (line["ConfigurationDetached"], line["ConfigurationRepaired"]) == (1, 0)


def test_a_failed_re_read_after_the_write_is_not_claimed_as_repaired(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents
) -> None:
    voice.streaming[VC] = dict(DETACHED)
    voice.before(PUT, lambda: voice.fail_always(GET, "AccessDeniedException"))
    assert run()["repaired"] == 0
    assert events.details()[0]["notRepairedBecause"] == "AccessDeniedException"


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalFailure"])
def test_a_transient_failed_entry_is_put_again(
    run: Run, voice: FakeChimeSdkVoice, events: FakeEvents, code: str
) -> None:
    voice.streaming[VC] = dict(DETACHED)
    events.failed_entry_codes = [code]
    run()
    assert events.count("PutEvents") == 2 and len(events.entries) == 1


@pytest.mark.parametrize("failure", ["entry", "call"])
def test_an_event_that_cannot_be_published_is_logged_and_still_counted(
    run: Run,
    voice: FakeChimeSdkVoice,
    events: FakeEvents,
    emf: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    voice.streaming[VC] = dict(DETACHED)
    if failure == "entry":
        events.failed_entry_codes = ["AccessDeniedException"]
    else:
        events.fail_always("PutEvents", "AccessDeniedException")
    assert run()["repaired"] == 1  # the repair stands; only the report is lost
    assert events.entries == []
    [record] = logged(caplog, "detached_event_publish_failed")
    assert record.errorCode == "AccessDeniedException"
    assert metric_lines(emf)[0]["ConfigurationDetached"] == 1


def test_the_deadline_leaves_unchecked_connectors_for_the_next_run(
    run: Run,
    configure: Any,
    voice: FakeChimeSdkVoice,
    events: FakeEvents,
    emf: io.StringIO,
    clock: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure(search(vcs=(VC, VC2, VC3)))
    guard = load("index")
    attempt = load("guard_check").POLICY.attempt_cost_s
    # The first read takes all of the invocation's time but the report's reserve and half an attempt:
    # no other read can start, and what the first found is still published.
    remaining = 60.0

    def slow_read() -> None:
        clock.now += remaining - guard.SAFETY_MARGIN_S - guard.REPORT_RESERVE_S - attempt / 2

    voice.before(GET, slow_read)
    assert run(remaining_s=remaining) == {
        "searchId": SEARCH_ID,
        "checked": 1,
        "detached": 1,
        "repaired": 0,
        "failed": 2,
    }
    # The first connector's repair found no time to re-read before writing: nothing was written.
    assert voice.count(PUT) == 0
    assert events.details()[0]["notRepairedBecause"] == "DeadlineExceeded"
    [record] = logged(caplog, "guard_out_of_time")
    assert record.unchecked == [VC2, VC3]
    assert {call["VoiceConnectorId"] for _, call in voice.calls} == {VC}
    assert metric_lines(emf)[0]["AttachmentCheckFailures"] == 2


def test_a_continuously_throttled_connector_does_not_take_the_others_time(
    run: Run, configure: Any, voice: FakeChimeSdkVoice, clock: Any
) -> None:
    configure(search(vcs=(VC, VC2)))
    for vc in (VC, VC2):
        voice.streaming[vc] = {
            "Disabled": False,
            "DataRetentionInHours": 24,
            "StreamingNotificationTargets": [{"NotificationTarget": "EventBridge"}],
            "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": CONFIGURATION_ARN},
        }
    started = clock.now
    voice.fail(GET, "ThrottledClientException", times=load("guard_check").POLICY.max_attempts)
    result = run()
    assert (result["checked"], result["failed"]) == (1, 1)
    budget = load("index").CONNECTOR_BUDGET_S
    assert clock.now - started <= budget  # the first connector's retries stayed inside its budget


@pytest.mark.parametrize(("spare_s", "checked"), [(0.0, 1), (-0.001, 0)], ids=["at-the-edge", "just-below"])
def test_a_check_starts_only_with_time_for_a_read_and_its_report(
    run: Run, voice: FakeChimeSdkVoice, spare_s: float, checked: int
) -> None:
    guard = load("index")
    voice.streaming[VC] = dict(DETACHED)
    result = run(remaining_s=guard.SAFETY_MARGIN_S + 2 * guard.REPORT_RESERVE_S + spare_s)
    assert (result["checked"], result["failed"]) == (checked, 1 - checked)
    assert (voice.count(GET) > 0) is bool(checked)
